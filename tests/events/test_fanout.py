"""Fanout: each event told once, in version order per app, whatever order and way it
arrives (a node's own commits, other nodes' broadcasts, reads of what was missed)."""

from __future__ import annotations

import pytest

from hstgw.events.fanout import Fanout
from hstgw.events.model import Event, EventId
from hstgw.tasks import Background
from tests.waiting import eventually

pytestmark = pytest.mark.anyio


def ev(app: str, version: int) -> Event:
    return Event(app, version, EventId.TERMINAL_ONLINE, 0, {"user_id": f"u{version}"})


class Store:
    """The store's events, read as ``EventFeed.after`` reads them."""

    def __init__(self, upto: dict[str, int], pruned: int = 0) -> None:
        self.upto = upto
        self.pruned = pruned
        self.reads: list[tuple[str, int, int]] = []

    async def after(self, app: str, version: int, limit: int) -> list[Event] | None:
        self.reads.append((app, version, limit))
        if version < self.pruned:
            return None
        return [ev(app, v) for v in range(version + 1, min(self.upto[app], version + limit) + 1)]


async def told(store: Store, heard: dict[str, int] | None = None) -> tuple[Fanout, list[Event]]:
    fanout = Fanout(store.after, Background())
    got: list[Event] = []
    fanout.listen(got.append)
    fanout.start(heard or {})
    return fanout, got


async def test_in_order_events_are_told_at_once_without_a_read() -> None:
    store = Store({"a": 3})
    fanout, got = await told(store)
    fanout.offer([ev("a", 1), ev("a", 2)])
    fanout.offer([ev("a", 2), ev("a", 3)])  # 2 again: told once
    assert [e.version for e in got] == [1, 2, 3]
    assert store.reads == []


async def test_a_gap_is_read_from_the_store_and_told_in_order() -> None:
    store = Store({"a": 5, "b": 1})
    fanout, got = await told(store)
    fanout.offer([ev("a", 1)])
    fanout.offer([ev("b", 1), ev("a", 5)])  # 2..4 were another node's, not heard
    assert [(e.app_id, e.version) for e in got] == [("a", 1), ("b", 1)]
    assert await eventually(lambda: len(got) == 6)
    assert [e.version for e in got if e.app_id == "a"] == [1, 2, 3, 4, 5]
    assert store.reads == [("a", 1, 1000)]


async def test_a_version_reached_without_its_events_is_read() -> None:
    store = Store({"a": 3})
    fanout, got = await told(store)
    fanout.reached("a", 3)
    assert await eventually(lambda: len(got) == 3)
    fanout.reached("a", 2)  # old news
    assert [e.version for e in got] == [1, 2, 3]


async def test_the_start_is_what_was_heard_before_it() -> None:
    """A node tells what happens from its start, not the history before it; what
    arrived before the start's versions were read waits for them."""
    store = Store({"a": 12})
    fanout = Fanout(store.after, Background())
    got: list[Event] = []
    fanout.listen(got.append)
    fanout.offer([ev("a", 10), ev("a", 11)])  # arrived while the versions were read
    fanout.start({"a": 10})
    assert [e.version for e in got] == [11]
    fanout.offer([ev("a", 12)])
    assert [e.version for e in got] == [11, 12]
    assert store.reads == []


async def test_pruned_events_are_skipped_not_waited_for() -> None:
    store = Store({"a": 9}, pruned=5)
    fanout, got = await told(store, {"a": 1})
    fanout.offer([ev("a", 8), ev("a", 9)])  # 2..7 no longer kept
    assert await eventually(lambda: len(got) == 2)
    assert [e.version for e in got] == [8, 9]


async def test_a_failing_listener_does_not_starve_the_others() -> None:
    store = Store({"a": 2})
    fanout, got = await told(store)

    def broken(e: Event) -> None:
        raise RuntimeError("bug")

    fanout.listen(broken)
    also: list[Event] = []
    stop = fanout.listen(also.append)
    fanout.offer([ev("a", 1)])
    stop()
    fanout.offer([ev("a", 2)])
    assert [e.version for e in got] == [1, 2]
    assert [e.version for e in also] == [1]
