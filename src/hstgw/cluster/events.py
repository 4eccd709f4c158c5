"""The event log across nodes: each node's commits broadcast, the others' heard.

A broadcast carries the events themselves when they are few (the others tell their
listeners without a read), else only each app's version reached (they read the
store). Pub/sub may lose a broadcast (Redis away, a node dead between its commit and
its publish): after a resubscription, and at every housekeeping tick for the
versions that moved lately, the node compares the store's versions with what it has
heard and reads the difference (``Fanout`` does, in order).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from hstgw.cluster.bus import Bus
from hstgw.events.fanout import Fanout
from hstgw.events.model import Event, EventId
from hstgw.store.protocols import EventStore

__all__ = ["BusEventRelay"]

log = logging.getLogger("hstgw.cluster")

_INLINE = 200  # events carried in one broadcast; past it, only the versions
_CATCH_UP_MS = 60_000  # how far back a tick looks for versions that moved


class BusEventRelay:
    def __init__(self, bus: Bus, store: EventStore, clock: Callable[[], int]) -> None:
        self._bus = bus
        self._store = store
        self._clock = clock
        self._fanout: Fanout | None = None

    def attach(self, fanout: Fanout) -> None:
        self._fanout = fanout
        self._bus.on("events", self._on_events)

    def published(self, events: list[Event]) -> None:
        if len(events) <= _INLINE:
            body: dict[str, Any] = {
                "events": [[e.app_id, e.version, int(e.id), e.at_ms, e.body] for e in events]
            }
        else:
            reached: dict[str, int] = {}
            for e in events:
                reached[e.app_id] = max(reached.get(e.app_id, 0), e.version)
            body = {"reached": reached}
        self._bus.broadcast("events", body)

    def _on_events(self, body: dict[str, Any]) -> None:
        fanout = self._fanout
        if fanout is None:
            return
        if "events" in body:
            fanout.offer(
                Event(app_id, version, EventId(kind), at_ms, data)
                for app_id, version, kind, at_ms, data in body["events"]
            )
        for app_id, version in body.get("reached", {}).items():
            fanout.reached(app_id, int(version))

    async def catch_up(self, since: int | None = None) -> None:
        """Fetch what this node missed of the versions that moved since ``since`` (ms;
        None: lately)."""
        fanout = self._fanout
        if fanout is None:
            return
        if since is None:
            since = self._clock() - _CATCH_UP_MS
        for app_id, version in (await self._store.event_heads(since)).items():
            fanout.reached(app_id, version)
