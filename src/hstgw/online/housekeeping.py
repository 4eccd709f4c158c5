"""Housekeeping: silent terminals dropped, old entries forgotten, the peaks noted,
and terminals kicked whose app or developer may no longer have them online."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable

from hstgw.online.config import OnlineConfig
from hstgw.online.presence import Presence
from hstgw.online.tenants import DeveloperStatus, OnlineApps
from hstgw.online.terminals import LocalTerminals
from hstgw.online.usage import UsageCounters
from hstgw.services import ServiceId
from hstgw.store import App

__all__ = ["Housekeeping"]


class Housekeeping:
    def __init__(
        self,
        terminals: LocalTerminals,
        presence: Presence,
        usage: UsageCounters,
        apps: OnlineApps,
        developers: DeveloperStatus,
        config: OnlineConfig,
        clock: Callable[[], int],
        ticks: Callable[[], float] = time.monotonic,
    ) -> None:
        self._terminals = terminals
        self._presence = presence
        self._usage = usage
        self._apps = apps
        self._developers = developers
        self._config = config
        self._clock = clock
        self._ticks = ticks

    async def sweep(self) -> None:
        """Drop silent terminals, forget what is past retention, note the peaks."""
        deadline = self._ticks() - 3 * self._config.heartbeat_interval
        now = self._clock()
        apps: set[str] = set()
        for s in self._terminals.registry.all():
            apps.add(s.app_id)
            if s.last_seen < deadline:
                self._terminals.kick(s, "heartbeat_timeout")
        for app_id in apps:
            self._usage.terminals(app_id, await self._presence.count(app_id))
        await self._presence.prune(now, self._config.retention_s * 1000)
        await self._kick_disabled(apps)

    async def _kick_disabled(self, app_ids: Iterable[str]) -> None:
        """Kick this node's terminals whose developer the operator disabled."""
        devs: dict[str, list[str]] = defaultdict(list)
        for app_id in app_ids:
            app = self._apps.get(app_id)
            if app is not None:
                devs[app.dev_id].append(app_id)
        now = self._ticks()
        for dev_id, apps in devs.items():
            if not await self._developers.active(dev_id, now):
                for app_id in apps:
                    self._terminals.kick_app(app_id, "developer_disabled")

    def app_changed(self, app: App | None, app_id: str) -> None:
        """Disconnect this node's terminals that may no longer be online: app deleted
        (``app`` None), set offline, or without its online service."""
        if app is None:
            reason = "app_deleted"
        elif app.status != "online":
            reason = "app_offline"
        elif all(s.service_id != ServiceId.ONLINE for s in app.services):
            reason = "service_removed"
        else:
            if app_id in self._apps:
                self._apps[app_id] = app  # its limits may have changed
            return
        self._apps.pop(app_id, None)
        self._terminals.kick_app(app_id, reason)
