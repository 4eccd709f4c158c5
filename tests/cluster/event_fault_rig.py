"""What the event fault tests share: terminals producing events without pause;
subscribers (the SDK's ``AsyncClient.events``, and the event gateway spoken by hand)
keeping every version they handled, in order; a webhook receiver; and the checks:
``settle`` brings the app to rest and waits for everyone to reach its last version,
``assert_whole`` and ``once_each`` find gaps and duplicates."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from hstgw.sdk import AsyncClient
from hstgw.settings import Settings
from hstgw.store import open_store
from tests.cluster.conftest import REDIS_URL
from tests.conftest import Gateway, free_port
from tests.online.conftest import OnlineApp, Raw, raw_login
from tests.waiting import eventually
from tests.webhooks.conftest import Receiver

__all__ = [
    "Producers",
    "RawSubscriber",
    "SdkSubscriber",
    "Seen",
    "assert_continues",
    "assert_whole",
    "close_all",
    "delivery",
    "head",
    "offline",
    "once_each",
    "receiving",
    "redis_answers",
    "settle",
    "terminals",
]

# Between two requests a producer waits this long for its stop: ~30 events/s each.
PACE_S = 0.03
REPLY_S = 5.0
PUSH_IDS = frozenset({20100, 20101, 20102, 20103, 20104, 20900, 20901, 20902, 20903})


class Producers:
    """Terminals that join and leave a group of their own over and over until stopped
    (then outside it); each reply kept as (user, kind, code, version or None)."""

    def __init__(self, terminals: dict[str, Raw]) -> None:
        self.replies: list[tuple[str, str, int, int | None]] = []
        self._stop = asyncio.Event()
        self._tasks = [asyncio.create_task(self._run(u, t)) for u, t in terminals.items()]

    def ok(self) -> int:
        return sum(r[2] == 0 for r in self.replies)

    def failed(self) -> list[tuple[str, str, int, int | None]]:
        return [r for r in self.replies if r[2] != 0]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _run(self, user: str, t: Raw) -> None:
        inside = False
        seq = 100
        # (once stopped, one leave more if it is in its group: it ends outside it)
        while not self._stop.is_set() or inside:
            seq += 1
            kind = "leave_group" if inside else "join_group"
            try:
                await t.send({"type": kind, "seq": seq, "group_id": f"room-{user}"})
                r = await _reply(t, f"{kind}_result", seq)
            except TimeoutError:
                self.replies.append((user, kind, -1, None))
                continue
            except ConnectionClosed:
                self.replies.append((user, kind, -2, None))
                return
            self.replies.append((user, kind, r["code"], r.get("version")))
            if r["code"] == 0:
                inside = not inside
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), PACE_S)


async def _reply(t: Raw, kind: str, seq: int) -> dict[str, Any]:
    """The reply to request ``seq`` (a late reply to an earlier one is skipped)."""
    while True:
        frame = await t.recv(REPLY_S)
        if frame.get("type") == kind and frame.get("seq") == seq:
            return frame


class Seen:
    """What a subscriber handled, in order: ("sync", version) for a snapshot or the start
    of a replay, ("push", version) for an event; each with when it came (monotonic)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, int]] = []
        self.times: list[float] = []
        self.pushes: list[dict[str, Any]] = []

    def add(self, kind: str, version: int, message: dict[str, Any]) -> None:
        self.items.append((kind, version))
        self.times.append(time.monotonic())
        if kind == "push":
            self.pushes.append(message)

    @property
    def last(self) -> int:
        return self.items[-1][1] if self.items else -1

    def faults(self) -> list[tuple[int, int]]:
        """(previous, next) of each gap or duplicate: a push must be the version after
        the one before it; a sync may not go back."""
        bad = []
        last: int | None = None
        for kind, version in self.items:
            if last is not None and (version < last if kind == "sync" else version != last + 1):
                bad.append((last, version))
            last = version
        return bad

    def first_after(self, moment: float) -> float:
        """Seconds from ``moment`` to the first push handled after it."""
        for (kind, _), at in zip(self.items, self.times, strict=True):
            if kind == "push" and at > moment:
                return at - moment
        return math.inf


