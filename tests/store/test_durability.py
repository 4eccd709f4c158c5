"""HSTGW_SQLITE_SYNCHRONOUS: what an acknowledged write of the embedded store survives
(docs/operations.md "Durability")."""

from __future__ import annotations

from pathlib import Path

import pytest

from hstgw.settings import Settings
from hstgw.store import open_store

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(("setting", "pragma"), [(None, 1), ("normal", 1), ("full", 2)])
async def test_the_writer_syncs_as_configured(
    tmp_path: Path, setting: str | None, pragma: int
) -> None:
    extra = {} if setting is None else {"sqlite_synchronous": setting}
    store = open_store(Settings(_env_file=None, data_dir=tmp_path, **extra))
    await store.open()
    try:
        # run_sql runs on the writing connection, the one the setting is for
        assert await store.run_sql("PRAGMA synchronous") == [(pragma,)]  # 1 NORMAL, 2 FULL
    finally:
        await store.close()


def test_only_normal_or_full(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sqlite_synchronous"):
        Settings(_env_file=None, data_dir=tmp_path, sqlite_synchronous="off")  # type: ignore[arg-type]
