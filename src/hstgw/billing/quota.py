"""Spending limits: month-to-date use per app against its consumption_limit and
use_limits, the one decision every path asks for (docs/billing.md "Quota")."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from hstgw.billing.prices import TERMS, Unit
from hstgw.billing.rating import month_of
from hstgw.services import ServiceId
from hstgw.store import App, UsageStore

__all__ = ["Quota"]

# Services whose use_limit is minutes: those of the terms billed by the second.
_TIME_SERVICES = frozenset(r.service for r in TERMS.values() if r.unit is Unit.SECOND)


class _Load:
    """One read of an app's month-to-date use from the store, shared by every caller
    that needs it meanwhile; ``stale`` once the use changed while it was under way."""

    __slots__ = ("stale", "task")

    def __init__(self, task: asyncio.Task[tuple[str, dict[int, tuple[int, int]]]]) -> None:
        self.task = task
        self.stale = False


# How often a check reads again an app's use that changed while it was being read.
_LOAD_ATTEMPTS = 3


@dataclass
class Quota:
    """Month-to-date use per app, kept in memory and refreshed from the store's counters.

    The one place that decides whether an app is past a limit, for every path (REST,
    terminal messages and invites, logins, nodes). An app whose entry is missing (never
    read, or dropped because its use changed) is read from the store first, once for
    all the callers waiting on it: a missing entry never means "allowed". With the
    entry in memory a check costs no store round trip.
    """

    store: UsageStore
    zone: ZoneInfo
    clock: Callable[[], int]

    def __post_init__(self) -> None:
        self._cache: dict[str, tuple[str, dict[int, tuple[int, int]]]] = {}
        self._loading: dict[str, _Load] = {}
        # Told of the apps whose usage this node changed (cluster: the other nodes).
        self.on_change: Callable[[list[str]], None] = lambda app_ids: None
        # This node's signaling receptions of (app_id, month) not yet in the store (the
        # online service counts them and writes them every few seconds): they count
        # toward the signaling use_limit at once.
        self.pending_signaling: Callable[[str, str], int] = lambda app_id, month: 0

    def _month(self) -> str:
        return month_of(self.clock(), self.zone)

    async def usage(self, app_id: str) -> dict[int, tuple[int, int]]:
        """service_id -> (use, amount in millionths) this month, as the store has it."""
        month = self._month()
        cached = self._cache.get(app_id)
        if cached is not None and cached[0] == month:
            return cached[1]
        return await self._load(app_id, month)

    async def _load(self, app_id: str, month: str) -> dict[int, tuple[int, int]]:
        found: tuple[str, dict[int, tuple[int, int]]] = (month, {})
        for _ in range(_LOAD_ATTEMPTS):
            load = self._loading.get(app_id)
            if load is None:
                # A task of its own, so that a caller that goes away (a terminal that
                # disconnects) does not cancel the read the others wait for.
                load = _Load(asyncio.ensure_future(self._read(app_id, month)))
                self._loading[app_id] = load
                load.task.add_done_callback(functools.partial(self._loaded, app_id, load))
            found = await asyncio.shield(load.task)
            if not load.stale and found[0] == month:
                return found[1]
        return found[1]  # changing faster than it can be read: the latest read

    async def _read(self, app_id: str, month: str) -> tuple[str, dict[int, tuple[int, int]]]:
        return month, await self.store.month_usage(app_id, month)

    def _loaded(self, app_id: str, load: _Load, task: asyncio.Task[Any]) -> None:
        # Runs before the waiters wake (it was the task's first callback).
        if self._loading.get(app_id) is load:
            del self._loading[app_id]
        if task.cancelled() or task.exception() is not None:  # the waiters see it
            return
        if not load.stale:
            self._cache[app_id] = task.result()

    def forget(self, app_ids: Iterable[str]) -> None:
        """Their usage changed here: read it again (and tell whoever listens)."""
        changed = list(dict.fromkeys(app_ids))
        self.drop(changed)
        self.on_change(changed)

    def drop(self, app_ids: list[str] | None) -> None:
        """Read these apps' usage again (every app's for None)."""
        if app_ids is None:
            self._cache.clear()
            for load in self._loading.values():
                load.stale = True
            self._loading.clear()
            return
        for app_id in app_ids:
            self._cache.pop(app_id, None)
            if app_id in self._loading:
                self._loading.pop(app_id).stale = True

    @staticmethod
    def _consumption(app: App, usage: Mapping[int, tuple[int, int]]) -> str | None:
        if app.consumption_limit is None:
            return None
        spent = sum(amount for _, amount in usage.values())
        if spent >= app.consumption_limit * 1_000_000:
            return f"consumption_limit: {app.consumption_limit} yuan this month reached"
        return None

    def _service(
        self, app: App, usage: Mapping[int, tuple[int, int]], service_id: int
    ) -> str | None:
        limit = next((s.use_limit for s in app.services if s.service_id == service_id), None)
        if limit is None:
            return None
        used = usage.get(service_id, (0, 0))[0]
        if service_id in _TIME_SERVICES:
            if used >= limit * 60:
                return f"use_limit of service {service_id}: {limit} minutes this month reached"
            return None
        if service_id == ServiceId.SIGNALING:
            used += self.pending_signaling(app.app_id, self._month())
        if used >= limit:
            return f"use_limit of service {service_id}: {limit} this month reached"
        return None

    async def login_refusal(self, app: App) -> str | None:
        return self._consumption(app, await self.usage(app.app_id))

    async def signaling_refusal(self, app: App) -> str | None:
        """Why ``app`` may not send signaling now (REST trans-cmd and invite, terminals'
        messages and invites), or None."""
        usage = await self.usage(app.app_id)
        return self._consumption(app, usage) or self._service(app, usage, ServiceId.SIGNALING)

    async def refused_services(self, app: App) -> list[int]:
        """The services an app may not use now (every one, past its consumption_limit)."""
        usage = await self.usage(app.app_id)
        if self._consumption(app, usage):
            return sorted(s.service_id for s in app.services)
        return [s.service_id for s in app.services if self._service(app, usage, s.service_id)]
