"""One logged-in subscriber: its apps, where each stands, its bounded outbox.

Each subscribed app has a ``Stream``: ``last``, the version last queued to the client
(None until its first push or sync), and ``pending``, the live events held while the
stream is being positioned (a sync or a replay reads the log; whatever arrives
meanwhile waits there, and is sent after, without what was already sent). A push
whose version is not ``last + 1`` is never sent as it is: an older one is a duplicate
(dropped), a newer one means something was missed, and the gap is read from the log.

Nothing waits on a slow subscriber: live pushes go to the outbox without waiting, and
a full outbox (``queue`` frames) closes the connection with ``CLOSE_TOO_SLOW``; the
client resumes with ``from_version``. Replies wait for the client instead, and are
bounded in characters too (``outbox.MAX_WAITED_CHARS``): a client asking for big
snapshots without reading them holds at most that much.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from hstgw.egw import protocol as p
from hstgw.egw.frames import dumps, reply
from hstgw.egw.outbox import Outbox
from hstgw.egw.service import EventGatewayService
from hstgw.errors import Code
from hstgw.events.model import Event

__all__ = ["Session", "Stream"]

log = logging.getLogger("hstgw.egw")

# Events read from the log per call while replaying or filling a gap.
BATCH = 256


class Stream:
    __slots__ = ("last", "pending")

    def __init__(self) -> None:
        self.last: int | None = None
        self.pending: list[Event] | None = None


class Session:
    __slots__ = (
        "_catching_up",
        "_close",
        "_queue",
        "_service",
        "address",
        "dev_id",
        "ended",
        "lock",
        "outbox",
        "streams",
        "token",
    )

    def __init__(
        self,
        service: EventGatewayService,
        dev_id: str,
        token: str,
        queue: int,
        close: Callable[[int, str], None],
        address: str = "",
    ) -> None:
        self._service = service
        self.address = address  # the client's, for the failed-authentication limit
        self.dev_id = dev_id
        self.token = token
        self._queue = queue
        self.outbox = Outbox(queue)
        self._close = close
        self.lock = asyncio.Lock()  # one positioning (sync, replay, gap) at a time
        self._catching_up: set[asyncio.Task[None]] = set()
        self.streams: dict[str, Stream] = {}
        self.ended = False

    # sending

    def send_now(self, text: str) -> bool:
        """Queue ``text`` without waiting; a full outbox ends the session as too slow."""
        if self.ended:
            return False
        try:
            self.outbox.put_nowait(text)
        except asyncio.QueueFull:
            self.end(p.CLOSE_TOO_SLOW, "too slow to read: resume with from_version")
            return False
        return True

    async def send(self, text: str) -> None:
        """Queue ``text``, waiting for room (replies, replays: the client's own pace)."""
        if not self.ended:
            await self.outbox.put_waiting(text)

    def end(self, code: int, reason: str) -> None:
        if self.ended:
            return
        self.ended = True
        self.streams.clear()
        for task in self._catching_up:
            task.cancel()
        self._close(code, reason)

    # live events

    def offer(self, event: Event, text: str) -> None:
        """A live event of a subscribed app (``text``: its push, written once for all)."""
        st = self.streams.get(event.app_id)
        if st is None or self.ended:
            return
        if st.pending is not None:
            if len(st.pending) >= self._queue:
                self.end(p.CLOSE_TOO_SLOW, "too slow to read: resume with from_version")
            else:
                st.pending.append(event)
            return
        last = st.last
        if last is not None:
            if event.version <= last:
                return  # sent already (a replay or a sync covered it)
            if event.version > last + 1:
                st.pending = [event]  # something was missed: read it from the log
                task = asyncio.get_running_loop().create_task(self._catch_up(event.app_id, st))
                self._catching_up.add(task)
                task.add_done_callback(self._catching_up.discard)
                return
        if self.send_now(text):
            st.last = event.version

    async def _catch_up(self, app_id: str, st: Stream) -> None:
        async with self.lock:
            if self.streams.get(app_id) is not st or st.pending is None or st.last is None:
                return
            try:
                if not await self.position(app_id, st, st.last, None):
                    self.end(p.CLOSE_TOO_SLOW, "events missed are no longer retained: sync")
            except Exception:
                log.exception("filling a gap failed", extra={"app_id": app_id})
                self.end(p.CLOSE_TOO_SLOW, "events missed could not be read: resume")

    # positioning

    def hold(self, app_id: str) -> Stream:
        """The app's stream (made if need be), holding its live events from now on."""
        st = self.streams.get(app_id)
        if st is None:
            st = self.streams[app_id] = Stream()
        if st.pending is None:
            st.pending = []
        return st

    def unhold(self, app_id: str, st: Stream) -> None:
        """A positioning that failed (the store away): the held events go on as live
        ones (a gap among them is read from the log, as always)."""
        held, st.pending = st.pending or [], None
        for event in held:
            self.offer(event, dumps(event.push()))

    def release(self, app_id: str, st: Stream) -> None:
        """Stop holding (a sync of an app not subscribed: no stream to keep)."""
        if self.streams.get(app_id) is st:
            del self.streams[app_id]

    async def position(
        self, app_id: str, st: Stream, start: int, first: list[Event] | None
    ) -> bool:
        """Send the app's events after ``start`` (``first``: already read) and then those
        held, until the stream is live again with nothing missed and nothing twice.
        False: events after ``start`` are no longer retained (the caller syncs)."""
        last = start
        batch = first
        idle = 0  # reads that brought nothing new while held events wait for a gap
        while True:
            if batch is None:
                batch = await self._service.after(app_id, last, BATCH)
                if batch is None:
                    return False
            before = last
            for event in batch:
                if event.version == last + 1:
                    await self.send(dumps(event.push()))
                    last = event.version
            if self.streams.get(app_id) is not st or self.ended:
                return True  # unsubscribed or gone meanwhile
            full = len(batch) >= BATCH
            batch = None
            if full:
                continue
            # Caught up with the log: what was held meanwhile follows without a gap,
            # or else the log is read again. (No await from here to the end.)
            held = [e for e in st.pending or () if e.version > last]
            if any(e.version != last + 1 + i for i, e in enumerate(held)):
                idle = idle + 1 if last == before else 0
                if idle > 3:  # the log does not have what was held: it cannot be true
                    return False
                continue
            for event in held:
                if not self.send_now(dumps(event.push())):
                    return True
                last = event.version
            st.last = last
            st.pending = None
            return True

    async def sync_reply(self, app_id: str, seq: Any, group_ids: list[str] | None) -> int:
        """Send the app's 20009 (a full sync); the version it reflects."""
        snap = await self._service.snapshot(self.dev_id, app_id, group_ids)
        extra: dict[str, Any] = {"app_id": app_id, "version": snap.version}
        if seq is not None:
            extra["seq"] = seq
        extra["group_list"] = snap.group_list
        await self.send(reply(p.SYNC_REPLY, Code.OK, **extra))
        return snap.version

    async def close_tasks(self) -> None:
        for task in list(self._catching_up):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
