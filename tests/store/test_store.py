"""The store on both engines: migrations, the serving lock, atomic tokens, the app cache,
and the billing tables (parametrized: SQLite and a real PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hstgw.billing.prices import PriceTable
from hstgw.billing.rating import UsageEvent, rate
from hstgw.settings import Settings
from hstgw.store import (
    App,
    AppPatch,
    AppService,
    Conflict,
    Developer,
    LimitReached,
    OnlineUsage,
    Store,
    StoreError,
    UnknownApp,
    open_store,
)

pytestmark = pytest.mark.anyio
DEV = "d" * 32


def app(app_id: str, dev_id: str = DEV, name: str = "a") -> App:
    return App(app_id, dev_id, name, "s" * 16, "offline", None, (AppService(3),), 1, 1)


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    s = open_store(settings, serving=True)
    await s.open()
    await s.create_developer(Developer(DEV, "", "0123456789abcdef", "active", 1))
    yield s
    await s.close()


async def query(store: Store, sql: str) -> list[Any]:
    """Rows of ``sql`` on either engine (for what the typed methods do not expose)."""
    return await store.run_sql(sql)


async def test_migrations_apply_once_and_are_recorded(settings: Settings) -> None:
    for _ in range(2):
        s = open_store(settings)
        await s.open()
        rows = await query(s, "SELECT version, name FROM schema_migrations ORDER BY version")
        await s.close()
    assert rows == [
        (1, "0001_init.sql"),
        (2, "0002_online_usage.sql"),
        (3, "0003_billing.sql"),
        (4, "0004_idempotency.sql"),
        (5, "0005_exact_month_counters.sql"),
        (6, "0006_event_ids_per_node.sql"),
        (7, "0007_app_sequence.sql"),
        (8, "0008_creation_order.sql"),
        (9, "0009_events.sql"),
        (10, "0010_webhooks.sql"),
        (11, "0011_spend_index.sql"),
        (12, "0012_month_totals.sql"),
        (13, "0013_record_hours.sql"),
        (14, "0014_console_sessions.sql"),
        (15, "0015_page_order.sql"),
        (16, "0016_usage_keys.sql"),
        (17, "0017_dev_slices.sql"),
    ]


async def test_idempotency_keys_are_claimed_once_and_expire(store: Store) -> None:
    claim = store.idempotency_claim
    assert (await claim("dev", "k", "fp1", 1000, 0, 0)).mine
    held = await claim("dev", "k", "fp1", 1001, 0, 0)
    assert (held.mine, held.fingerprint, held.response) == (False, "fp1", None)
    assert (await claim("other", "k", "fp9", 1001, 0, 0)).mine  # keys are per owner
    await store.idempotency_finish("dev", "k", '{"code":0}')
    done = await claim("dev", "k", "fp2", 1002, 0, 0)
    assert (done.mine, done.fingerprint, done.response) == (False, "fp1", '{"code":0}')
    # expired: the key is free again
    assert (await claim("dev", "k", "fp2", 5000, 2000, 0)).mine
    # released before it finished: free at once; unfinished and abandoned: free later
    await store.idempotency_release("dev", "k")
    assert (await claim("dev", "k", "fp3", 5001, 0, 0)).mine
    assert not (await claim("dev", "k", "fp3", 5002, 0, 5001)).mine
    assert (await claim("dev", "k", "fp4", 9000, 0, 6000)).mine
    # a finished response is never given back by a release
    await store.idempotency_finish("dev", "k", "r")
    await store.idempotency_release("dev", "k")
    assert (await claim("dev", "k", "fp4", 9001, 0, 0)).response == "r"
    assert await store.idempotency_purge(9500) == 2


async def test_one_serving_store_per_data_dir_or_database(store: Store, settings: Settings) -> None:
    second = open_store(settings, serving=True)
    with pytest.raises(StoreError, match="in use by another hstgw"):
        await second.open()
    operator = open_store(settings)  # the operator CLI needs no lock
    await operator.open()
    assert [d.dev_id for d in await operator.list_developers()] == [DEV]
    await operator.close()


async def test_issuing_supersedes_atomically_and_keeps_one_live_token(store: Store) -> None:
    await asyncio.gather(
        *(store.issue_access_token(DEV, f"{i:032x}", 10, 100, 0) for i in range(20))
    )
    states = [await store.lookup_access_token(f"{i:032x}") for i in range(20)]
    assert sum(1 for s in states if s is not None and s.live) == 1
    rows = await query(store, "SELECT count(*) FROM access_tokens WHERE live = 1")
    assert rows == [(1,)]


async def test_old_tokens_are_forgotten_after_the_retention(store: Store) -> None:
    await store.issue_access_token(DEV, "old", 0, 100, keep_until=0)
    await store.issue_access_token(DEV, "new", 200, 300, keep_until=150)
    assert await store.lookup_access_token("old") is None
    assert (await store.lookup_access_token("new")).live  # type: ignore[union-attr]


async def test_developer_secret_and_status(store: Store) -> None:
    await store.issue_access_token(DEV, "tok", 0, 10**15, 0)
    assert await store.set_developer_secret(DEV, "fedcba9876543210")
    assert (await store.get_developer(DEV)).secret == "fedcba9876543210"  # type: ignore[union-attr]
    assert not (await store.lookup_access_token("tok")).live  # type: ignore[union-attr]
    assert await store.set_developer_status(DEV, "disabled")
    assert not (await store.lookup_access_token("tok")).developer_active  # type: ignore[union-attr]
    assert not await store.set_developer_status("e" * 32, "disabled")


async def test_apps_and_their_cache_follow_writes(store: Store) -> None:
    await store.create_app(app("1" * 32))
    assert (await store.get_app(DEV, "1" * 32)).app_name == "a"  # type: ignore[union-attr]
    await store.update_app(DEV, "1" * 32, AppPatch(app_name="b", services=(AppService(4, 9),)), 2)
    got = await store.get_app(DEV, "1" * 32)
    assert got is not None and got.app_name == "b" and got.services == (AppService(4, 9),)
    assert await store.get_app("e" * 32, "1" * 32) is None  # another developer
    await store.create_app(app("2" * 32, name="c"))
    total, apps = await store.list_apps(DEV, 0, 10)
    assert total == 2 and [a.app_id for a in apps] == ["1" * 32, "2" * 32]
    assert await store.delete_app(DEV, "1" * 32, 3)
    assert await store.get_app(DEV, "1" * 32) is None
    assert not await store.delete_app(DEV, "1" * 32, 4)


async def test_name_conflicts_are_reported_and_write_nothing(store: Store) -> None:
    await store.create_app(app("3" * 32, name="same"))
    with pytest.raises(Conflict) as err:
        await store.create_app(app("4" * 32, name="same"))
    assert err.value.field == "app_name"
    assert await store.get_app(DEV, "4" * 32) is None
    assert await query(store, "SELECT count(*) FROM app_services") == [(1,)]


def rater(event: Any, dev_id: str, signaling: Any) -> Any:
    return rate(event, dev_id, PriceTable(), signaling, ZoneInfo("Asia/Shanghai"))


async def test_ingestion_dedupes_rates_in_order_and_counts(store: Store) -> None:
    await store.create_app(app("5" * 32))
    t0 = 1764300000000
    events = [
        UsageEvent("s1", "5" * 32, 6, t0, t0, total_sig_num=999_995),
        UsageEvent("a1", "5" * 32, 1, t0, t0 + 60_000),
        UsageEvent("s2", "5" * 32, 6, t0, t0, total_sig_num=10),
        UsageEvent("a1", "5" * 32, 1, t0, t0 + 60_000),
    ]
    result = await store.ingest(
        events, rater, "node", 5, online_usage=[OnlineUsage("5" * 32, "2025-11-28", 3, 2)]
    )
    assert (result.accepted, result.duplicates) == (3, 1)
    assert result.touched == frozenset({("5" * 32, "2025-11")})
    again = await store.ingest(events[:2], rater, "node", 6)
    assert (again.accepted, again.duplicates) == (0, 2)
    total, rows = await store.list_records(DEV, t0, t0 + 1, None, 0, 10)
    assert total == 3 and [r.event_id for r in rows] == ["s1", "a1", "s2"]
    assert [r.amount_micro for r in rows] == [0, 6000, 500]  # 5 of 10 above the quota
    usage = await store.month_usage("5" * 32, "2025-11")
    assert usage == {6: (1_000_005, 500), 4: (60, 6000)}
    [term_sums_audio, term_sums_sig] = await store.summarize(DEV, "2025-11", None)
    assert (term_sums_audio.charge_term, term_sums_audio.amount_micro) == (1, 6000)
    assert term_sums_sig.total_sig_num == 1_000_005
    assert [(u.signaling, u.peak_terminals) for u in await store.online_usage("5" * 32)] == [(3, 2)]
    with pytest.raises(UnknownApp) as err:
        await store.ingest([events[1], UsageEvent("x", "9" * 32, 1, t0, t0)], rater, "node", 7)
    assert err.value.index == 1


async def test_spend_sums_by_term_app_and_bucket(store: Store) -> None:
    """The console's sums (index-only on SQLite), the same on both engines."""
    a, b = "6" * 32, "7" * 32
    await store.create_app(app(a, name="a"))
    await store.create_app(app(b, name="b"))
    t0 = 1764300000000
    events = [
        UsageEvent("x1", a, 1, t0, t0 + 60_000),  # 0.006
        UsageEvent("x2", a, 1, t0 + 1_000_000, t0 + 1_120_000),  # 0.012, next quarter hour
        UsageEvent("x3", b, 1, t0, t0 + 180_000),  # 0.018
        UsageEvent("x4", a, 2, t0, t0 + 60_000, resolution="1280*720"),  # 0.024
    ]
    await store.ingest(events, rater, "node", 5)
    end = t0 + 3_600_000
    assert await store.spend_by_term(DEV, "2025-11") == [(1, 36_000), (2, 24_000)]
    assert await store.spend_by_term("e" * 32, "2025-11") == []  # another developer's: none
    assert await store.spend_by_term(DEV, "2025-12") == []
    assert await store.spend_by_app_term(DEV, "2025-11") == [
        (a, 1, 2, 18_000),
        (a, 2, 1, 24_000),
        (b, 1, 1, 18_000),
    ]
    assert await store.spend_buckets(DEV, t0, end, 900_000) == [(0, 48_000), (1, 12_000)]
    assert await store.spend_buckets(DEV, t0, end, end - t0 + 1, a, 1) == [(0, 18_000)]
    assert await store.spend_buckets(DEV, t0, end, end - t0 + 1, None, 2) == [(0, 24_000)]
    total, rows = await store.list_records(DEV, t0, end, None, 0, 10, charge_term=1)
    assert total == 3 and {r.event_id for r in rows} == {"x1", "x2", "x3"}


