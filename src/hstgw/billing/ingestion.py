"""Usage ingestion: a node's batch checked event by event, rated and kept in one
store transaction; the quota told which apps' use changed."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from decimal import Decimal
from zoneinfo import ZoneInfo

from hstgw.billing.models import MAX_EVENT_MS, EventIn, UsageBatch
from hstgw.billing.prices import TERMS, PriceTable
from hstgw.billing.quota import Quota
from hstgw.billing.rating import Rated, UsageEvent, micro_prices, rate
from hstgw.errors import ParameterInvalid, ParameterMissing
from hstgw.store import IngestResult, OnlineUsage, UnknownApp, UsageStore
from hstgw.store.base import Rater

__all__ = ["Ingestion", "rater"]


def rater(prices: PriceTable, zone: ZoneInfo) -> Rater:
    """The rating the store applies inside its ingestion transaction."""
    micro = micro_prices(prices)

    def rate_one(
        event: UsageEvent, dev_id: str, signaling: MutableMapping[tuple[str, str], int]
    ) -> Rated:
        return rate(event, dev_id, prices, signaling, zone, micro)

    return rate_one


class Ingestion:
    """Every way usage comes in (nodes' batches, the gateway's own counts) ends in
    :meth:`keep`: one transaction, then the quota reads the touched apps again."""

    def __init__(
        self, store: UsageStore, rate: Rater, quota: Quota, clock: Callable[[], int]
    ) -> None:
        self._store = store
        self._rate = rate
        self._quota = quota
        self._clock = clock

    async def ingest(self, node_id: str, batch: UsageBatch) -> tuple[int, int]:
        """A node's batch, whole or not at all: (accepted, duplicates). Any node may
        report for any app (nodes serve every developer)."""
        events = [_event(i, e) for i, e in enumerate(batch.events)]
        try:
            result = await self.keep(events, node_id)
        except UnknownApp as exc:
            raise ParameterInvalid(f"events[{exc.index}].app_id", "no such app") from None
        return result.accepted, result.duplicates

    async def keep(
        self,
        events: list[UsageEvent],
        node_id: str,
        online_usage: list[OnlineUsage] | None = None,
    ) -> IngestResult:
        """Rate and keep ``events`` (and add ``online_usage``) in one transaction."""
        result = await self._store.ingest(
            events, self._rate, node_id, self._clock(), online_usage=online_usage
        )
        self._quota.forget(app for app, _ in result.touched)
        return result


def _event(i: int, e: EventIn) -> UsageEvent:
    """Cross-field rules of an event, with the event's index in the message."""
    where = f"events[{i}]"
    term = e.charge_term
    if e.end_time < e.start_time:
        raise ParameterInvalid(f"{where}.end_time", "must not be before start_time")
    if e.end_time - e.start_time > MAX_EVENT_MS:
        raise ParameterInvalid(f"{where}.end_time", "must be at most 31 days after start_time")
    rule = TERMS[term]  # type: ignore[index]  # an IntEnum key is its int
    for name in rule.required:
        if getattr(e, name) in (None, ""):
            raise ParameterMissing(f"{where}.{name}", f"required for charge_term {term}")
    if rule.whole and e.quantity is not None and e.quantity != e.quantity.to_integral_value():
        raise ParameterInvalid(f"{where}.quantity", "must be a whole number of terminals")
    # Positionally, in UsageEvent's order (a keyword call costs ~0.5 us more an event).
    return UsageEvent(
        e.event_id, e.app_id, term, e.start_time, e.end_time, e.group_id, e.user_id,
        e.client_id, e.stream_id, e.resolution, e.transfer_type, e.total_sig_num or 0,
        e.quantity if e.quantity is not None else _ZERO, e.parties,
    )  # fmt: skip


_ZERO = Decimal(0)
