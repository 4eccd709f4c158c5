"""The app cache: a read that raced a write does not fill the cache with what it read."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hstgw.store import App, AppService
from hstgw.store.app_cache import AppCache


def app(app_id: str, name: str = "a") -> App:
    return App(app_id, "d" * 32, name, "s" * 16, "offline", None, (AppService(3),), 1, 1)


def test_a_read_fills_the_cache_when_no_write_came_between() -> None:
    cache = AppCache(10)
    generation = cache.generation
    cache.fill(app("a1"), generation)
    assert cache.get("a1") == app("a1")


@pytest.mark.parametrize(
    "write",
    [
        lambda c: c.put(app("a1", "renamed")),
        lambda c: c.drop("a1"),
        lambda c: c.clear(),
        lambda c: c.drop("another app"),  # any write: the cache does not know what it touched
    ],
    ids=["put", "drop", "clear", "drop-other"],
)
def test_a_read_that_raced_a_write_does_not_fill(write: Callable[[AppCache], None]) -> None:
    cache = AppCache(10)
    generation = cache.generation  # the read starts
    write(cache)  # a write lands while the read is in the store
    cache.fill(app("a1", "old row"), generation)  # the read ends with what it saw
    held = cache.get("a1")
    assert held is None or held.app_name == "renamed"
    # the next read, started after the write, fills as usual
    cache.drop("a1")
    cache.fill(app("a1", "fresh"), cache.generation)
    assert cache.get("a1") == app("a1", "fresh")


def test_a_put_is_exact_at_once_and_a_stale_fill_cannot_undo_it() -> None:
    cache = AppCache(10)
    cache.fill(app("a1", "v1"), cache.generation)
    generation = cache.generation
    cache.put(app("a1", "v2"))
    cache.fill(app("a1", "v1"), generation)
    assert cache.get("a1") == app("a1", "v2")


def test_capacity_keeps_the_newest_and_zero_caches_nothing() -> None:
    cache = AppCache(2)
    for app_id in ("a1", "a2", "a3"):
        cache.fill(app(app_id), cache.generation)
    assert [cache.get(a) is not None for a in ("a1", "a2", "a3")] == [False, True, True]
    cache.put(app("a2", "v2"))  # replacing a held app evicts nothing
    assert cache.get("a3") == app("a3") and cache.get("a2") == app("a2", "v2")

    off = AppCache(0)
    off.fill(app("a1"), off.generation)
    off.put(app("a2"))
    assert off.get("a1") is None and off.get("a2") is None
