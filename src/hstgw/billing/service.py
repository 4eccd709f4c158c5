"""Billing: node credentials, ingestion, the gateway's own usage, records, summaries, limits."""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from hstgw.billing.models import MAX_EVENT_MS, MAX_RANGE_DAYS, MAX_RANGE_MS, EventIn, UsageBatch
from hstgw.billing.prices import TERMS, ChargeTerm, PriceTable
from hstgw.billing.quota import Quota
from hstgw.billing.rating import UsageEvent, rate
from hstgw.errors import AuthenticationFailed, ParameterInvalid, ParameterMissing
from hstgw.ids import new_id
from hstgw.services import SERVICES
from hstgw.store import Node, OnlineUsage, RecordRow, Store, UnknownApp

__all__ = ["GATEWAY_NODE", "Billing", "Nodes", "Quota"]

log = logging.getLogger("hstgw.billing")

GATEWAY_NODE = "gateway"  # the node_id of the gateway's own usage records


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


class Billing:
    def __init__(
        self, store: Store, prices: PriceTable, zone: ZoneInfo, clock: Callable[[], int]
    ) -> None:
        self._store = store
        self.prices = prices
        self.zone = zone
        self._clock = clock
        self.nodes = Nodes(store, clock)
        self.quota = Quota(store, zone, clock)

    def _rate(self, event: UsageEvent, dev_id: str, signaling: Any) -> Any:
        return rate(event, dev_id, self.prices, signaling, self.zone)

    # ingestion

    async def ingest(self, node_id: str, batch: UsageBatch) -> tuple[int, int]:
        events = [_event(i, e) for i, e in enumerate(batch.events)]
        try:
            result = await self._store.ingest(events, self._rate, node_id, self._clock())
        except UnknownApp as exc:
            raise ParameterInvalid(f"events[{exc.index}].app_id", "no such app") from None
        self.quota.forget(app for app, _ in result.touched)
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
                charge_term=ChargeTerm.SIGNALING,
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
        self.quota.forget(app for app, _ in result.touched)

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
                    charge_term=ChargeTerm.PEAK_TERMINALS,
                    start_time=int(start.timestamp() * 1000),
                    end_time=int(end.timestamp() * 1000) - 1,
                    quantity=Decimal(r.peak_terminals),
                )
            )
        result = await self._store.ingest(events, self._rate, GATEWAY_NODE, self._clock())
        await self._store.mark_peaks_rated(rows)
        self.quota.forget(app for app, _ in result.touched)
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
            raise ParameterInvalid("end_time", f"the range must be at most {MAX_RANGE_DAYS} days")
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
    rule = TERMS[ChargeTerm(term)]
    for name in rule.required:
        if getattr(e, name) in (None, ""):
            raise ParameterMissing(f"{where}.{name}", f"required for charge_term {term}")
    if rule.whole and e.quantity is not None and e.quantity != e.quantity.to_integral_value():
        raise ParameterInvalid(f"{where}.quantity", "must be a whole number of terminals")
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
