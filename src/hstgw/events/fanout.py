"""Telling this node's listeners of every event once, in version order per app.

Events reach a node in two ways: its own appends, at once after their commit, and
other nodes' (in a cluster), by broadcast, which may come late, out of turn, or not at
all. ``Fanout`` keeps, per app, the version its listeners have heard up to; an event
next in line is told at once, one further on is held, and what is missing between
is read from the store (``read_after``), so a lost broadcast costs a read, never an
event. The versions heard at the start (``start``) are the store's then: a node tells
of what happens from its start on, not of the history before it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from hstgw.events.model import Event, Unsubscribe
from hstgw.tasks import Background

__all__ = ["Fanout", "ReadAfter"]

log = logging.getLogger("hstgw.events")

ReadAfter = Callable[[str, int, int], Awaitable[list[Event] | None]]
Listener = Callable[[Event], None]

_READ_LIMIT = 1000


class Fanout:
    def __init__(self, read_after: ReadAfter, tasks: Background) -> None:
        self._read_after = read_after
        self._tasks = tasks
        self._listeners: list[Listener] = []
        self._heard: dict[str, int] = {}  # app -> the last version told
        self._known: dict[str, int] = {}  # app -> the last version known durable
        self._held: dict[str, dict[int, Event]] = {}  # app -> events past a gap
        self._filling: set[str] = set()
        # Before the start's versions are known, what arrives waits (see ``start``).
        self._early: list[Event] | None = []

    def listen(self, listener: Listener) -> Unsubscribe:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def start(self, heard: dict[str, int]) -> None:
        """The store's versions as this node starts: what it has heard up to."""
        for app_id, version in heard.items():
            self._heard[app_id] = max(self._heard.get(app_id, 0), version)
        early, self._early = self._early, None
        if early:
            self.offer(early)

    def offer(self, events: Iterable[Event]) -> None:
        """Durable events, in any order, seen before or not."""
        if self._early is not None:
            self._early.extend(events)
            return
        apps = set()
        for e in events:
            if e.version <= self._heard.get(e.app_id, 0):
                continue
            self._held.setdefault(e.app_id, {})[e.version] = e
            if e.version > self._known.get(e.app_id, 0):
                self._known[e.app_id] = e.version
            apps.add(e.app_id)
        for app_id in apps:
            self._drain(app_id)

    def reached(self, app_id: str, version: int) -> None:
        """``app_id``'s events up to ``version`` are durable (their bodies not at hand)."""
        if self._early is not None:
            return  # (the start's read of the versions covers it)
        if version > max(self._heard.get(app_id, 0), self._known.get(app_id, 0)):
            self._known[app_id] = version
            self._drain(app_id)

    def heard(self, app_id: str) -> int:
        return self._heard.get(app_id, 0)

    def _drain(self, app_id: str) -> None:
        held = self._held.get(app_id)
        heard = self._heard.get(app_id, 0)
        if held:
            listeners = self._listeners
            while (e := held.pop(heard + 1, None)) is not None:
                heard = e.version
                for listener in listeners:
                    try:
                        listener(e)
                    except Exception:  # one listener's bug must not starve the others
                        log.exception("event listener failed")
            self._heard[app_id] = heard
            if not held:
                del self._held[app_id]
        if heard < self._known.get(app_id, 0) and app_id not in self._filling:
            self._filling.add(app_id)
            self._tasks.spawn(self._fill(app_id))

    async def _fill(self, app_id: str) -> None:
        """Read from the store what lies between the last told and the last known."""
        try:
            while (heard := self._heard.get(app_id, 0)) < self._known.get(app_id, 0):
                events = await self._read_after(app_id, heard, _READ_LIMIT)
                if events is None or not events:
                    # Pruned meanwhile (or not readable yet): tell from what is held on.
                    held = self._held.get(app_id)
                    skip_to = min(held) - 1 if held else self._known[app_id]
                    log.warning(
                        "events %s..%s of app %s are no longer kept; skipped",
                        heard + 1,
                        skip_to,
                        app_id,
                    )
                    self._heard[app_id] = skip_to
                else:
                    held = self._held.setdefault(app_id, {})
                    for e in events:
                        held[e.version] = e
                self._drain_held(app_id)
        except Exception:
            log.exception("events of app %s not read; the next event tries again", app_id)
        finally:
            self._filling.discard(app_id)

    def _drain_held(self, app_id: str) -> None:
        # (_drain without starting another fill: this one loops)
        self._filling.add(app_id)
        self._drain(app_id)
