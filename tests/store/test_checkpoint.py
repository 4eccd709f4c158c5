"""The WAL's checkpoint runs on a thread of its own (store/sqlite/checkpointer.py): the
writer never copies the WAL back at a commit, and the WAL still starts over."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hstgw.store.sqlite import SqliteStore, engine
from hstgw.store.sqlite.checkpointer import _wal_index
from tests.waiting import eventually

pytestmark = pytest.mark.anyio

_ROW = "x" * 2000  # a page or so a commit


@pytest.fixture
def small_wal(monkeypatch: pytest.MonkeyPatch) -> None:
    # 128 MiB of WAL is too much for a test: the same machinery at 64 / 256 pages.
    monkeypatch.setattr(engine, "_CHECKPOINT_PAGES", 64)
    monkeypatch.setattr(engine, "_RESTART_PAGES", 256)


async def _store(path: Path) -> SqliteStore:
    store = SqliteStore(path / "hstgw.db")
    await store.open()
    await store.run_sql("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)")
    return store


async def _commits(store: SqliteStore, n: int) -> None:
    for _ in range(n):
        await store.run_sql(f"INSERT INTO t (v) VALUES ('{_ROW}')")


async def test_the_writer_does_not_checkpoint(tmp_path: Path) -> None:
    store = await _store(tmp_path)
    try:
        assert await store.run_sql("PRAGMA wal_autocheckpoint") == [(0,)]
    finally:
        await store.close()


async def test_the_checkpointer_copies_the_wal_back_and_it_starts_over(
    tmp_path: Path, small_wal: None
) -> None:
    store = await _store(tmp_path)
    shm = tmp_path / "hstgw.db-shm"
    try:
        await _commits(store, 400)  # ~800 frames: past the restart point
        checkpointer = store._checkpointer

        async def started_over() -> bool:
            await _commits(store, 5)  # the WAL starts over at a write
            frames, _ = _wal_index(shm)
            return checkpointer.checkpoints > 0 and checkpointer.restarts > 0 and frames < 256

        assert await eventually(started_over)
        # What was copied back and what is still in the WAL: every row is there.
        (count,) = (await store.run_sql("SELECT count(*) FROM t"))[0]
        assert count >= 405
    finally:
        await store.close()


async def test_close_during_checkpoints_does_not_hang(tmp_path: Path, small_wal: None) -> None:
    store = await _store(tmp_path)
    writes = asyncio.ensure_future(_commits(store, 10_000))
    await eventually(lambda: store._checkpointer.checkpoints > 0)
    writes.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writes
    await asyncio.wait_for(store.close(), 10)
    store = await _store(tmp_path)  # and the file opens again, its rows there
    try:
        (count,) = (await store.run_sql("SELECT count(*) FROM t"))[0]
        assert count > 0
    finally:
        await store.close()