async def test_peaks_and_nodes(store: Store) -> None:
    from hstgw.store import Node

    await store.add_online_usage([OnlineUsage("a", "2025-11-01", 0, 5)], 1)
    await store.add_online_usage([OnlineUsage("a", "2025-11-01", 2, 3)], 2)
    [peak] = await store.unrated_peaks("2025-11-02")
    assert (peak.signaling, peak.peak_terminals) == (2, 5)
    await store.mark_peaks_rated([peak])
    assert await store.unrated_peaks("2025-11-02") == []
    await store.create_node(Node("n" * 32, "media", "active", 1), "hash")
    assert (await store.node_by_key("hash")).node_id == "n" * 32  # type: ignore[union-attr]
    assert await store.revoke_node("n" * 32)
    assert [n.status for n in await store.list_nodes()] == ["revoked"]


async def test_concurrent_creates_cannot_pass_the_apps_limit_together(store: Store) -> None:
    """The count and the insert are one step: of 12 creates at once, 3 pass a limit of 3."""
    results = await asyncio.gather(
        *(store.create_app(app(f"{i:032x}", name=f"n{i}"), max_apps=3) for i in range(12)),
        return_exceptions=True,
    )
    assert sum(r is None for r in results) == 3
    assert all(isinstance(r, LimitReached) and r.limit == 3 for r in results if r is not None)
    total, _ = await store.list_apps(DEV, 0, 100)
    assert total == 3
    # Deleted apps do not count; other developers have their own.
    _, first = await store.list_apps(DEV, 0, 1)
    assert await store.delete_app(DEV, first[0].app_id, 2)
    await store.create_app(app("e" * 32, name="again"), max_apps=3)
    other = "f" * 32
    await store.create_developer(Developer(other, "", "0123456789abcdef", "active", 1))
    await store.create_app(app("c" * 32, dev_id=other, name="theirs"), max_apps=3)
    with pytest.raises(LimitReached):
        await store.create_app(app("b" * 32, name="one more"), max_apps=3)
    await store.create_app(app("a" * 32, name="unlimited"), max_apps=0)
