"""The composition root: one object holding the store and the business services.

It imports no web framework; ``hstgw.api`` wraps it for HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from hstgw.abuse import Buckets, Guard, LocalBuckets
from hstgw.apps import Apps
from hstgw.billing.prices import PriceTable
from hstgw.billing.service import Billing
from hstgw.developers import Developers
from hstgw.events.log import EventLog, GroupLimits, LocalRelay, Relay
from hstgw.events.reports import Reports
from hstgw.events.snapshots import Snapshots
from hstgw.idempotency import Idempotency
from hstgw.ids import now_ms
from hstgw.metrics import Metrics
from hstgw.online.presence import LocalPresence, Presence
from hstgw.online.registry import Registry
from hstgw.online.routing import LocalRouter, Router
from hstgw.online.service import OnlineConfig, OnlineService
from hstgw.online.usage import UsageCounters
from hstgw.settings import Settings
from hstgw.store import Store, open_store
from hstgw.tasks import cancel
from hstgw.tokens.access import AccessTokens
from hstgw.webhooks.parts import build_webhooks

if TYPE_CHECKING:
    from hstgw.cluster import ClusterNode

__all__ = ["Gateway"]

log = logging.getLogger("hstgw")

_PROBE_ID = "0" * 32
_PROBE_TIMEOUT_S = 2.0


class Gateway:
    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        clock: Callable[[], int] = now_ms,
        ticks: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock``: wall time in ms; ``ticks``: monotonic seconds (the online
        service's rate buckets and deadlines). Tests give their own."""
        self.settings = settings
        self.store = store or open_store(settings, serving=True)
        self.clock = clock
        self.metrics = Metrics()
        # Cluster mode: Redis holds access tokens and presence, and carries messages
        # between nodes (hstgw.cluster); imported only then.
        self.cluster: ClusterNode | None = None
        if settings.redis_url:
            from hstgw.cluster import ClusterNode

            self.cluster = ClusterNode(settings, self.store, clock, self.metrics.redis_errors.inc)
        cluster = self.cluster
        # This node's parts, chosen here once: alone, or shared through Redis. Nothing
        # past this point asks which (the cluster's parts are in hstgw.cluster).
        registry = Registry()  # this node's own sessions, in either mode
        buckets: Buckets
        presence: Presence
        router: Router
        relay: Relay
        if cluster is None:
            presence = LocalPresence(
                registry,
                retained_per_developer=settings.limit_retained_logins_per_developer,
                invitees_per_developer=settings.limit_invitees_per_developer,
            )
            buckets, router = LocalBuckets(), LocalRouter()
            relay, node = LocalRelay(), ""
        else:
            buckets, presence, router = cluster.buckets, cluster.presence, cluster.router
            relay, node = cluster.events, cluster.node_id
        # The event log: groups and what happens in apps, in order (docs/events.md).
        self.events = EventLog(
            self.store,
            GroupLimits(settings.group_max_users, settings.groups_per_terminal),
            node=node,
            relay=relay,
            retention_s=settings.event_retention,
            clock=clock,
        )
        self.guard = Guard(buckets, settings.limit_rules())
        self.snapshots = Snapshots(self.events, self.guard)  # (charged by their size)
        self.access_tokens = AccessTokens(
            self.store,
            ttl_s=settings.access_token_ttl,
            token_max_age_s=settings.token_max_age,
            token_future_skew_s=settings.token_future_skew,
            clock=clock,
            # In a cluster a token is looked up in Redis on every call: a token that
            # another node superseded stops at once (the developer is cached there).
            cache_ttl_s=settings.auth_cache_ttl if cluster is None else 0,
            book=cluster.tokens if cluster is not None else None,
            guard=self.guard,
        )
        self.billing = Billing(
            self.store, PriceTable.with_overrides(settings.prices), settings.zone, clock
        )
        self.usage = UsageCounters(
            self.billing.record_gateway_usage, settings.zone, clock, self.metrics.delivered.inc
        )
        # Receptions counted but not yet written count toward the signaling use_limit.
        self.billing.quota.pending_signaling = self.usage.pending_signaling
        self.online = OnlineService(
            self.store,
            self.usage,
            self.billing.quota,
            OnlineConfig(
                heartbeat_interval=settings.heartbeat_interval,
                retention_s=settings.presence_retention,
                message_rate=settings.message_rate,
                group_frame_rate=settings.limit_group_frames_per_terminal,
                token_max_age_s=settings.token_max_age,
                token_future_skew_s=settings.token_future_skew,
                replay_protection=settings.token_replay_protection,
                resume_ttl_s=settings.terminal_resume_ttl,
                dev_status_ttl_s=settings.auth_cache_ttl,
            ),
            clock,
            registry=registry,
            presence=presence,
            router=router,
            guard=self.guard,
            ticks=ticks,
            events=self.events,
        )
        self.metrics.count_terminals(lambda: len(self.online.registry))
        listeners = [self.online.app_changed]
        if cluster is not None:
            cluster.attach(self.online, self.billing.quota.drop, self.events)
            self.billing.quota.on_change = cluster.usage_changed
            listeners.append(cluster.app_changed)
        self.apps = Apps(
            self.store, clock, listeners=listeners, max_apps=settings.limit_apps_per_developer
        )
        self.reports = Reports(self.store, self.events)  # media nodes' group facts
        self.developers = Developers(self.store, clock)
        self.idempotency = Idempotency(self.store, clock)
        self.webhooks, self.webhook_workers = build_webhooks(
            settings, self.store, self.events, clock, cluster is not None
        )
        self._housekeeping: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.store.open()
        if self.cluster is not None:
            await self.cluster.start()
        await self.events.start()
        await self.webhook_workers.start()
        self._housekeeping = asyncio.create_task(self._keep_house())

    async def stop(self) -> None:
        await cancel(self._housekeeping)
        await self.webhook_workers.stop()
        # (the terminal listener, stopped first, has told its terminals and closed them)
        # Each step runs even if one before it failed (a store or Redis that is away at
        # the stop): what fails is logged, and the connections are closed regardless.
        try:
            await self.online.settle()
            await self.events.stop()  # the leaves of the terminals just kicked
            await self.usage.flush()  # nothing counted is lost at a clean stop
            await self.billing.rate_closed_days()
        except Exception:
            log.exception("final flush failed; these counts are lost")
        try:
            if self.cluster is not None:  # after the flush: it tells the others of it
                await self.cluster.stop()
        except Exception:
            log.exception("leaving the cluster failed; the lease will lapse")
        finally:
            await self.store.close()

    async def readiness(self) -> tuple[bool, dict[str, str]]:
        """Whether this node can serve: each of its dependencies, "ok" or what is wrong."""
        checks: dict[str, str] = {}
        try:
            # A read the store must answer; the id exists nowhere.
            await asyncio.wait_for(self.store.get_developer(_PROBE_ID), _PROBE_TIMEOUT_S)
            checks["store"] = "ok"
        except Exception as exc:
            checks["store"] = f"unavailable: {type(exc).__name__}"
        if self.cluster is not None:
            checks.update(await self.cluster.readiness(_PROBE_TIMEOUT_S))
        return all(v == "ok" for v in checks.values()), checks

    async def _keep_house(self) -> None:
        tick = min(self.settings.heartbeat_interval / 2, 5.0)
        flush_every = self.settings.usage_flush_interval
        since_flush = 0.0
        while True:
            await asyncio.sleep(tick)
            since_flush += tick
            try:
                await self.online.sweep()
                await self.store.maintain()
                if self.cluster is not None:
                    await self.cluster.tick()
                if since_flush >= flush_every:
                    since_flush = 0.0
                    await self.usage.flush()
                    await self.billing.rate_closed_days()
                    await self.idempotency.purge()
                    await self.store.purge_console_sessions(self.clock())
                    await self.events.prune()
            except Exception:  # keep sweeping; the counts stay for the next flush
                log.exception("housekeeping failed")
