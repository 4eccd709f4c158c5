"""UsageCounters: a flush whose write fails keeps its counts for the next flush (billing
loses none and counts none twice), and counts made meanwhile are kept too."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from zoneinfo import ZoneInfo

import pytest

from hstgw.online.usage import UsageCounters
from hstgw.store import OnlineUsage

pytestmark = pytest.mark.anyio
UTC = ZoneInfo("UTC")
DAY1 = 1_796_083_200_000  # 2026-12-01T00:00:00Z
DAY2 = DAY1 + 86_400_000


class Sink:
    """Records what each flush wrote; fails while ``failing`` is set, or waits on ``gate``."""

    def __init__(self) -> None:
        self.written: list[tuple[list[OnlineUsage], dict[tuple[str, str], tuple[int, int]]]] = []
        self.failing = False
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def __call__(
        self, rows: list[OnlineUsage], spans: Mapping[tuple[str, str], tuple[int, int]]
    ) -> None:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.failing:
            raise ConnectionError("the store is away")
        self.written.append((rows, dict(spans)))


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def counters(sink: Sink, clock: Clock) -> UsageCounters:
    return UsageCounters(sink, UTC, clock)


async def test_a_flush_writes_each_app_and_day_once() -> None:
    sink, clock = Sink(), Clock(DAY1 + 1000)
    usage = counters(sink, clock)
    usage.received("a1", 2)
    usage.terminals("a1", 3)
    clock.ms += 500
    usage.received("a1")
    usage.terminals("a1", 2)  # not a new peak
    usage.received("a2", 5)
    await usage.flush()
    assert sink.written == [
        (
            [OnlineUsage("a1", "2026-12-01", 3, 3), OnlineUsage("a2", "2026-12-01", 5, 0)],
            {
                ("a1", "2026-12-01"): (DAY1 + 1000, DAY1 + 1500),
                ("a2", "2026-12-01"): (DAY1 + 1500,) * 2,
            },
        )
    ]
    await usage.flush()  # nothing new: nothing written
    assert len(sink.written) == 1
    assert usage.pending_signaling("a1", "2026-12") == 0


async def test_a_failed_flush_keeps_its_counts_for_the_next_none_lost_none_doubled() -> None:
    sink, clock = Sink(), Clock(DAY1 + 1000)
    usage = counters(sink, clock)
    usage.received("a1", 4)
    usage.terminals("a1", 5)
    usage.received("a2", 1)
    sink.failing = True
    with pytest.raises(ConnectionError):
        await usage.flush()
    assert sink.written == []
    assert usage.pending_signaling("a1", "2026-12") == 4  # billing's limits still count them

    clock.ms += 2000
    usage.received("a1", 6)  # counted after the failure, before the next flush
    usage.terminals("a1", 2)
    sink.failing = False
    await usage.flush()
    assert sink.written == [
        (
            [OnlineUsage("a1", "2026-12-01", 10, 5), OnlineUsage("a2", "2026-12-01", 1, 0)],
            {
                ("a1", "2026-12-01"): (DAY1 + 1000, DAY1 + 3000),
                ("a2", "2026-12-01"): (DAY1 + 1000,) * 2,
            },
        )
    ]
    assert usage.pending_signaling("a1", "2026-12") == 0
    await usage.flush()
    assert len(sink.written) == 1  # not written a second time


async def test_counts_made_during_a_failing_flush_are_neither_lost_nor_doubled() -> None:
    sink, clock = Sink(), Clock(DAY1 + 1000)
    usage = counters(sink, clock)
    usage.received("a1", 3)
    usage.terminals("a1", 1)
    sink.gate, sink.failing = asyncio.Event(), True
    flushing = asyncio.ensure_future(usage.flush())
    await asyncio.wait_for(sink.entered.wait(), 2)
    # while the write is in flight, its counts are pending, as are the new ones
    clock.ms = DAY2 + 10  # and a new day begins
    usage.received("a1", 2)
    usage.terminals("a1", 7)
    assert usage.pending_signaling("a1", "2026-12") == 5
    sink.gate.set()
    with pytest.raises(ConnectionError):
        await flushing
    assert usage.pending_signaling("a1", "2026-12") == 5

    sink.gate, sink.failing = None, False
    await usage.flush()
    assert sink.written == [
        (
            [OnlineUsage("a1", "2026-12-01", 3, 1), OnlineUsage("a1", "2026-12-02", 2, 7)],
            {("a1", "2026-12-01"): (DAY1 + 1000,) * 2, ("a1", "2026-12-02"): (DAY2 + 10,) * 2},
        )
    ]
    assert usage.pending_signaling("a1", "2026-12") == 0


async def test_several_failed_flushes_in_a_row_still_write_each_count_once() -> None:
    sink, clock = Sink(), Clock(DAY1)
    usage = counters(sink, clock)
    sink.failing = True
    for _ in range(3):
        usage.received("a1")
        with pytest.raises(ConnectionError):
            await usage.flush()
    sink.failing = False
    await usage.flush()
    assert [rows for rows, _ in sink.written] == [[OnlineUsage("a1", "2026-12-01", 3, 0)]]