class SdkSubscriber:
    """``client.events([app_id])`` in a task of its own."""

    def __init__(self, client: AsyncClient, app_id: str) -> None:
        self.seen = Seen()
        self.snapshots = 0
        self._stream: AsyncIterator[dict[str, Any]] = client.events([app_id])
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for event in self._stream:
            if event["id"] == 20009:
                self.snapshots += 1
                self.seen.add("sync", event["version"], event)
            else:
                self.seen.add("push", event["version"], event)

    async def close(self) -> None:
        if self._task.done():
            self._task.result()  # (it ended by itself: why)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class RawSubscriber:
    """The event gateway by hand, as a backend without the SDK does: log in, ask for
    the events after the last version it handled (a 20008 with ``from_version``, 0 at
    first: a replay, then live), read; when the connection ends, the same on the first
    of ``urls`` that answers. Nothing here hides a gap or a duplicate: every push is
    kept as it came. A refused login drops the shared access token (the gateway said it
    ended); a 20009 other than a replay counts in ``resyncs``; any other frame not a
    push is kept in ``odd``."""

    def __init__(self, client: AsyncClient, app_id: str, urls: list[str]) -> None:
        self.seen = Seen()
        self.urls = urls
        self.connections = 0
        self.resyncs = 0
        self.odd: list[dict[str, Any]] = []
        self._client = client
        self._app_id = app_id
        self._last = 0
        # tries again every 20 ms (eventually's poll) for as long as the test lasts
        self._task = asyncio.create_task(eventually(self._attempt, math.inf))

    async def _attempt(self) -> bool:
        for url in self.urls:
            with contextlib.suppress(OSError, TimeoutError, WebSocketException):
                await self._session(url)
        return False

    def _frame(self, id: int, **fields: Any) -> str:
        return json.dumps({"business": "EGW", "id": id, **fields})

    async def _session(self, url: str) -> None:
        token = await self._client.get_access_token()
        async with connect(url, compression=None, open_timeout=2) as conn:
            await conn.send(self._frame(20000, dev_id=self._client.dev_id, token=token))
            login = json.loads(await asyncio.wait_for(conn.recv(), REPLY_S))
            if login.get("result") != 0:
                self._client._tokens.invalidate(token)
                return
            self.connections += 1
            app = {"app_id": self._app_id, "from_version": self._last}
            await conn.send(self._frame(20008, seq="r", app_list=[app]))
            async for raw in conn:
                m = json.loads(raw)
                if m.get("id") == 20009 and m.get("result") == 0:
                    self.resyncs += not m.get("replay")
                    self.seen.add("sync", m["version"], m)
                elif m.get("id") in PUSH_IDS:
                    self.seen.add("push", m["version"], m)
                else:
                    self.odd.append(m)
                    if m.get("id") in (20003, 20009):  # the token ended; busy: again
                        self._client._tokens.invalidate(token)
                        return
                self._last = self.seen.last

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def head(settings: Settings, app_id: str) -> int:
    """The app's latest version, read from the store."""
    store = open_store(settings)
    await store.open()
    try:
        return await store.event_version(app_id)
    finally:
        await store.close()


def once_each(versions: list[int]) -> tuple[list[int], int]:
    """An acknowledged sequence with its repeats dropped; and how many were dropped.

    At least once: deliveries acknowledged but not yet written down when the store
    went away are sent again (webhooks/recorder.py), so a repeat goes back at most one
    write's worth (100) and replays from there, in order."""
    kept: list[int] = []
    repeats = 0
    for i, v in enumerate(versions):
        if kept and v <= kept[-1]:
            assert kept[-1] - v < 100, (v, kept[-1])  # not older than one write
            assert v <= versions[i - 1] + 1, versions[i - 1 : i + 1]  # a replay skips none
            repeats += 1
        else:
            kept.append(v)
    return kept, repeats


async def terminals(app: OnlineApp, names: list[str]) -> dict[str, Raw]:
    out = {}
    for name in names:
        t, reply = await raw_login(app, name, client_guid=f"{name}-1")
        assert reply["code"] == 0, reply
        out[name] = t
    return out


async def close_all(*groups: dict[str, Raw]) -> None:
    for group in groups:
        for t in group.values():
            await t.close()


async def settle(
    settings: Settings,
    app_id: str,
    producers: Producers,
    makers: dict[str, Raw],
    seen: list[Seen],
    receiver: Receiver | None = None,
) -> int:
    """Stop the producers and close their terminals; once every subscriber (and the
    receiver) heard each go offline (20901: nothing of the app happens after it), the
    app's last version, which they all reach."""
    await producers.stop()
    await close_all(makers)

    def all_offline() -> bool:
        heard = [s.pushes for s in seen]
        if receiver is not None:
            heard.append([r.json for r in receiver.received])
        return all(offline(pushes, set(makers)) for pushes in heard)

    assert await eventually(all_offline, 30), [s.last for s in seen]
    final = await head(settings, app_id)

    def reached() -> bool:
        done = all(s.last == final for s in seen)
        return done and (receiver is None or receiver.versions()[-1:] == [final])

    assert await eventually(reached, 30), ([s.last for s in seen], final)
    return final


def offline(pushes: list[dict[str, Any]], users: set[str]) -> bool:
    return users <= {e["user_id"] for e in pushes if e["id"] == 20901}


def assert_whole(seen: Seen, last: int, start: int | None = 0) -> None:
    """Every version from ``start`` + 1 (None: the first snapshot's + 1) to ``last``,
    once each, in order."""
    assert seen.faults() == [], seen.faults()[:10]
    if start is None:
        start = seen.items[0][1]
    assert seen.items[0] == ("sync", start), seen.items[:3]
    assert [v for k, v in seen.items if k == "push"] == list(range(start + 1, last + 1))


def assert_continues(seen: Seen, last: int) -> None:
    """No gap, no duplicate up to ``last``; a snapshot (a resync) may move it on."""
    assert seen.faults() == [], seen.faults()[:10]
    assert seen.last == last


def delivery(gw: Gateway, token: str, webhook_id: str, delivery_id: str) -> dict[str, Any]:
    """One delivery's row in the endpoint's log (paged through, newest first)."""
    for page in range(1, 1000):
        params = {"webhook_id": webhook_id, "page": page, "page_size": 100}
        got = gw.call("GET", "/v1/webhooks/deliveries", token, params=params)["result"]
        for row in got["deliveries"]:
            if row["delivery_id"] == delivery_id:
                return dict(row)
        if not got["deliveries"]:
            break
    raise AssertionError(f"no delivery {delivery_id}")


def redis_answers() -> bool:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
    finally:
        client.close()


@contextmanager
def receiving() -> Iterator[Receiver]:
    """A webhook receiver on a free port of 127.0.0.1, stopped at the end."""
    receiver = Receiver(free_port())
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
