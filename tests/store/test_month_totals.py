"""The maintained month totals equal a full recomputation from the records, on both
engines: after random batches with re-sent events and duplicates inside a batch, the
gateway's own usage (signaling counts and closed days' peaks) and a change of zone."""

from __future__ import annotations

import random
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hstgw.billing.prices import PriceTable
from hstgw.billing.rating import UsageEvent, rate
from hstgw.settings import Settings
from hstgw.store import App, AppService, Developer, OnlineUsage, Store, open_store
from hstgw.store.totals import SELECT_RECORDS_FOR_TOTALS, rebuild

pytestmark = pytest.mark.anyio
DEVS = ["d" * 32, "e" * 32]
APPS = {f"{i:x}" * 32: DEVS[i % 2] for i in range(1, 6)}
T0 = 1761926400000  # 2025-10-31 16:00 UTC: 2025-11-01 00:00 in Shanghai, a month's edge


def random_event(rng: random.Random, n: int) -> UsageEvent:
    term = rng.choice((1, 2, 4, 6, 7, 8, 9, 10, 11, 12))
    start = T0 + rng.randrange(-40, 40) * 86_400_000 + rng.randrange(-3_600_000, 3_600_000)
    quantity = Decimal(0)
    if term in (9, 10):
        quantity = Decimal(rng.choice(("1.5", "0.000001", "12", "3.250", "1E+1", "7.000000")))
    elif term == 7:
        quantity = Decimal(rng.randrange(0, 50))
    return UsageEvent(
        event_id=f"ev-{n}",
        app_id=rng.choice(list(APPS)),
        charge_term=term,
        start_time=start,
        end_time=start + rng.randrange(0, 7_200_000),
        resolution=rng.choice(("640*360", "1920*1080")) if term in (2, 8) else "",
        total_sig_num=rng.randrange(0, 600_000) if term == 6 else 0,
        quantity=quantity,
        parties=rng.randrange(0, 4) if term == 8 else 0,
    )


def rater(zone: str) -> Any:
    def rate_one(event: Any, dev_id: str, signaling: Any) -> Any:
        return rate(event, dev_id, PriceTable(), signaling, ZoneInfo(zone))

    return rate_one


async def check_totals(store: Store, zone: str) -> int:
    """month_totals == a recomputation; the summary == the records' sums (as the
    summary computed them from the rows before the totals). The records' count."""
    records = await store.run_sql(SELECT_RECORDS_FOR_TOTALS)
    kept = await store.run_sql("SELECT * FROM month_totals")
    assert sorted(map(tuple, kept)) == sorted(rebuild(records, zone).rows())
    tz = ZoneInfo(zone)
    expected: dict[tuple[str, str], dict[tuple[str, int], list[Any]]] = {}
    for dev, start, app_id, term, amount, seconds, sig, quantity in records:
        month = datetime.fromtimestamp(start / 1000, tz).strftime("%Y-%m")
        acc = expected.setdefault((dev, month), {}).setdefault((app_id, term), [0, 0, 0, 0, []])
        for i, v in enumerate((1, amount, seconds, sig)):
            acc[i] += v
        acc[4].append(Decimal(quantity))
    for (dev, month), terms in expected.items():
        got = await store.summarize(dev, month, None)
        assert [
            (s.app_id, s.charge_term, s.records, s.amount_micro, s.total_time,
             s.total_sig_num, s.quantity)
            for s in got
        ] == [
            (app_id, term, n, amount, seconds, sig, str(sum(qs)))
            for (app_id, term), (n, amount, seconds, sig, qs) in sorted(terms.items())
        ]  # fmt: skip
        by_term: dict[int, int] = {}
        for (_, term), acc in terms.items():
            by_term[term] = by_term.get(term, 0) + acc[1]
        assert await store.spend_by_term(dev, month) == sorted(by_term.items())
    await check_counts(store, records)
    return len(records)


async def check_counts(store: Store, records: list[Any]) -> None:
    """A records page's total (whole hours from record_hours, part hours from the
    records) == the records counted one by one, for ranges of every shape."""
    rng = random.Random(7)
    hour = 3_600_000
    for _ in range(60):
        dev = rng.choice(DEVS)
        start = (
            T0 + rng.randrange(-41, 40) * 86_400_000 + rng.choice((0, 1, -1, rng.randrange(hour)))
        )
        end = start + rng.choice((0, hour - 1, hour, 3 * hour, rng.randrange(60 * 86_400_000)))
        end -= rng.choice((0, 0, start % hour + 1))  # ends just before an hour, too
        end = max(start, end)
        app_id = rng.choice([None, *APPS])
        term = rng.choice((None, None, 1, 6, 9))
        expected = sum(
            1
            for d, t, a, c, *_ in records
            if d == dev and start <= t <= end and app_id in (None, a) and term in (None, c)
        )
        total, _ = await store.list_records(dev, start, end, app_id, 0, 1, term)
        assert total == expected, (start, end, app_id, term)


async def seeded(settings: Settings) -> Store:
    """An open store holding DEVS and their APPS."""
    store = open_store(settings, serving=True)
    await store.open()
    for dev in DEVS:
        await store.create_developer(Developer(dev, "", "0123456789abcdef", "active", 1))
    for app_id, dev in APPS.items():
        await store.create_app(
            App(app_id, dev, f"a{app_id[0]}", "s" * 16, "online", None, (AppService(3),), 1, 1)
        )
    return store


async def test_totals_equal_a_recomputation_after_random_ingestion(settings: Settings) -> None:
    rng = random.Random(16)
    store = await seeded(settings)
    try:
        sent: list[UsageEvent] = []
        for batch in range(12):
            events = [random_event(rng, len(sent) + i) for i in range(rng.randrange(1, 120))]
            sent += events
            # re-sent events from earlier batches, and copies inside the batch
            events += rng.sample(sent, min(len(sent), rng.randrange(0, 30)))
            events += events[: rng.randrange(0, 5)]
            rng.shuffle(events)
            await store.ingest(events, rater("Asia/Shanghai"), "node-1", batch)
        # The gateway's own: a flush of signaling counts with its usage rows, and
        # closed days' peaks (event ids gw-peak-...), one of them rated twice.
        own = [
            UsageEvent(f"gw-peak-{app_id}-2025-11-0{d}", app_id, 7, T0 + d * 86_400_000,
                       T0 + d * 86_400_000, quantity=Decimal(d * 3))
            for app_id in APPS for d in (1, 2)
        ]  # fmt: skip
        flush = [UsageEvent("gw-sig-1", next(iter(APPS)), 6, T0, T0, total_sig_num=2_000_000)]
        usage = [OnlineUsage(next(iter(APPS)), "2025-11-01", 2_000_000, 4)]
        await store.ingest(flush + own, rater("Asia/Shanghai"), "gateway", 99, usage)
        result = await store.ingest(own[:3], rater("Asia/Shanghai"), "gateway", 100)
        assert (result.accepted, result.duplicates) == (0, 3)
        assert await check_totals(store, "Asia/Shanghai") == len({e.event_id for e in sent}) + len(
            flush
        ) + len(own)
    finally:
        await store.close()
    # Another zone: the store fills the totals again when it opens, months in that zone.
    moved = settings.model_copy(update={"time_zone": "America/New_York"})
    store = open_store(moved, serving=True)
    await store.open()
    try:
        await check_totals(store, "America/New_York")
    finally:
        await store.close()
