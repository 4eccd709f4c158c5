"""A gateway node of a cluster: what it shares through Redis, and its upkeep.

The composition root (``hstgw.gateway``) builds one ``ClusterNode`` when
``HSTGW_REDIS_URL`` is set and hands its parts to the services: the presence and
router to the online service, the buckets to the abuse guard, the token book to
access tokens. The node then keeps
the others' caches right (an app changed, an app's month-to-date usage moved) by
broadcasts, and at every housekeeping tick renews its lease, claims its sessions
again if the lease had lapsed, and takes dead nodes' terminals offline.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from collections.abc import Callable
from typing import Any

from hstgw.cluster.abuse import RedisBuckets
from hstgw.cluster.bus import Bus
from hstgw.cluster.events import BusEventRelay
from hstgw.cluster.presence import RedisPresence
from hstgw.cluster.redis import SharedRedis
from hstgw.cluster.routing import BusRouter
from hstgw.cluster.tokens import RedisTokenBook
from hstgw.errors import TerminalCode
from hstgw.events.log import EventLog
from hstgw.events.model import Entry, EventId
from hstgw.online.presence import Terminal
from hstgw.online.service import OnlineService
from hstgw.secretbox import derive_key, parse_key
from hstgw.settings import Settings
from hstgw.store import App, Store

__all__ = ["ClusterNode"]

log = logging.getLogger("hstgw.cluster")

# Ticks after a lapsed lease during which the sessions' groups are compared with the
# store (the reaping node's leaves may land after this node claimed its sessions again).
_REPAIR_TICKS = 3
# Every so many ticks, memberships held on a node without a lease are left: a node
# that died while Redis was away is never reaped (Redis forgot it).
_ORPHAN_TICKS = 10


class ClusterNode:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        clock: Callable[[], int],
        on_error: Callable[[], None] = lambda: None,
    ) -> None:
        # Readable in logs and metrics, unique even for two nodes on one host.
        self.node_id = f"{socket.gethostname()[:24]}-{secrets.token_hex(4)}"
        self.redis = SharedRedis(settings.redis_url, settings.database_schema, on_error)
        self.bus = Bus(self.redis, self.node_id, on_error=on_error)
        self.router = BusRouter(self.bus, settings.route_timeout)
        # (a cluster's settings have the master key: every node keys its buckets alike)
        master = parse_key(settings.secret_key.get_secret_value())
        self.presence = RedisPresence(
            self.redis,
            self.node_id,
            settings.node_lease,
            settings.presence_retention,
            kick_key=derive_key(master, "kickout buckets"),
            retained_per_developer=settings.limit_retained_logins_per_developer,
            invitees_per_developer=settings.limit_invitees_per_developer,
            retained_kept_s=max(
                settings.token_max_age,
                settings.terminal_resume_ttl,
                settings.presence_retention,
            ),
        )
        self.tokens = RedisTokenBook(self.redis, store, clock, settings.auth_cache_ttl)
        self.buckets = RedisBuckets(self.redis)
        self.events = BusEventRelay(self.bus, store, clock)
        self._store = store
        self._clock = clock
        self._online: OnlineService | None = None
        self._log: EventLog | None = None
        self._forget_usage: Callable[[list[str] | None], None] = lambda apps: None
        self.lease_held = False  # as of the last renewal (readiness)
        self._repair_ticks = 0
        self._ticks = 0

    def attach(
        self,
        online: OnlineService,
        forget_usage: Callable[[list[str] | None], None],
        events: EventLog | None = None,
    ) -> None:
        """The services whose caches and terminals other nodes' broadcasts concern;
        ``events``: the log that takes a dead node's terminals out of their groups."""
        self._online = online
        self._log = events
        self._forget_usage = forget_usage
        self.bus.on("app", self._on_app)
        self.bus.on("usage", self._on_usage)
        self.bus.on_resubscribed = self._missed_broadcasts

    async def start(self) -> None:
        await self.bus.start()
        try:
            await self.presence.renew_lease()
            self.lease_held = True
        except Exception as exc:  # Redis away at start: housekeeping keeps trying
            log.warning("cluster lease not taken yet: %s", exc)
        log.info("cluster node started", extra={"node": self.node_id})

    async def stop(self) -> None:
        try:
            await self.presence.leave()
        except Exception as exc:
            log.warning("cluster lease not given back: %s", exc)
        try:
            await self.bus.stop()
        finally:
            await self.redis.close()

    # telling the others

    def app_changed(self, app: App | None, app_id: str) -> None:
        self.bus.broadcast("app", {"app": app_id})

    def usage_changed(self, app_ids: list[str]) -> None:
        if app_ids:
            self.bus.broadcast("usage", {"apps": app_ids})

    # hearing from them

    async def _on_app(self, body: dict[str, Any]) -> None:
        app_id = body["app"]
        self._store.forget_apps([app_id])
        app = await self._store.find_app(app_id)
        if self._online is not None:
            self._online.app_changed(app, app_id)

    def _on_usage(self, body: dict[str, Any]) -> None:
        self._forget_usage(list(body["apps"]))

    def _missed_broadcasts(self) -> None:
        log.warning("cluster broadcasts may have been missed: app and usage caches dropped")
        self._store.forget_apps(None)
        self._forget_usage(None)
        self.bus.spawn(self.events.catch_up())  # events: read what was missed

    # upkeep, every housekeeping tick

    async def readiness(self, within_s: float) -> dict[str, str]:
        checks = {"redis": "ok", "lease": "ok" if self.lease_held else "not held"}
        try:
            await asyncio.wait_for(self.redis.ping(), within_s)
        except Exception as exc:
            checks["redis"] = f"unavailable: {type(exc).__name__}"
        return checks

    async def tick(self) -> None:
        try:
            renewed = await self.presence.renew_lease()
        except Exception:
            self.lease_held = False
            raise
        if not renewed:
            await self._claim_again()
        self.lease_held = True
        if self._repair_ticks:
            self._repair_ticks -= 1
            await self._repair_groups()
        for node in await self.presence.dead_nodes():
            gone = await self.presence.reap(node, self._clock())
            log.warning(
                "cluster node %s lost its lease: %d terminals listed offline", node, len(gone)
            )
            for app_id, t in gone:
                self._tell_offline(app_id, t)
            await self._leave_groups(node)
            self._offline_events(gone)
        self._ticks += 1
        if self._ticks % _ORPHAN_TICKS == 0:
            await self._leave_orphans()
        await self.events.catch_up()

    async def _claim_again(self) -> None:
        """The lease had lapsed (or Redis restarted empty): claim this node's sessions
        again; one that another node's login took meanwhile is kicked here."""
        online = self._online
        if online is None:
            return
        sessions = online.registry.all()
        if sessions:
            log.warning("cluster lease had lapsed: claiming %d sessions again", len(sessions))
        for s in sessions:
            claim = await self.presence.claim(s, False, None)
            if (
                claim.refused is TerminalCode.ALREADY_ONLINE
                and claim.older is not None
                and claim.older.conn != s.conn
            ):
                online.kick(s, "force_login")
        # A node that took this one for dead takes its terminals out of their groups,
        # maybe not yet: for the next few ticks, what is missing is joined again.
        self._repair_ticks = _REPAIR_TICKS

    async def _leave_groups(self, node: str) -> None:
        """A dead node's terminals leave their groups (their media stop)."""
        if self._log is not None:
            left = await self._log.leave_node(node)
            if left:
                log.warning("cluster node %s: %d group memberships left", node, left)

    async def _leave_orphans(self) -> None:
        """Leave the groups of gateway nodes that hold memberships but no lease."""
        others = [
            n
            for n in await self._store.member_nodes()
            if n != self.node_id and not n.startswith("media:")
        ]
        if not others:
            return
        keys = [self.redis.key("lease", n) for n in others]
        leases = await self.redis.run(lambda c: c.mget(keys))
        for node, lease in zip(others, leases, strict=True):
            if lease is None:
                await self._leave_groups(node)

    async def _repair_groups(self) -> None:
        """Join again the groups this node's sessions are in but the store says not."""
        online = self._online
        if online is None:
            return
        held = {
            (app_id, group_id, holder)
            for app_id, group_id, _, holder in await self._store.members_of_node(self.node_id)
        }
        for s in online.registry.all():
            missing = [g for g in s.groups or () if (s.app_id, g, s.conn) not in held]
            if missing:
                online.rejoin_groups(s, missing)

    def _offline_events(self, gone: list[tuple[str, Terminal]]) -> None:
        """A dead node's terminals went offline: their 20901, after their groups' leaves
        (the reap released each terminal once, so one node appends it)."""
        if self._log is None:
            return
        by_app: dict[str, list[Entry]] = {}
        for app_id, t in gone:
            body = {
                "user_id": t.user_id,
                "mutex_type": t.mutex_type,
                "client_guid": t.client_guid,
                "company_id": t.company_id,
            }
            by_app.setdefault(app_id, []).append(Entry(EventId.TERMINAL_OFFLINE, body))
        for app_id, entries in by_app.items():
            self._log.post(app_id, entries)

    def _tell_offline(self, app_id: str, t: Terminal) -> None:
        online = self._online
        if online is None:
            return
        online.tell_scope(app_id, t.company_id, t.describe(), 0, t.conn)
