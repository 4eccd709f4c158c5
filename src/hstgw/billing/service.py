"""Billing: node credentials, ingestion, the gateway's own usage, records, summaries, limits."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from hstgw.billing.models import MAX_EVENT_MS, EventIn, UsageBatch
from hstgw.billing.prices import TERM_SERVICE, TIME_TERMS, PriceTable
from hstgw.billing.rating import UsageEvent, month_of, rate
from hstgw.errors import AuthenticationFailed, ParameterInvalid, ParameterMissing
from hstgw.ids import new_id
from hstgw.services import SERVICES, ServiceId
from hstgw.store import App, Node, OnlineUsage, RecordRow, Store, UnknownApp

__all__ = ["GATEWAY_NODE", "Billing", "Limits", "Nodes"]

log = logging.getLogger("hstgw.billing")

GATEWAY_NODE = "gateway"  # the node_id of the gateway's own usage records
MAX_RANGE_MS = 93 * 86400 * 1000
# Services whose use_limit is minutes: those of the terms billed by the second.
_TIME_SERVICES = frozenset(TERM_SERVICE[term] for term in TIME_TERMS)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Nodes:
    """Credentials of the media and recording nodes that report usage."""

    def __init__(self, store: Store, clock: Callable[[], int]) -> None:
        self._store = store
        self._clock = clock

    async def create(self, name: str = "") -> tuple[Node, str]:
        """A new node and its key; only the key's hash is kept."""
        key = secrets.token_urlsafe(32)
        node = Node(new_id(), name, "active", self._clock())
        await self._store.create_node(node, key_hash(key))
        return node, key

    async def list(self) -> list[Node]:
        return await self._store.list_nodes()

    async def revoke(self, node_id: str) -> bool:
        return await self._store.revoke_node(node_id)

    async def authenticate(self, authorization: str | None) -> str:
        """The node_id behind ``Bearer <node_key>``."""
        if not authorization or not authorization.startswith("Bearer "):
            raise AuthenticationFailed()
        node = await self._store.node_by_key(key_hash(authorization[7:].strip()))
        if node is None or node.status != "active":
            raise AuthenticationFailed()
        return node.node_id


def micro_text(micro: int) -> str:
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), 1_000_000)
    return f"{sign}{whole}.{frac:06d}"


def money(micro: int) -> orjson.Fragment:
    """A JSON number with exactly 6 decimal places."""
    return orjson.Fragment(micro_text(micro).encode())


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
class Limits:
    """Month-to-date use per app, kept in memory and refreshed from the store's counters.

    The one place that decides whether an app is past a limit, for every path (REST,
    terminal messages and invites, logins, nodes). An app whose entry is missing (never
    read, or dropped because its use changed) is read from the store first, once for
    all the callers waiting on it: a missing entry never means "allowed". With the
    entry in memory a check costs no store round trip.
    """

    store: Store
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


