"""The event log: producers append, readers read and listen (``EventFeed``).

An append is durable before anyone hears of it: the store assigns each app's next
versions and updates the groups in one transaction, and only after its commit does
the log tell this node's listeners (``Fanout``) and the other nodes (``Relay``).

Appends are committed in groups: while one transaction is under way, the appends
that arrive queue, and the next transaction takes them all (at most ``_MAX_BATCH``
entries), so the log's rate is bounded by transactions per second times the batch,
not by one commit per event.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from hstgw.events.fanout import Fanout
from hstgw.events.model import Entry, Event, EventId, GroupSnapshot, Refusal, Unsubscribe
from hstgw.ids import now_ms
from hstgw.store.eventplan import GroupLimits
from hstgw.store.protocols import EventStore
from hstgw.tasks import Background

__all__ = ["EventLog", "GroupLimits", "LocalRelay", "Relay"]

log = logging.getLogger("hstgw.events")

_MAX_BATCH = 2000
_Pending = tuple[str, list[Entry], "asyncio.Future[list[Event | Refusal]]"]


class Relay(Protocol):
    """How the other nodes hear of this node's events, and this node of theirs."""

    def attach(self, fanout: Fanout) -> None:
        """Hand the other nodes' events to ``fanout`` from now on."""

    def published(self, events: list[Event]) -> None:
        """This node committed ``events``: tell the others (without waiting)."""


class LocalRelay:
    """One node alone: nobody else to tell or hear."""

    def attach(self, fanout: Fanout) -> None:
        pass

    def published(self, events: list[Event]) -> None:
        pass


class EventLog:
    """``node``: this gateway node (memberships record it; a dead node's are left for it)."""

    def __init__(
        self,
        store: EventStore,
        limits: GroupLimits,
        *,
        node: str = "",
        relay: Relay | None = None,
        retention_s: int = 7 * 86400,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._store = store
        self.limits = limits
        self.node = node
        self._relay = relay or LocalRelay()
        self._retention_ms = retention_s * 1000
        self._clock = clock
        self._tasks = Background(lambda exc: log.warning("event log task failed: %s", exc))
        self._fanout = Fanout(store.events_after, self._tasks)
        self._queue: collections.deque[_Pending] = collections.deque()
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Hear the other nodes, from the versions in the store now; leave the groups a
        previous run of this node left behind (a crash, a kill)."""
        self._relay.attach(self._fanout)
        self._fanout.start(await self._store.event_heads(0))
        await self.leave_node(self.node)

    async def stop(self) -> None:
        """Commit what is queued (a clean stop loses no event)."""
        if self._flusher is not None:
            await asyncio.shield(self._flusher)
        await self._tasks.wait()

    # producers

    def submit(self, app_id: str, entries: list[Entry]) -> asyncio.Future[list[Event | Refusal]]:
        """Queue ``entries`` at once (in call order) and return their answers' future."""
        fut: asyncio.Future[list[Event | Refusal]] = asyncio.get_running_loop().create_future()
        self._queue.append((app_id, entries, fut))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return fut

    async def append(self, app_id: str, entries: list[Entry]) -> list[Event | Refusal]:
        """Each entry's event, once durable (and told to the listeners), or why not."""
        return await self.submit(app_id, entries)

    def post(self, app_id: str, entries: list[Entry]) -> None:
        """Append without waiting: for what no caller answers for (a failure is logged)."""
        fut = self.submit(app_id, entries)
        fut.add_done_callback(_log_failure)

    async def leave_node(self, node: str) -> int:
        """Every membership held on ``node`` left (its media stopped): the node is gone."""
        by_app: dict[str, list[Entry]] = collections.defaultdict(list)
        for app_id, group_id, user_id, holder in await self._store.members_of_node(node):
            body = {"group_id": group_id, "user_id": user_id}
            by_app[app_id].append(Entry(EventId.USER_LEFT, body, holder=holder, node=node))
        results = await asyncio.gather(*(self.append(a, e) for a, e in by_app.items()))
        return sum(isinstance(r, Event) for rs in results for r in rs)

    async def _flush(self) -> None:
        queue = self._queue
        while queue:
            taken: list[_Pending] = []
            size = 0
            while queue and (not taken or size + len(queue[0][1]) <= _MAX_BATCH):
                item = queue.popleft()
                taken.append(item)
                size += len(item[1])
            try:
                plan = await self._store.append_events(
                    [(app_id, entries) for app_id, entries, _ in taken],
                    self.limits,
                    self._clock(),
                )
            except Exception as exc:
                for _, _, fut in taken:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            if plan.events:
                self._fanout.offer(plan.events)
                self._relay.published(plan.events)
            for (_, _, fut), results in zip(taken, plan.results, strict=True):
                if not fut.done():
                    fut.set_result(results)

    # readers (EventFeed)

    async def version(self, app_id: str) -> int:
        return await self._store.event_version(app_id)

    async def after(self, app_id: str, version: int, limit: int) -> list[Event] | None:
        return await self._store.events_after(app_id, version, limit)

    async def snapshot(self, app_id: str, group_ids: Sequence[str] | None) -> GroupSnapshot:
        return await self._store.group_snapshot(
            app_id, list(group_ids) if group_ids is not None else None
        )

    def heard(self, app_id: str) -> int:
        return self._fanout.heard(app_id)

    def listen(self, listener: Callable[[Event], None]) -> Unsubscribe:
        return self._fanout.listen(listener)

    # upkeep

    async def catch_up(self, since: int) -> None:
        """Read the versions that moved since ``since`` (ms) and fetch what this node has
        not heard: broadcasts may be lost (a node that died after its commit, Redis away)."""
        for app_id, version in (await self._store.event_heads(since)).items():
            self._fanout.reached(app_id, version)

    async def prune(self) -> int:
        """Forget events older than the retention."""
        return await self._store.prune_events(self._clock() - self._retention_ms)


def _log_failure(fut: asyncio.Future[list[Event | Refusal]]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.warning("event not appended: %s", fut.exception())
