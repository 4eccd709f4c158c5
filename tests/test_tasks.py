"""hstgw.tasks: Background (held until done, failures heard, awaited at a stop) and
cancel (which a swallowed cancellation does not stop)."""

from __future__ import annotations

import asyncio

import pytest

from hstgw.tasks import Background, cancel


@pytest.mark.anyio
async def test_background_holds_tasks_until_done_and_reports_failures() -> None:
    failures: list[BaseException] = []
    tasks = Background(failures.append)
    gate = asyncio.Event()

    async def wait_then(fail: bool) -> None:
        await gate.wait()
        if fail:
            raise ValueError("boom")

    tasks.spawn(wait_then(False))
    tasks.spawn(wait_then(True))
    assert len(tasks) == 2
    gate.set()
    await tasks.wait()
    assert len(tasks) == 0
    assert [str(e) for e in failures] == ["boom"]


@pytest.mark.anyio
async def test_stop_lets_tasks_finish_within_the_grace_and_cancels_the_rest() -> None:
    bg = Background()
    quick_done = asyncio.Event()

    async def quick() -> None:
        await asyncio.sleep(0)  # one loop turn: it ends within the grace
        quick_done.set()

    never = asyncio.Event()
    slow = bg.spawn(never.wait())
    bg.spawn(quick())
    await bg.stop(0.2)
    assert quick_done.is_set()
    assert slow.cancelled()
    assert len(bg) == 0


@pytest.mark.anyio
async def test_cancel_sends_again_what_a_library_swallowed() -> None:
    swallowed = 0

    async def loop_that_swallows_once() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1  # as redis-py now and then does

    task = asyncio.create_task(loop_that_swallows_once())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel(task, None, every_s=0.05), 2)
    assert task.cancelled() and swallowed == 1