class Billing:
    def __init__(
        self, store: Store, prices: PriceTable, zone: ZoneInfo, clock: Callable[[], int]
    ) -> None:
        self._store = store
        self.prices = prices
        self.zone = zone
        self._clock = clock
        self.nodes = Nodes(store, clock)
        self.limits = Limits(store, zone, clock)

    def _rate(self, event: UsageEvent, dev_id: str, signaling: Any) -> Any:
        return rate(event, dev_id, self.prices, signaling, self.zone)

    # ingestion

    async def ingest(self, node_id: str, batch: UsageBatch) -> tuple[int, int]:
        events = [_event(i, e) for i, e in enumerate(batch.events)]
        try:
            result = await self._store.ingest(events, self._rate, node_id, self._clock())
        except UnknownApp as exc:
            raise ParameterInvalid(f"events[{exc.index}].app_id", "no such app") from None
        self.limits.forget(app for app, _ in result.touched)
        return result.accepted, result.duplicates

    async def record_gateway_usage(
        self, rows: list[OnlineUsage], spans: Mapping[tuple[str, str], tuple[int, int]]
    ) -> None:
        """The online service's counts: signaling receptions become term-6 records, in the
        same transaction that adds them to the online_usage counters."""
        events = [
            UsageEvent(
                event_id=f"gw-sig-{uuid.uuid4().hex}",
                app_id=r.app_id,
                charge_term=6,
                start_time=spans[(r.app_id, r.day)][0],
                end_time=spans[(r.app_id, r.day)][1],
                total_sig_num=r.signaling,
            )
            for r in rows
            if r.signaling
        ]
        result = await self._store.ingest(
            events, self._rate, GATEWAY_NODE, self._clock(), online_usage=rows
        )
        self.limits.forget(app for app, _ in result.touched)

    async def rate_closed_days(self) -> int:
        """Each app's peak terminals of every day that has ended becomes a term-7 record."""
        today = datetime.fromtimestamp(self._clock() / 1000, self.zone).strftime("%Y-%m-%d")
        rows = await self._store.unrated_peaks(today)
        if not rows:
            return 0
        events = []
        for r in rows:
            start = datetime.strptime(r.day, "%Y-%m-%d").replace(tzinfo=self.zone)
            end = start + timedelta(days=1)
            events.append(
                UsageEvent(
                    event_id=f"gw-peak-{r.app_id}-{r.day}",  # once per app and day, ever
                    app_id=r.app_id,
                    charge_term=7,
                    start_time=int(start.timestamp() * 1000),
                    end_time=int(end.timestamp() * 1000) - 1,
                    quantity=Decimal(r.peak_terminals),
                )
            )
        result = await self._store.ingest(events, self._rate, GATEWAY_NODE, self._clock())
        await self._store.mark_peaks_rated(rows)
        self.limits.forget(app for app, _ in result.touched)
        return result.accepted

    # reading

    def _time(self, ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, self.zone).strftime("%Y-%m-%d %H:%M:%S")

    def record_to_wire(self, r: RecordRow) -> dict[str, Any]:
        return {
            "record_id": r.record_id,
            "event_id": r.event_id,
            "app_id": r.app_id,
            "app_name": r.app_name,
            "product_id": r.product_id,
            "product_name": SERVICES[r.product_id],
            "amount": money(r.amount_micro),
            "price": money(r.price_micro),
            "charge_term": r.charge_term,
            "start_time": self._time(r.start_time),
            "end_time": self._time(r.end_time),
            "total_time": r.total_time,
            "group_id": r.group_id,
            "user_id": r.user_id,
            "resolution": r.resolution,
            "total_sig_num": r.total_sig_num,
            "stream_id": r.stream_id,
            "client_id": r.client_id,
            "transfer_type": r.transfer_type,
            "quantity": orjson.Fragment(r.quantity.encode()),
            "parties": r.parties,
        }

    async def records(
        self, dev_id: str, start: int, end: int, app_id: str | None, page: int, page_size: int
    ) -> tuple[int, list[dict[str, Any]]]:
        if end < start:
            raise ParameterInvalid("end_time", "must not be before start_time")
        if end - start > MAX_RANGE_MS:
            raise ParameterInvalid("end_time", "the range must be at most 93 days")
        total, rows = await self._store.list_records(
            dev_id, start, end, app_id, (page - 1) * page_size, page_size
        )
        return total, [self.record_to_wire(r) for r in rows]

    async def summary(self, dev_id: str, month: str, app_id: str | None) -> dict[str, Any]:
        first = datetime.strptime(month + "-01", "%Y-%m-%d").replace(tzinfo=self.zone)
        after = (first + timedelta(days=32)).replace(day=1)
        sums = await self._store.summarize(
            dev_id, int(first.timestamp() * 1000), int(after.timestamp() * 1000) - 1, app_id
        )
        apps: dict[str, dict[str, Any]] = {}
        totals: dict[str, int] = {}
        for s in sums:
            entry = apps.setdefault(
                s.app_id, {"app_id": s.app_id, "app_name": s.app_name, "terms": []}
            )
            totals[s.app_id] = totals.get(s.app_id, 0) + s.amount_micro
            entry["terms"].append(
                {
                    "charge_term": s.charge_term,
                    "records": s.records,
                    "amount": money(s.amount_micro),
                    "total_time": s.total_time,
                    "total_sig_num": s.total_sig_num,
                    "quantity": orjson.Fragment(s.quantity.encode()),
                }
            )
        for app_id_, entry in apps.items():
            entry["amount"] = money(totals[app_id_])
        return {"month": month, "amount": money(sum(totals.values())), "apps": list(apps.values())}


def _event(i: int, e: EventIn) -> UsageEvent:
    """Cross-field rules of an event, with the event's index in the message."""
    where = f"events[{i}]"
    term = e.charge_term
    if e.end_time < e.start_time:
        raise ParameterInvalid(f"{where}.end_time", "must not be before start_time")
    if e.end_time - e.start_time > MAX_EVENT_MS:
        raise ParameterInvalid(f"{where}.end_time", "must be at most 31 days after start_time")
    if term in (2, 8) and not e.resolution:
        raise ParameterMissing(f"{where}.resolution", f"required for charge_term {term}")
    if term == 6 and e.total_sig_num is None:
        raise ParameterMissing(f"{where}.total_sig_num", "required for charge_term 6")
    if term in (7, 9, 10) and e.quantity is None:
        raise ParameterMissing(f"{where}.quantity", f"required for charge_term {term}")
    if term == 7 and e.quantity is not None and e.quantity != e.quantity.to_integral_value():
        raise ParameterInvalid(f"{where}.quantity", "must be a whole number of terminals")
    assert term in TERM_SERVICE
    return UsageEvent(
        event_id=e.event_id,
        app_id=e.app_id,
        charge_term=term,
        start_time=e.start_time,
        end_time=e.end_time,
        group_id=e.group_id,
        user_id=e.user_id,
        client_id=e.client_id,
        stream_id=e.stream_id,
        resolution=e.resolution,
        transfer_type=e.transfer_type,
        total_sig_num=e.total_sig_num or 0,
        quantity=e.quantity if e.quantity is not None else Decimal(0),
        parties=e.parties,
    )
