"""The online service: logins, presence, and everything delivered to terminals.

``OnlineService`` is the one object the rest of the gateway holds; it is put
together from parts that each do one thing, handed what they need:

- ``LocalTerminals`` (terminals.py): this node's sessions, registered, kicked, gone;
- ``ScopeNotices`` (scope.py): who comes and goes, told to the scope on every node;
- ``Reach`` (routing.py): a terminal reached wherever it is, through the ``Router``;
- ``Admission`` (admission.py): the login rules;
- ``TerminalRequests`` (requests.py): what a logged-in terminal asks;
- ``Deliveries`` (delivery.py) and ``Invites`` (invites.py): what the backend asks;
- ``Housekeeping`` (housekeeping.py): the sweep and app changes.

Which presence and router (this node alone, or Redis) is the composition root's
choice (``hstgw.gateway``); nothing here asks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from hstgw.abuse import Guard
from hstgw.billing.quota import Quota
from hstgw.online.admission import Admission
from hstgw.online.config import OnlineConfig
from hstgw.online.delivery import Deliveries
from hstgw.online.frames import TerminalError
from hstgw.online.groups import EventSink, NoEvents, TerminalEvents, TerminalGroups
from hstgw.online.housekeeping import Housekeeping
from hstgw.online.invites import Invites
from hstgw.online.presence import Presence
from hstgw.online.registry import Registry
from hstgw.online.requests import TerminalRequests
from hstgw.online.routing import Reach, Router
from hstgw.online.scope import ScopeNotices
from hstgw.online.session import Link, Session
from hstgw.online.tenants import DeveloperStatus, OnlineApps
from hstgw.online.terminals import LocalTerminals
from hstgw.online.usage import UsageCounters
from hstgw.store import App, Store
from hstgw.tasks import Background

__all__ = ["OnlineConfig", "OnlineService", "TerminalError"]

log = logging.getLogger("hstgw.online")


class OnlineService:
    def __init__(
        self,
        store: Store,
        usage: UsageCounters,
        quota: Quota,
        config: OnlineConfig,
        clock: Callable[[], int],
        *,
        registry: Registry,
        presence: Presence,
        router: Router,
        guard: Guard | None = None,
        ticks: Callable[[], float] = time.monotonic,
        events: EventSink | None = None,
    ) -> None:
        """``events``: the app's event log (groups, terminals' comings and goings);
        ``registry``: this node's sessions; ``presence`` and ``router``: this node
        alone (``LocalPresence`` over the same registry, ``LocalRouter``) or a cluster's.
        ``clock``: wall time in ms (presence, usage); ``ticks``: monotonic seconds (rate
        buckets, heartbeat deadlines, cached developer status), which a test may drive."""
        self.config = config
        self.registry = registry
        self.presence = presence
        self._tasks = Background(lambda exc: log.warning("presence update failed: %s", exc))
        apps = OnlineApps()
        developers = DeveloperStatus(store, config.dev_status_ttl_s)
        self._scope = ScopeNotices(registry, router)
        sink = events or NoEvents()
        self._terminals = LocalTerminals(
            registry,
            presence,
            self._scope,
            usage,
            apps,
            clock,
            self._tasks,
            ticks,
            TerminalEvents(sink),
        )
        self._reach = Reach(self._terminals, self._scope, presence, router, usage, clock)
        self._admission = Admission(
            store,
            presence,
            self._terminals,
            self._reach,
            developers,
            quota,
            config,
            clock,
            guard,
            ticks,
        )
        self._invites = Invites(presence, self._reach, clock)
        self._requests = TerminalRequests(
            store,
            presence,
            self._terminals,
            self._scope,
            self._reach,
            self._invites,
            apps,
            developers,
            quota,
            config,
            clock,
            ticks,
            TerminalGroups(sink, config.group_frame_rate, ticks),
        )
        self._deliveries = Deliveries(
            store, presence, self._reach, self._invites, quota, config, clock, guard
        )
        self._housekeeping = Housekeeping(
            self._terminals, presence, usage, apps, developers, config, clock, ticks
        )
        # A terminal's every frame: the bound method itself, not one call more.
        self.handle = self._requests.handle
        # The app's backend (REST), with the caller: each checks that the app is
        # ``dev_id``'s before it acts (delivery.py).
        self.kickout = self._deliveries.kickout
        self.user_state = self._deliveries.user_state
        self.trans_cmd = self._deliveries.trans_cmd
        self.invite = self._deliveries.invite
        self.online_count = self._deliveries.online_count
        self.terminals = self._deliveries.terminals

    # terminals (the listener)

    async def login(
        self, link: Link, raw: str | bytes, address: str = ""
    ) -> tuple[str, Session | None]:
        """The login reply to send, and the session if the login succeeded."""
        return await self._admission.login(link, raw, address)

    def disconnected(self, session: Session) -> None:
        """The link closed: the terminal is offline (if it was not kicked already)."""
        self._terminals.end(session)

    def kick(self, session: Session, reason: str) -> Awaitable[object] | None:
        """Kick a session of this node (see ``LocalTerminals.kick``)."""
        return self._terminals.kick(session, reason)

    def rejoin_groups(self, session: Session, group_ids: list[str]) -> None:
        """Take ``session``'s groups (of ``group_ids``) and their media up again: its node
        had been taken for dead and reaped."""
        self._terminals.events.rejoin(session, group_ids)

    def tell_scope(
        self, app_id: str, company_id: str, described: dict[str, object], state: int, conn: str
    ) -> None:
        """Tell the terminals of a scope, on every node, that the terminal ``described``
        came (1) or went (0)."""
        self._scope.tell(app_id, company_id, described, state, conn)

    # housekeeping and the gateway's life

    def app_changed(self, app: App | None, app_id: str) -> None:
        """An app was written (None: deleted): kick the terminals it no longer allows."""
        self._housekeeping.app_changed(app, app_id)

    async def sweep(self) -> None:
        await self._housekeeping.sweep()

    def shutdown(self) -> None:
        self._terminals.kick_all("shutdown")

    async def settle(self) -> None:
        """Wait for the presence updates under way (at a clean stop)."""
        await self._tasks.wait()
