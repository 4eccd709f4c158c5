"""The store interface: Store is the kinds of data together, and both engines implement
every member (mypy checks it too; this holds where mypy is not run)."""

from __future__ import annotations

import pytest

from hstgw.store import protocols
from hstgw.store.postgres import PostgresStore
from hstgw.store.sqlite import SqliteStore

KINDS = [getattr(protocols, name) for name in protocols.__all__ if name != "Store"]
# Members with a body every engine shares (written once, over the others).
SHARED = {"get_app"}


def members(kind: type) -> set[str]:
    return {n for n, v in vars(kind).items() if callable(v) and not n.startswith("_")}


def test_store_is_the_kinds_and_nothing_more() -> None:
    assert members(protocols.Store) == set()
    assert all(kind in protocols.Store.__mro__ for kind in KINDS)
    every = [n for kind in KINDS for n in members(kind)]
    assert len(every) == len(set(every))  # each member belongs to one kind


@pytest.mark.parametrize("engine", [SqliteStore, PostgresStore])
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_each_engine_implements_each_member(engine: type, kind: type) -> None:
    for name in members(kind) - SHARED:
        assert getattr(engine, name) is not getattr(kind, name), f"{engine.__name__}.{name}"
