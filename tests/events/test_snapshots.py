"""An app's groups read whole cost calls by their size, whatever the path asks
(``hstgw.events.snapshots``): a read of a few groups neither escapes it nor makes a large
app look small to the reads beside it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from hstgw.abuse import Guard, LocalBuckets, Rule, Rules
from hstgw.errors import SystemBusy
from hstgw.events.model import GroupSnapshot
from hstgw.events.snapshots import Snapshots
from tests.clocks import ManualClock

pytestmark = pytest.mark.anyio

OFF = Rule(0.0, 0)


class _App:
    """The feed of one app of 100 groups of 10 users: a read holds the groups it names;
    ``reads`` counts them."""

    def __init__(self) -> None:
        self.groups = {f"g{i:03d}": [f"u{u}" for u in range(10)] for i in range(100)}
        self.reads = 0

    async def snapshot(self, app_id: str, group_ids: Sequence[str] | None) -> GroupSnapshot:
        self.reads += 1
        await asyncio.sleep(0)  # (a store's read waits: reads beside it run meanwhile)
        names = (
            list(self.groups) if group_ids is None else [g for g in group_ids if g in self.groups]
        )
        return GroupSnapshot(
            app_id,
            1,
            [
                {
                    "group_id": g,
                    "group_media_list": [],
                    "user_list": [{"user_id": u, "media_info": []} for u in self.groups[g]],
                }
                for g in names
            ],
        )


def _guard() -> Guard:  # a developer's calls: 10 a second, bursts of 20 (time stands still)
    rules = Rules(OFF, OFF, OFF, Rule(10.0, 20), OFF, 0, OFF)
    return Guard(LocalBuckets(ManualClock()), rules)


async def test_a_large_apps_snapshots_cost_calls_by_their_size() -> None:
    snapshots = Snapshots(_App(), _guard())  # type: ignore[arg-type]  # (one app's feed)
    first = await snapshots.read("dev", "app", None)  # 1,100 entries: 11 calls, once read
    assert len(first.group_list) == 100
    # a read of a few groups costs what the last such read held (none: 9 left) ...
    assert len((await snapshots.read("dev", "app", ["g000", "nope"])).group_list) == 1
    # ... and does not make the app look small: the next read of it whole is refused
    with pytest.raises(SystemBusy):
        await snapshots.read("dev", "app", None)
    # a read naming every group costs a call a hundred names at least, then what it held
    every = list(_App().groups)
    snapshots = Snapshots(_App(), _guard())  # type: ignore[arg-type]
    await snapshots.read("dev", "app", every)  # 1 call for its names, 10 more once read
    with pytest.raises(SystemBusy):  # 11 before it reads
        await snapshots.read("dev", "app", every)
    # a first read past what the rate holds is read, and paid into debt: the next waits
    guard = _guard()
    snapshots = Snapshots(_App(), guard)  # type: ignore[arg-type]
    for _ in range(15):
        await guard.call("dev")
    assert len((await snapshots.read("dev", "app3", None)).group_list) == 100
    assert _tokens(guard) == 5 - 11
    with pytest.raises(SystemBusy):
        await snapshots.read("dev", "app3", None)


def _tokens(guard: Guard) -> float:
    return guard.buckets._buckets["c:dev"][0]  # type: ignore[attr-defined]


async def test_reads_side_by_side_take_turns_each_charged_by_the_one_before() -> None:
    """Reads of an app naming groups, sent together: side by side, each was charged by
    an older read's size (a tiny read finishing last made the big ones look free, and
    60 of them stalled the node). They take turns: each is charged, before it reads, by
    the one before it; what a read held beyond its charge is paid once read, into debt."""
    app, guard = _App(), _guard()
    snapshots = Snapshots(app, guard)  # type: ignore[arg-type]
    await snapshots.read("dev", "app", ["nope"])  # known: nothing
    big = list(app.groups)[:99]  # 99 groups of 10 users: 1,089 entries, 10 calls
    reads = [snapshots.read("dev", "app", big) for _ in range(5)]
    results = await asyncio.gather(
        *reads, snapshots.read("dev", "app", ["nope"]), return_exceptions=True
    )
    # the first: 0 before (the tiny read's size), 10 once read; the second 10 before;
    # the rest (and the tiny one, charged by the big one before it) refused, unread
    assert [isinstance(r, SystemBusy) for r in results] == [False, False] + [True] * 4
    assert app.reads == 3
    assert _tokens(guard) == 20 - 2 * 10
    assert not snapshots._turns  # (nothing kept once no read waits)


async def test_a_refused_read_keeps_its_size_and_reads_nothing() -> None:
    """A read refused before it reads leaves the app's size known: the next is charged
    before it reads too (it was read for one call, every other time, when forgotten)."""
    app = _App()
    snapshots = Snapshots(app, _guard())  # type: ignore[arg-type]
    await snapshots.read("dev", "app", None)  # 11 calls once read: 9 left
    for _ in range(5):
        with pytest.raises(SystemBusy):
            await snapshots.read("dev", "app", None)
    assert app.reads == 1


async def test_reads_beside_a_first_one_wait_for_its_size() -> None:
    """Reads of an app whose size is not known yet, side by side: one reads, the others
    are charged by its size before they read (not each read for nothing)."""
    app = _App()
    snapshots = Snapshots(app, _guard())  # type: ignore[arg-type]
    results = await asyncio.gather(
        *(snapshots.read("dev", "app", None) for _ in range(10)), return_exceptions=True
    )
    # the first: 11 calls once read (9 left); none of the others can pay its 11 before
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, SystemBusy) for r in results if isinstance(r, BaseException))
    assert app.reads == 1
