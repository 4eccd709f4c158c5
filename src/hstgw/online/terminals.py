"""This node's terminals: registered, kicked, gone.

A session leaves once (``Session.ended``): it is taken out of the registry, listed
offline in presence, and its scope is told. A kick that another node sent for a
login not registered yet is kept for a while and applied when it is.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from hstgw.online import protocol as p
from hstgw.online.frames import dumps
from hstgw.online.groups import NoEvents, TerminalEvents
from hstgw.online.presence import Presence
from hstgw.online.registry import Registry
from hstgw.online.scope import ScopeNotices
from hstgw.online.session import Session
from hstgw.online.tenants import OnlineApps
from hstgw.online.usage import UsageCounters
from hstgw.store import App
from hstgw.tasks import Background

__all__ = ["LocalTerminals"]

# How long a kick that arrived before its session was registered is remembered.
_EARLY_KICK_S = 30.0
# Terminals whose last login ended with its message rate's bucket not full, remembered
# (the oldest forgotten first): a login again starts from it, not from a full bucket.
_SHORT_BUCKETS_KEPT = 100_000


class LocalTerminals:
    def __init__(
        self,
        registry: Registry,
        presence: Presence,
        scope: ScopeNotices,
        usage: UsageCounters,
        apps: OnlineApps,
        clock: Callable[[], int],
        tasks: Background,
        ticks: Callable[[], float] = time.monotonic,
        events: TerminalEvents | None = None,
    ) -> None:
        self.registry = registry
        self.events = events or TerminalEvents(NoEvents())
        self._presence = presence
        self._scope = scope
        self._usage = usage
        self._apps = apps
        self._clock = clock
        self._ticks = ticks
        self._tasks = tasks
        self._early_kicks: dict[str, tuple[str, float]] = {}  # conn -> (reason, at)
        # (app, user, mutex_type) -> (allowance, since): the bucket a login ended with
        self._short_buckets: dict[tuple[str, str, str], tuple[float, float]] = {}

    def spawn(self, aw: Awaitable[Any]) -> asyncio.Task[Any]:
        """Run ``aw`` in the background (awaited at a clean stop)."""
        return self._tasks.spawn(aw)

    def register(self, session: Session, app: App, count: int) -> Session:
        """``session`` took its place; ``count``: the app's terminals online now."""
        self._apps[app.app_id] = app
        bucket = self._short_buckets.pop(session.key, None)
        if bucket is not None:
            # (a login again, forced or not, must not wipe what a listing charged: on
            # this node; another node's login is held by the app's login rate)
            session.start_from(bucket)
        self.registry.add(session)
        self._usage.terminals(app.app_id, count)
        self._scope.notify(session, state=1)
        self.events.online(session)
        early = self._early_kicks.pop(session.conn, None)
        if early is not None:  # kicked (by another node, or a kickout) as it was registered
            self.kick(session, early[0])
        return session

    def end(self, session: Session) -> Awaitable[object] | None:
        """``session`` is offline (once); what remains to wait for, if anything."""
        if session.ended:
            return None
        session.ended = True
        now = self._clock()
        if not self.registry.remove(session, now):
            return None
        bucket = session.short_bucket(self._ticks())
        if bucket is not None:
            kept = self._short_buckets
            if len(kept) >= _SHORT_BUCKETS_KEPT:
                del kept[next(iter(kept))]
            kept[session.key] = bucket
        pending = self._presence.release(session, now)
        self._scope.notify(session, state=0)
        self.events.offline(session)  # its groups left, its media stopped
        if pending is None:
            return None
        return self.spawn(pending)

    def kick(self, session: Session, reason: str) -> Awaitable[object] | None:
        """Tell the terminal why, take it offline, close its link; what remains to
        wait for until presence shows it offline everywhere, if anything."""
        session.link.push(
            dumps({"type": "kicked", "reason": reason, "msg": p.KICK_REASONS[reason]})
        )
        if not session.ended:
            self.events.kicked(session, reason)
        pending = self.end(session)
        session.link.close(p.CLOSE_KICKED, reason)
        return pending

    def kick_app(self, app_id: str, reason: str) -> None:
        for s in self.registry.of_app(app_id):
            self.kick(s, reason)

    def kick_all(self, reason: str) -> None:
        for s in self.registry.all():
            self.kick(s, reason)

    # what other nodes ask

    def push(self, conns: list[str], text: str) -> list[bool]:
        get = self.registry.by_conn
        out = []
        for conn in conns:
            s = get(conn)
            out.append(s is not None and s.link.push(text))
        return out

    async def kick_conn(self, conn: str, reason: str) -> bool:
        """Kick login ``conn``; False, and kept for when it registers, if it is not here."""
        s = self.registry.by_conn(conn)
        if reason not in p.KICK_REASONS:
            reason = "kickout"
        if s is None:
            self.kick_on_register(conn, reason)
            return False
        pending = self.kick(s, reason)
        if pending is not None:
            await pending
        return True

    def kick_on_register(self, conn: str, reason: str) -> None:
        """Login ``conn`` holds its place in presence but is not registered yet (its
        claim's answer and the kick's came in the other order): kick it as it does."""
        now = self._ticks()
        if len(self._early_kicks) > 10_000:
            self._early_kicks = {
                c: v for c, v in self._early_kicks.items() if v[1] > now - _EARLY_KICK_S
            }
        self._early_kicks[conn] = (reason, now)
