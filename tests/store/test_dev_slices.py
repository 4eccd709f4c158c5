"""A records page's total from dev_hours, dev_slices (6-minute slices) and the records of
the part slices at its ends, on both engines: equal to the records counted one by one for
ranges that start and end on, just before and just after hours and slices."""

from __future__ import annotations

import random

import pytest

from hstgw.billing.rating import UsageEvent
from hstgw.settings import Settings
from hstgw.store.totals import HOUR_MS, SLICE_MS
from tests.store.test_month_totals import APPS, DEVS, rater, seeded

pytestmark = pytest.mark.anyio
T0 = 1764000000000 - 1764000000000 % HOUR_MS  # an hour's start


async def test_totals_by_slices_equal_the_records_counted(settings: Settings) -> None:
    rng = random.Random(17)
    store = await seeded(settings)
    try:
        # dense records over 5 hours, some exactly on slice and hour edges
        starts = [T0 + rng.randrange(5 * HOUR_MS) for _ in range(600)]
        starts += [T0 + k * SLICE_MS + d for k in range(50) for d in (-1, 0, 1)]
        events = [
            UsageEvent(f"e{i}", rng.choice(list(APPS)), 1, s, s + 1000)
            for i, s in enumerate(starts)
        ]
        await store.ingest(events, rater("Asia/Shanghai"), "node-1", 1)
        edges = [T0 + k * SLICE_MS + d for k in range(-1, 52) for d in (-1, 0, 1)]
        for _ in range(300):
            start, end = sorted(rng.sample(edges, 2))
            dev = rng.choice(DEVS)
            expected = sum(
                1 for e in events if APPS[e.app_id] == dev and start <= e.start_time <= end
            )
            total, _ = await store.list_records(dev, start, end, None, 0, 1)
            assert total == expected, (start - T0, end - T0)
    finally:
        await store.close()
