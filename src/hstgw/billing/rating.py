"""Rating: one usage event becomes one record with its exact amount (design 6).

Pure functions of the event, the price table and the developer's signaling so far
this month; the store calls them inside the ingestion transaction, in arrival order.
"""

from __future__ import annotations

import functools
from collections.abc import MutableMapping
from dataclasses import fields
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple
from zoneinfo import ZoneInfo

from hstgw.billing.prices import AREA_720P, TERMS, ChargeTerm, PriceTable, Unit

__all__ = ["MICRO", "Rated", "UsageEvent", "month_of", "rate", "to_micro"]

MICRO = Decimal("0.000001")
RECEIVED = 2  # transfer_type; 1 is sent


class UsageEvent(NamedTuple):
    """A usage event as rated (a tuple: made once an event, ~0.6 us where a frozen
    dataclass took 2)."""

    event_id: str
    app_id: str
    charge_term: int
    start_time: int  # epoch ms
    end_time: int
    group_id: str = ""
    user_id: str = ""
    client_id: str = ""
    stream_id: str = ""
    resolution: str = ""
    transfer_type: int = RECEIVED
    total_sig_num: int = 0
    quantity: Decimal = Decimal(0)
    parties: int = 0


class Rated(NamedTuple):
    """An event's rating (a tuple: made once an event, it costs a third of a frozen
    dataclass's making)."""

    event: UsageEvent
    dev_id: str
    month: str  # YYYY-MM of start_time, in the configured zone
    product_id: int
    total_time: int  # seconds
    price_micro: int  # millionths of a yuan per minute, per message, per terminal or per GB
    amount_micro: int  # millionths of a yuan (amounts are exact to 6 decimal places)
    billed_sig_num: int  # signaling receptions above the free quota
    use: int  # what counts toward the service's use_limit: seconds, or receptions

    @property
    def price(self) -> Decimal:
        return Decimal(self.price_micro) * MICRO

    @property
    def amount(self) -> Decimal:
        return Decimal(self.amount_micro) * MICRO


def to_micro(value: Decimal) -> int:
    """Yuan to millionths of a yuan, rounded half up."""
    return int((value / MICRO).to_integral_value(ROUND_HALF_UP))


def _per_second(price_micro: int, seconds: int) -> int:
    """price per minute x seconds / 60, rounded half up, in exact integers."""
    return (2 * price_micro * seconds + 60) // 120


def _month(epoch_ms: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, zone).strftime("%Y-%m")


_DAY_MS = 86_400_000
# (zone, UTC day) -> the zone's month that day, or, for a day that holds a month
# boundary of the zone, (the boundary in epoch ms, the month before, the month after)
_MONTH_OF_DAY: dict[tuple[ZoneInfo, int], str | tuple[int, str, str]] = {}


def month_of(epoch_ms: int, zone: ZoneInfo) -> str:
    """``YYYY-MM`` of ``epoch_ms`` in ``zone``.

    Rating needs it for every event; a datetime costs more than the rest of the
    rating, so the answer is kept per UTC day (with the boundary's instant, for a day
    that holds a month boundary of the zone).
    """
    day = epoch_ms // _DAY_MS
    month = _MONTH_OF_DAY.get((zone, day))
    if month is None:
        first, last = _month(day * _DAY_MS, zone), _month(day * _DAY_MS + _DAY_MS - 1, zone)
        if len(_MONTH_OF_DAY) > 100_000:
            _MONTH_OF_DAY.clear()
        if first == last:
            _MONTH_OF_DAY[(zone, day)] = month = first
        else:
            year, mon = (int(part) for part in last.split("-"))
            boundary = int(datetime(year, mon, 1, tzinfo=zone).timestamp() * 1000)
            _MONTH_OF_DAY[(zone, day)] = month = (boundary, first, last)
    if isinstance(month, str):
        return month
    boundary, before, after = month
    return before if epoch_ms < boundary else after


def area(resolution: str) -> int:
    w, _, h = resolution.partition("*")
    return int(w) * int(h)


def rate(
    event: UsageEvent,
    dev_id: str,
    prices: PriceTable,
    signaling_used: MutableMapping[tuple[str, str], int],
    zone: ZoneInfo,
    micro: dict[str, int] | None = None,
) -> Rated:
    """Rate ``event``; ``signaling_used`` (receptions so far per developer and month;
    a missing key must read as 0, e.g. a ``defaultdict``) is advanced for a signaling
    event, so that the next one sees it. ``micro``: ``micro_prices(prices)``, which a
    caller rating many events works out once."""
    rule = TERMS[event.charge_term]  # type: ignore[index]  # an IntEnum key is its int
    month = month_of(event.start_time, zone)
    ms = event.end_time - event.start_time
    seconds = -(-ms // 1000)  # billed by the second, a started second counts
    charged = rule.both_ways or event.transfer_type == RECEIVED
    if micro is None:
        micro = micro_prices(prices)
    billed_sig = 0
    use = 0
    if rule.unit is Unit.SECOND:
        price = _per_minute(event, rule.price, micro) if charged else 0
        amount = _per_second(price, seconds)
        use = seconds if charged else 0
    elif rule.unit is Unit.MESSAGE:
        assert rule.price is not None
        price = micro[rule.price] if charged else 0
        received = event.total_sig_num if charged else 0
        key = (dev_id, month)
        used = signaling_used[key]
        free_left = max(0, int(prices.signaling_free_quota) - used)
        billed_sig = max(0, received - free_left)
        signaling_used[key] = used + received
        amount = price * billed_sig
        use = received
    else:  # Unit.QUANTITY: peak terminals, storage GB, traffic GB
        assert rule.price is not None
        price = micro[rule.price]
        amount = to_micro(Decimal(price) * MICRO * event.quantity)
    # Positionally, in Rated's order (keywords cost more, an event at a time).
    return Rated(event, dev_id, month, rule.service, seconds, price, amount, billed_sig, use)


@functools.cache
def micro_prices(prices: PriceTable) -> dict[str, int]:
    """The table in millionths of a yuan (every price has at most 6 decimal places)."""
    return {f.name: to_micro(getattr(prices, f.name)) for f in fields(prices)}


def _per_minute(event: UsageEvent, price: str | None, micro: dict[str, int]) -> int:
    """The term's price per minute; ``None`` for the terms priced by resolution."""
    if price is not None:
        return micro[price]
    above = area(event.resolution) > AREA_720P
    if event.charge_term == ChargeTerm.VIDEO:
        return micro["video_above_720p"] if above else micro["video_720p"]
    base = micro["recording_1080p"] if above else micro["recording_720p"]  # RECORDING
    return base + micro["recording_party"] * event.parties
