"""Migrations 0005-0007 on a store that holds data, on both engines; and what they
make possible: apps in a total creation order, usage event ids scoped per node."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from hstgw.billing.prices import PriceTable
from hstgw.billing.rating import UsageEvent, rate
from hstgw.settings import Settings
from hstgw.store import App, AppService, Developer, Store, open_store
from hstgw.store.migrations import migrations
from tests.store.test_store import DEV, query

pytestmark = pytest.mark.anyio
T0 = 1764300000000
# Apps made before 0007, in the order they were made; two in the same millisecond.
OLD_APPS = [("c" * 32, 5), ("b" * 32, 7), ("a" * 32, 7), ("d" * 32, 9)]


def old_rows() -> list[str]:
    """The data of a store at migration 0004 (secrets are sealed when it opens)."""
    rows = [
        f"INSERT INTO developers VALUES ('{dev}', '', '0123456789abcdef', 'active', 1)"
        for dev in (DEV, "e" * 32, "b" * 32)  # all in one millisecond
    ]
    rows += [
        f"INSERT INTO nodes VALUES ('{node}', '', 'hash-{node}', 'active', {created})"
        for node, created in (("n2", 3), ("n3", 2), ("n1", 2))
    ]
    for app_id, created in OLD_APPS:
        rows.append(
            f"INSERT INTO apps VALUES ('{app_id}', '{DEV}', 'n{app_id[0]}', 'secretsecret1234',"
            f" 'online', NULL, {created}, {created}, NULL)"
        )
    for record_id, (event_id, node) in enumerate([("e1", "n1"), ("e2", "n1"), ("e3", "n2")], 1):
        rows.append(
            f"INSERT INTO usage_records VALUES ({record_id}, '{event_id}', '{DEV}', 'a{'a' * 31}',"
            f" 1, 4, {T0}, {T0 + 60_000}, 60, '', '', '', '', '', 2, 0, 0, '0', 0, 6000, 6000,"
            f" '{node}', 1)"
        )
    rows.append(f"INSERT INTO monthly_usage VALUES ('{'a' * 32}', '2025-11', 4, 180, 18000)")
    return rows


async def make_old_store(settings: Settings) -> None:
    """A store migrated to 0004 only, holding data."""
    old = [m for m in migrations() if m.version <= 4]
    if settings.database_url:
        conn = await asyncpg.connect(settings.database_url)
        try:
            schema = settings.database_schema
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            await conn.execute(f'SET search_path = "{schema}"')
            await conn.execute(
                "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)"
            )
            for m in old:
                for statement in m.statements("postgresql"):
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO schema_migrations VALUES ($1, $2)", m.version, m.name
                )
            for row in old_rows():
                await conn.execute(row)
        finally:
            await conn.close()
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    conn2 = sqlite3.connect(settings.sqlite_path, isolation_level=None)
    try:
        conn2.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)"
        )
        for m in old:
            for statement in m.statements():
                conn2.execute(statement)
            conn2.execute("INSERT INTO schema_migrations VALUES (?, ?)", (m.version, m.name))
        for row in old_rows():
            conn2.execute(row)
        # what the old SQLite made of a counter past 2^63: a float
        conn2.execute("UPDATE monthly_usage SET amount_micro = amount_micro + 9223372036854775807")
        assert conn2.execute("SELECT typeof(amount_micro) FROM monthly_usage").fetchone() == (
            "real",
        )
    finally:
        conn2.close()


@pytest.fixture
async def migrated(settings: Settings) -> AsyncIterator[Store]:
    await make_old_store(settings)
    store = open_store(settings, serving=True)
    await store.open()
    yield store
    await store.close()


def rater(event: Any, dev_id: str, signaling: Any) -> Any:
    return rate(event, dev_id, PriceTable(), signaling, ZoneInfo("Asia/Shanghai"))


def new_app(app_id: str, created: int) -> App:
    name = f"new{app_id[-6:]}"
    return App(app_id, DEV, name, "s" * 16, "online", None, (AppService(3),), created, 1)


async def test_existing_apps_keep_their_order_and_new_ones_follow(migrated: Store) -> None:
    # listed until now by (created_at, app_id): c, a, b, d
    total, apps = await migrated.list_apps(DEV, 0, 10)
    assert total == 4 and [a.app_id[0] for a in apps] == ["c", "a", "b", "d"]
    assert apps[0].app_secret == "secretsecret1234"  # sealed at the open, still readable
    # new apps, all in one millisecond (and earlier than the old ones): in creation order
    made = [f"{i:x}".rjust(32, "f") for i in range(20)][::-1]
    for app_id in made:
        await migrated.create_app(new_app(app_id, 1))
    total, apps = await migrated.list_apps(DEV, 0, 100)
    assert [a.app_id for a in apps] == [a.app_id for a in apps[:4]] + made
    _, page = await migrated.list_apps(DEV, 6, 5)
    assert [a.app_id for a in page] == made[2:7]


async def test_records_and_counters_survive(migrated: Store, settings: Settings) -> None:
    total, rows = await migrated.list_records(DEV, T0, T0 + 1, None, 0, 10)
    assert total == 3 and [(r.record_id, r.event_id) for r in rows] == [
        (1, "e1"),
        (2, "e2"),
        (3, "e3"),
    ]
    usage = await migrated.month_usage("a" * 32, "2025-11")
    if settings.database_url:
        assert usage == {4: (180, 18000)}
    else:  # the float SQLite had made of it is the largest BIGINT again
        assert usage == {4: (180, 2**63 - 1)}
        assert await query(migrated, "SELECT typeof(amount_micro) FROM monthly_usage") == [
            ("integer",)
        ]
    counts = await query(migrated, "SELECT count(*) FROM monthly_usage")
    assert counts == [(1,)]


async def test_event_ids_are_scoped_per_node(migrated: Store) -> None:
    """n1 reported e1 and e2 before the migration: n1 sending them again is a duplicate;
    n2 (or the gateway) may use the same ids for its own events."""
    ev = [UsageEvent(e, "a" * 32, 1, T0, T0 + 1000) for e in ("e1", "e2", "e9")]
    again = await migrated.ingest(ev, rater, "n1", 2)
    assert (again.accepted, again.duplicates) == (1, 2)
    other = await migrated.ingest(ev, rater, "n2", 3)
    assert (other.accepted, other.duplicates) == (3, 0)
    gw = await migrated.ingest(ev[:1], rater, "gateway", 4)
    assert (gw.accepted, gw.duplicates) == (1, 0)
    total, _ = await migrated.list_records(DEV, T0, T0 + 1, None, 0, 100)
    assert total == 3 + 1 + 3 + 1


async def test_existing_developers_and_nodes_keep_their_order_and_new_ones_follow(
    migrated: Store,
) -> None:
    from hstgw.store import Node

    devs = ["f" * 32, "0" * 32, "c" * 32]
    for dev in devs:  # in the millisecond of the old ones
        await migrated.create_developer(Developer(dev, "", "0123456789abcdef", "active", 1))
    listed = [d.dev_id for d in await migrated.list_developers()]
    assert listed == ["b" * 32, DEV, "e" * 32, *devs]
    for node in ("n9", "n0"):
        await migrated.create_node(Node(node, "", "active", 2), f"hash-{node}")
    assert [n.node_id for n in await migrated.list_nodes()] == ["n1", "n3", "n2", "n9", "n0"]


async def test_a_fresh_store_numbers_apps_of_one_millisecond_in_order(
    settings: Settings,
) -> None:
    store = open_store(settings, serving=True)
    await store.open()
    try:
        await store.create_developer(Developer(DEV, "", "0123456789abcdef", "active", 1))
        made = [f"{i:032x}" for i in range(30)][::-1]
        for app_id in made:
            await store.create_app(new_app(app_id, 42))
        _, apps = await store.list_apps(DEV, 0, 100)
        assert [a.app_id for a in apps] == made
        # developers and nodes too
        for dev in made[:10]:
            await store.create_developer(Developer(dev, "", "0123456789abcdef", "active", 1))
        assert [d.dev_id for d in await store.list_developers()] == [DEV, *made[:10]]
    finally:
        await store.close()


async def test_concurrent_creations_each_take_a_number(settings: Settings) -> None:
    import asyncio

    store = open_store(settings, serving=True)
    await store.open()
    try:
        devs = [f"{i:032x}" for i in range(19)]
        await store.create_developer(Developer(DEV, "", "0123456789abcdef", "active", 1))
        await asyncio.gather(
            *(
                store.create_developer(Developer(d, "", "0123456789abcdef", "active", 1))
                for d in devs
            )
        )
        await asyncio.gather(*(store.create_app(new_app(f"{i:032x}", 1)) for i in range(20)))
        assert sorted(d.dev_id for d in await store.list_developers()) == sorted([DEV, *devs])
        total, _ = await store.list_apps(DEV, 0, 100)
        assert total == 20
        seqs = await query(store, "SELECT seq FROM apps UNION ALL SELECT seq FROM developers")
        assert sorted(s for (s,) in seqs) == sorted([*range(1, 21), *range(1, 21)])
    finally:
        await store.close()


async def test_old_records_are_in_the_maintained_totals(migrated: Store) -> None:
    """0012's month totals (filled at the first open) and 0013's hour counts (filled by
    the migration) hold the records kept before them."""
    [term] = await migrated.summarize(DEV, "2025-11", None)
    assert (term.app_id, term.charge_term, term.records, term.amount_micro, term.total_time) == (
        "a" * 32, 1, 3, 18_000, 180,
    )  # fmt: skip
    assert term.quantity == "0"
    # a range of whole hours around T0: its total is read from record_hours
    total, _ = await migrated.list_records(DEV, T0 - 86_400_000, T0 + 86_400_000, None, 0, 1)
    assert total == 3
    # two whole 6-minute slices in a part hour: read from dev_slices (0017 filled it)
    first = T0 - T0 % 360_000
    total, _ = await migrated.list_records(DEV, first, first + 720_000 - 1, None, 0, 1)
    assert total == 3
    assert await query(migrated, "SELECT sum(records) FROM dev_slices") == [(3,)]
