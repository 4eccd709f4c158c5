"""Rating by hand-worked cases from design 6 (prices in yuan)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from hstgw.billing.prices import PriceTable
from hstgw.billing.rating import UsageEvent, month_of, rate

ZONE = ZoneInfo("Asia/Shanghai")
T0 = 1764300000000  # 2025-11-28 11:20 in Shanghai
PRICES = PriceTable()


def event(term: int, ms: int = 0, **kw: object) -> UsageEvent:
    return UsageEvent(
        event_id="e", app_id="a", charge_term=term, start_time=T0, end_time=T0 + ms, **kw
    )  # type: ignore[arg-type]


def amount(e: UsageEvent, used: dict | None = None) -> tuple[Decimal, Decimal, int]:
    r = rate(e, "dev", PRICES, used if used is not None else defaultdict(int), ZONE)
    return r.amount, r.price, r.total_time


@pytest.mark.parametrize(
    ("case", "e", "expected_amount", "expected_price", "seconds"),
    [
        # audio received: 90 s at 6/1000 per minute = 90 * 0.006 / 60
        ("audio received", event(1, 90_000), "0.009000", "0.006", 90),
        ("audio sent is free", event(1, 90_000, transfer_type=1), "0", "0", 90),
        # video at exactly 1280*720 = 921600 pixels is 720P: 0.024 per minute;
        # 61.2 s is billed as 62 s (a started second counts): 62 * 0.024 / 60 = 0.0248
        ("video 720P boundary", event(2, 61_200, resolution="1280*720"), "0.024800", "0.024", 62),
        # one pixel column more is above 720P: 0.072 per minute
        ("video above 720P", event(2, 60_000, resolution="1281*720"), "0.072000", "0.072", 60),
        ("video 1080P 100 s", event(2, 100_000, resolution="1920*1080"), "0.120000", "0.072", 100),
        (
            "video sent is free",
            event(2, 100_000, resolution="1920*1080", transfer_type=1),
            "0",
            "0",
            100,
        ),
        # screen share 45 s: 45 * 0.064 / 60 = 0.048
        ("screen share", event(4, 45_000), "0.048000", "0.064", 45),
        # 7 s of screen share: 7 * 0.064 / 60 = 0.0074666... -> 0.007467
        ("per-second rounding", event(4, 7_000), "0.007467", "0.064", 7),
        ("one millisecond is one second", event(1, 1), "0.000100", "0.006", 1),
        ("zero duration", event(1, 0), "0.000000", "0.006", 0),
        # WeChat: both directions charged. audio 30 s: 30 * 0.025 / 60 = 0.0125
        ("wechat audio sent", event(11, 30_000, transfer_type=1), "0.012500", "0.025", 30),
        ("wechat audio received", event(11, 30_000), "0.012500", "0.025", 30),
        # video 120 s: 2 * 0.038
        ("wechat video sent", event(12, 120_000, transfer_type=1), "0.076000", "0.038", 120),
        # recording 1080P, 2 parties, 10 min: (0.014 + 2 * 0.0028) * 10 = 0.196
        (
            "recording 1080P 2 parties",
            event(8, 600_000, resolution="1920*1080", parties=2),
            "0.196000",
            "0.0196",
            600,
        ),
        # recording 720P, 1 party, 61 s: 0.0108 * 61 / 60 = 0.01098
        (
            "recording 720P 1 party",
            event(8, 61_000, resolution="1280*720", parties=1),
            "0.010980",
            "0.0108",
            61,
        ),
        ("recording base only", event(8, 60_000, resolution="640*480"), "0.008000", "0.008", 60),
        # storage 12.5 GB for a day at 0.01 = 0.125; traffic 3.2 GB at 0.56 = 1.792
        ("storage", event(9, quantity=Decimal("12.5")), "0.125000", "0.01", 0),
        ("traffic", event(10, quantity=Decimal("3.2")), "1.792000", "0.56", 0),
        # peak terminals: priced 0 by default
        ("peak terminals", event(7, quantity=Decimal(40)), "0", "0", 0),
    ],
)
def test_hand_worked_amounts(
    case: str, e: UsageEvent, expected_amount: str, expected_price: str, seconds: int
) -> None:
    got_amount, got_price, got_seconds = amount(e)
    assert got_amount == Decimal(expected_amount), case
    assert got_price == Decimal(expected_price), case
    assert got_seconds == seconds


def test_several_receivers_are_several_records() -> None:
    # one 1080P stream, one sender, three receivers, 100 s each: 3 * 0.12, the sender free
    amounts = [amount(event(2, 100_000, resolution="1920*1080"))[0] for _ in range(3)]
    amounts.append(amount(event(2, 100_000, resolution="1920*1080", transfer_type=1))[0])
    assert sum(amounts) == Decimal("0.36")


def test_signaling_quota_crossing_in_arrival_order() -> None:
    used: dict = defaultdict(int)
    assert amount(event(6, total_sig_num=999_990), used)[0] == 0  # inside the free million
    # 25 more: 10 still free, 15 billed at 0.0001 = 0.0015
    r = rate(event(6, total_sig_num=25), "dev", PRICES, used, ZONE)
    assert (r.amount, r.billed_sig_num) == (Decimal("0.0015"), 15)
    # past the quota every reception is billed
    assert amount(event(6, total_sig_num=10), used)[0] == Decimal("0.001")
    assert used[("dev", "2025-11")] == 1_000_025
    # another developer has a quota of its own; so has the next month
    assert rate(event(6, total_sig_num=10), "dev2", PRICES, used, ZONE).amount == 0
    december = UsageEvent("e", "a", 6, T0 + 5 * 86400_000, T0 + 5 * 86400_000, total_sig_num=10)
    assert rate(december, "dev", PRICES, used, ZONE).amount == 0


def test_sent_signaling_is_free_and_uses_no_quota() -> None:
    used: dict = defaultdict(int)
    assert amount(event(6, total_sig_num=5, transfer_type=1), used)[0] == 0
    assert used[("dev", "2025-11")] == 0


def test_month_follows_the_configured_zone() -> None:
    # 2025-11-30 16:30 UTC is already December in Shanghai
    e = UsageEvent("e", "a", 1, 1764520200000, 1764520200000)
    assert rate(e, "dev", PRICES, defaultdict(int), ZONE).month == "2025-12"
    assert rate(e, "dev", PRICES, defaultdict(int), ZoneInfo("UTC")).month == "2025-11"


def test_price_overrides() -> None:
    prices = PriceTable.with_overrides({"peak_terminal": "0.05", "signaling_free_quota": 0})
    r = rate(event(7, quantity=Decimal(40)), "dev", prices, defaultdict(int), ZONE)
    assert r.amount == Decimal("2.00")
    with pytest.raises(ValueError, match="unknown price 'gold'"):
        PriceTable.with_overrides({"gold": "1"})
    with pytest.raises(ValueError, match="at most 6 decimal places"):
        PriceTable.with_overrides({"audio": "0.0000001"})


def test_the_term_table_covers_every_term_and_names_real_prices() -> None:
    from dataclasses import fields

    from hstgw.billing.prices import CHARGE_TERMS, TERMS, ChargeTerm

    assert set(TERMS) == set(ChargeTerm)
    assert CHARGE_TERMS == (1, 2, 4, 6, 7, 8, 9, 10, 11, 12)  # the wire's plain integers
    names = {f.name for f in fields(PriceTable)}
    for rule in TERMS.values():
        assert rule.price is None or rule.price in names


@pytest.mark.parametrize(
    "zone", ["Asia/Shanghai", "America/New_York", "UTC", "Pacific/Chatham", "Asia/Kathmandu"]
)
def test_month_of_agrees_with_a_datetime_around_each_boundary(zone: str) -> None:
    """Kept per UTC day, with the instant of a boundary that falls within the day."""
    tz = ZoneInfo(zone)
    for year, month in [(2026, 1), (2026, 3), (2026, 11), (2026, 12), (2027, 2)]:
        boundary = int(datetime(year, month, 1, tzinfo=tz).timestamp() * 1000)
        for delta_ms in (-86_400_000, -3_600_000, -1, 0, 1, 3_600_000, 86_400_000):
            at = boundary + delta_ms
            expected = datetime.fromtimestamp(at / 1000, tz).strftime("%Y-%m")
            assert month_of(at, tz) == expected, (zone, year, month, delta_ms)
