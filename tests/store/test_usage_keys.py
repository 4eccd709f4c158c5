"""Usage events' duplicate check (SQLite: store/sqlite/usagekeys.py, a level in memory and
sorted runs in usage_keys; PostgreSQL: its unique index): exact across runs, reopens and
keys that collide, with the maintained totals still equal to a recomputation."""

from __future__ import annotations

import random
from typing import Any

import pytest

from hstgw.billing.rating import UsageEvent
from hstgw.settings import Settings
from hstgw.store import Store, open_store
from hstgw.store.sqlite import usagekeys
from tests.store.test_month_totals import check_totals, random_event, rater, seeded

pytestmark = pytest.mark.anyio
ZONE = "Asia/Shanghai"


async def opened(settings: Settings, first: bool) -> Store:
    """The store, seeded with DEVS and APPS the ``first`` time."""
    if first:
        return await seeded(settings)
    store = open_store(settings, serving=True)
    await store.open()
    return store


async def send_and_check(
    store: Store, rng: random.Random, sent: dict[tuple[str, str], UsageEvent], batches: int
) -> None:
    """Batches from two nodes with re-sent events and copies inside a batch: accepted
    and duplicates as a set of (node, event_id) says."""
    for _ in range(batches):
        node = rng.choice(("node-1", "node-2"))
        events = [random_event(rng, rng.randrange(10**6)) for _ in range(rng.randrange(1, 40))]
        mine = [e for (n, _), e in sent.items() if n == node]
        events += rng.sample(mine, min(len(mine), rng.randrange(0, 15)))
        events += events[: rng.randrange(0, 3)]
        rng.shuffle(events)
        new = {e.event_id for e in events if (node, e.event_id) not in sent}
        result = await store.ingest(events, rater(ZONE), node, 1)
        assert (result.accepted, result.duplicates) == (len(new), len(events) - len(new))
        for e in events:
            sent.setdefault((node, e.event_id), e)


async def test_duplicates_are_told_across_runs_and_reopens(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(usagekeys, "_LEAST", 16)  # a run every few batches
    rng = random.Random(5)
    sent: dict[tuple[str, str], UsageEvent] = {}
    store = await opened(settings, True)
    try:
        await send_and_check(store, rng, sent, 40)
    finally:
        await store.close()
    store = await opened(settings, False)  # the memory level read again from the records
    try:
        await send_and_check(store, rng, sent, 20)
        everything = list(sent.values())
        for node in ("node-1", "node-2"):
            theirs = [e for (n, _), e in sent.items() if n == node]
            again = await store.ingest(theirs, rater(ZONE), node, 2)
            assert (again.accepted, again.duplicates) == (0, len(theirs))
        assert await check_totals(store, ZONE) == len(sent) < len(everything) * 2
        if not settings.database_url:
            keys = await store.run_sql("SELECT count(*) FROM usage_keys")
            assert 0 < keys[0][0] <= len(sent)
    finally:
        await store.close()


async def test_colliding_keys_are_told_apart(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    if settings.database_url:
        pytest.skip("SQLite's keys")
    real = usagekeys.event_key

    def few(node_id: str, event_id: str) -> Any:
        return real(node_id, event_id) % 3  # every event shares its key with many

    monkeypatch.setattr(usagekeys, "event_key", few)
    monkeypatch.setattr(usagekeys, "_LEAST", 8)
    rng = random.Random(9)
    sent: dict[tuple[str, str], UsageEvent] = {}
    store = await opened(settings, True)
    try:
        await send_and_check(store, rng, sent, 30)
    finally:
        await store.close()
    store = await opened(settings, False)
    try:
        await send_and_check(store, rng, sent, 10)
        assert await check_totals(store, ZONE) == len(sent)
    finally:
        await store.close()


async def test_a_run_is_written_after_the_reply_of_the_batch_that_made_it_due(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    if settings.database_url:
        pytest.skip("SQLite's keys")
    monkeypatch.setattr(usagekeys, "_LEAST", 16)
    rng = random.Random(10)
    store = await opened(settings, True)
    try:
        merges: list[int] = []
        real = usagekeys.UsageKeys.merge

        def merge(self: usagekeys.UsageKeys, c: Any) -> None:
            merges.append(len(self.recent))
            real(self, c)

        monkeypatch.setattr(usagekeys.UsageKeys, "merge", merge)
        events = [random_event(rng, n) for n in range(20)]
        result = await store.ingest(events, rater(ZONE), "node-1", 1)
        assert result.accepted == 20 and merges == []  # replied before the run
        keys = await store.run_sql("SELECT count(*) FROM usage_keys")  # after it
        assert merges == [20] and keys[0][0] == 20
        again = await store.ingest(events, rater(ZONE), "node-1", 2)
        assert (again.accepted, again.duplicates) == (0, 20)  # found in usage_keys
        assert await check_totals(store, ZONE) == 20
    finally:
        await store.close()
