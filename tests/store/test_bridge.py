"""The SQLite bridge: jobs on one worker thread, results back on the loop, and a
close that no job can outlive (a job offered during or after it is refused at once)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator

import pytest

from hstgw.store.bridge import SqliteBridge
from tests.waiting import eventually, eventually_sync

pytestmark = pytest.mark.anyio
NAME = "test-bridge"


def memory() -> sqlite3.Connection:
    return sqlite3.connect(":memory:", check_same_thread=False)


def worker_alive(name: str = NAME) -> bool:
    return any(t.name == name for t in threading.enumerate())


@pytest.fixture
async def bridge() -> AsyncIterator[SqliteBridge]:
    b = SqliteBridge(memory, NAME)
    await b.start()
    yield b
    await b.close()


async def test_jobs_run_in_order_on_the_worker_thread(bridge: SqliteBridge) -> None:
    await bridge.run(lambda c: c.execute("CREATE TABLE t (n INTEGER)"))
    futures = [
        bridge.run(lambda c, n=n: c.execute("INSERT INTO t VALUES (?)", (n,)).lastrowid)
        for n in range(50)
    ]
    assert await asyncio.gather(*futures) == list(range(1, 51))
    assert await bridge.run(lambda c: c.execute("SELECT n FROM t").fetchall()) == [
        (n,) for n in range(50)
    ]
    assert await bridge.run(lambda c: threading.current_thread().name) == NAME


async def test_a_failing_job_fails_only_its_own_awaiter(bridge: SqliteBridge) -> None:
    bad = bridge.run(lambda c: c.execute("SELECT * FROM missing"))
    good = bridge.run(lambda c: c.execute("SELECT 7").fetchone()[0])
    with pytest.raises(sqlite3.OperationalError, match="no such table: missing"):
        await bad
    assert await good == 7
    assert await bridge.run(lambda c: c.execute("SELECT 8").fetchone()[0]) == 8


async def test_a_cancelled_awaiter_does_not_stop_the_others(bridge: SqliteBridge) -> None:
    release = threading.Event()
    blocked = bridge.run(lambda c: release.wait(5))
    cancelled = bridge.run(lambda c: 1)
    after = bridge.run(lambda c: 2)
    cancelled.cancel()
    release.set()
    assert await blocked is True
    assert await after == 2


async def test_close_finishes_the_jobs_offered_before_it_and_closes_the_connection() -> None:
    conns: list[sqlite3.Connection] = []

    def connect() -> sqlite3.Connection:
        conns.append(memory())
        return conns[0]

    bridge = SqliteBridge(connect, NAME)
    await bridge.start()
    release = threading.Event()
    first = bridge.run(lambda c: release.wait(5))
    second = bridge.run(lambda c: c.execute("SELECT 2").fetchone()[0])
    closing = asyncio.ensure_future(bridge.close())
    release.set()
    await asyncio.wait_for(closing, 5)
    assert await first is True and await second == 2
    assert not worker_alive()
    with pytest.raises(sqlite3.ProgrammingError):
        conns[0].execute("SELECT 1")
    await bridge.close()  # a second close is harmless


async def test_run_offered_while_close_is_under_way_is_refused_at_once() -> None:
    """Regression: a job offered after the worker took the stop was never run, and its
    awaiter waited forever."""
    bridge = SqliteBridge(memory, NAME)
    await bridge.start()
    closing = asyncio.ensure_future(bridge.close())
    await asyncio.sleep(0)  # close() asks the worker to stop, then awaits the join (no wait)
    # Hold the loop (so close() cannot finish) until the worker has stopped.
    assert eventually_sync(lambda: not worker_alive())
    with pytest.raises(RuntimeError, match="not running"):
        await asyncio.wait_for(bridge.run(lambda c: 1), 2)
    await asyncio.wait_for(closing, 5)
    with pytest.raises(RuntimeError, match="not running"):
        bridge.run(lambda c: 1)


async def test_many_runs_racing_close_each_end_promptly() -> None:
    bridge = SqliteBridge(memory, NAME)
    await bridge.start()
    outcomes: list[str] = []

    async def caller() -> None:
        for _ in range(200):
            try:
                await asyncio.wait_for(bridge.run(lambda c: c.execute("SELECT 1")), 2)
            except RuntimeError:
                outcomes.append("refused")
                return
            await asyncio.sleep(0)  # one turn, so that close() interleaves
        outcomes.append("done")

    callers = [asyncio.ensure_future(caller()) for _ in range(4)]
    await asyncio.sleep(0)  # one turn: the callers start before close() does
    await bridge.close()
    await asyncio.wait_for(asyncio.gather(*callers), 5)  # TimeoutError here: a hang
    assert len(outcomes) == 4 and "refused" in outcomes


async def test_run_before_start_is_refused() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        SqliteBridge(memory, NAME).run(lambda c: 1)


async def test_a_failed_start_is_raised_and_leaves_nothing_to_hang_on() -> None:
    def broken() -> sqlite3.Connection:
        raise sqlite3.OperationalError("unable to open database file")

    bridge = SqliteBridge(broken, NAME)
    with pytest.raises(sqlite3.OperationalError, match="unable to open"):
        await bridge.start()
    assert await eventually(lambda: not worker_alive())
    with pytest.raises(RuntimeError, match="not running"):
        await asyncio.wait_for(bridge.run(lambda c: 1), 2)
    await asyncio.wait_for(bridge.close(), 2)


async def test_a_long_jobs_result_is_not_held_for_the_jobs_queued_behind_it(
    bridge: SqliteBridge,
) -> None:
    gate, release = threading.Event(), threading.Event()
    blocker = bridge.run(lambda c: gate.wait(5))  # so that the next two are taken together
    first = bridge.run(lambda c: time.sleep(0.01) or 1)
    second = bridge.run(lambda c: release.wait(5))
    gate.set()
    assert await blocker is True
    assert await asyncio.wait_for(first, 2) == 1  # while the second still runs
    assert not second.done()
    release.set()
    assert await second is True
