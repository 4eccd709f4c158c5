"""The embedded SQLite store: migrations, the data-dir lock, atomic tokens, the app cache."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from hstgw.store import App, AppPatch, AppService, Conflict, Developer, SqliteStore, StoreError

pytestmark = pytest.mark.anyio


def app(app_id: str, dev_id: str = "d" * 32, name: str = "a") -> App:
    return App(app_id, dev_id, name, "s" * 16, "offline", None, (AppService(3),), 1, 1)


@pytest.fixture
async def store(tmp_path: Path) -> SqliteStore:
    s = SqliteStore(tmp_path / "db.sqlite3", serving=True)
    await s.open()
    await s.create_developer(Developer("d" * 32, "", "0123456789abcdef", "active", 1))
    yield s  # type: ignore[misc]
    await s.close()


async def test_migrations_apply_once_and_are_recorded(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    for _ in range(2):
        s = SqliteStore(path)
        await s.open()
        await s.close()
    rows = sqlite3.connect(path).execute("SELECT version, name FROM schema_migrations").fetchall()
    assert rows == [(1, "0001_init.sql"), (2, "0002_online_usage.sql"), (3, "0003_billing.sql")]


async def test_one_serving_store_per_data_dir(store: SqliteStore) -> None:
    second = SqliteStore(store.path, serving=True)
    with pytest.raises(StoreError, match="in use by another hstgw server"):
        await second.open()
    reader = SqliteStore(store.path)  # the operator CLI needs no lock
    await reader.open()
    assert [d.dev_id for d in await reader.list_developers()] == ["d" * 32]
    await reader.close()


async def test_issuing_supersedes_atomically_and_keeps_one_live_token(store: SqliteStore) -> None:
    dev = "d" * 32
    await asyncio.gather(
        *(store.issue_access_token(dev, f"{i:032x}", 10, 100, 0) for i in range(20))
    )
    states = [await store.lookup_access_token(f"{i:032x}") for i in range(20)]
    assert sum(1 for s in states if s is not None and s.live) == 1
    with pytest.raises(sqlite3.IntegrityError):  # the engine itself refuses a second live token
        await store._write(
            lambda c: c.execute(
                "INSERT INTO access_tokens VALUES ('x', ?, 1, 2, 1), ('y', ?, 1, 2, 1)", (dev, dev)
            )
        )


async def test_old_tokens_are_forgotten_after_the_retention(store: SqliteStore) -> None:
    dev = "d" * 32
    await store.issue_access_token(dev, "old", 0, 100, keep_until=0)
    await store.issue_access_token(dev, "new", 200, 300, keep_until=150)
    assert await store.lookup_access_token("old") is None
    assert (await store.lookup_access_token("new")).live  # type: ignore[union-attr]


async def test_app_cache_follows_writes(store: SqliteStore) -> None:
    dev = "d" * 32
    await store.create_app(app("1" * 32))
    assert (await store.get_app(dev, "1" * 32)).app_name == "a"  # type: ignore[union-attr]
    await store.update_app(dev, "1" * 32, AppPatch(app_name="b", services=(AppService(4, 9),)), 2)
    got = await store.get_app(dev, "1" * 32)
    assert got is not None and got.app_name == "b" and got.services == (AppService(4, 9),)
    assert await store.get_app("e" * 32, "1" * 32) is None  # another developer
    assert await store.delete_app(dev, "1" * 32, 3)
    assert await store.get_app(dev, "1" * 32) is None
    assert not await store.delete_app(dev, "1" * 32, 4)


async def test_a_read_that_raced_a_write_does_not_fill_the_cache(store: SqliteStore) -> None:
    dev = "d" * 32
    await store.create_app(app("2" * 32))
    store._apps.drop("2" * 32)
    generation = store._apps.generation
    stale = app("2" * 32, name="stale")
    await store.update_app(dev, "2" * 32, AppPatch(app_name="fresh"), 5)
    store._apps.fill(stale, generation)  # what a read issued before the update would do
    assert (await store.get_app(dev, "2" * 32)).app_name == "fresh"  # type: ignore[union-attr]


async def test_name_conflicts_are_reported_and_write_nothing(store: SqliteStore) -> None:
    await store.create_app(app("3" * 32, name="same"))
    with pytest.raises(Conflict) as err:
        await store.create_app(app("4" * 32, name="same"))
    assert err.value.field == "app_name"
    assert await store.get_app("d" * 32, "4" * 32) is None
    rows = await store._read(lambda c: c.execute("SELECT count(*) FROM app_services").fetchone())
    assert rows[0] == 1  # the refused app's services were rolled back with it
