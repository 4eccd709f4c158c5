"""Rating: one usage event becomes one record with its exact amount (design 6).

Pure functions of the event, the price table and the developer's signaling so far
this month; the store calls them inside the ingestion transaction, in arrival order.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from hstgw.billing.prices import AREA_720P, BOTH_WAYS, TERM_SERVICE, TIME_TERMS, PriceTable

__all__ = ["MICRO", "Rated", "UsageEvent", "month_of", "rate", "to_micro"]

MICRO = Decimal("0.000001")
SENT, RECEIVED = 1, 2


@dataclass(frozen=True, slots=True)
class UsageEvent:
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


@dataclass(frozen=True, slots=True)
class Rated:
    event: UsageEvent
    dev_id: str
    month: str  # YYYY-MM of start_time, in the configured zone
    product_id: int
    total_time: int  # seconds
    price: Decimal  # yuan per minute, per message, per terminal or per GB
    amount: Decimal  # yuan, 6 decimal places
    billed_sig_num: int  # signaling receptions above the free quota
    use: int  # what counts toward the service's use_limit: seconds, or receptions


def to_micro(value: Decimal) -> int:
    return int((value / MICRO).to_integral_value(ROUND_HALF_UP))


def month_of(epoch_ms: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, zone).strftime("%Y-%m")


def area(resolution: str) -> int:
    w, _, h = resolution.partition("*")
    return int(w) * int(h)


def rate(
    event: UsageEvent,
    dev_id: str,
    prices: PriceTable,
    signaling_used: MutableMapping[tuple[str, str], int],
    zone: ZoneInfo,
) -> Rated:
    """Rate ``event``; ``signaling_used`` (receptions so far per developer and month;
    a missing key must read as 0, e.g. a ``defaultdict``) is advanced for a signaling
    event, so that the next one sees it."""
    term = event.charge_term
    month = month_of(event.start_time, zone)
    ms = event.end_time - event.start_time
    seconds = -(-ms // 1000)  # billed by the second, a started second counts
    charged = term in BOTH_WAYS or event.transfer_type == RECEIVED
    billed_sig = 0
    use = 0
    if term in TIME_TERMS:
        price = _per_minute(event, prices) if charged else Decimal(0)
        amount = price * seconds / 60
        use = seconds if charged else 0
    elif term == 6:
        price = prices.signaling if charged else Decimal(0)
        received = event.total_sig_num if charged else 0
        key = (dev_id, month)
        used = signaling_used[key]
        free_left = max(0, int(prices.signaling_free_quota) - used)
        billed_sig = max(0, received - free_left)
        signaling_used[key] = used + received
        amount = price * billed_sig
        use = received
    elif term == 7:
        price = prices.peak_terminal
        amount = price * event.quantity
    elif term == 9:
        price = prices.storage
        amount = price * event.quantity
    else:  # 10
        price = prices.traffic
        amount = price * event.quantity
    return Rated(
        event=event,
        dev_id=dev_id,
        month=month,
        product_id=TERM_SERVICE[term],
        total_time=seconds,
        price=price,
        amount=amount.quantize(MICRO, ROUND_HALF_UP),
        billed_sig_num=billed_sig,
        use=use,
    )


def _per_minute(event: UsageEvent, prices: PriceTable) -> Decimal:
    term = event.charge_term
    if term == 1:
        return prices.audio
    if term == 2:
        return prices.video_720p if area(event.resolution) <= AREA_720P else prices.video_above_720p
    if term == 4:
        return prices.screen_share
    if term == 8:
        base = (
            prices.recording_720p if area(event.resolution) <= AREA_720P else prices.recording_1080p
        )
        return base + prices.recording_party * event.parties
    if term == 11:
        return prices.wechat_audio
    return prices.wechat_video  # 12
