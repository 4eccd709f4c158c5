"""Deliveries written behind the chain (recorder.py) on both engines: many deliveries in
one write, nothing written when the cursor moved, a failed write kept for the next."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from hstgw.store import DeliveryRow, Store
from hstgw.webhooks.recorder import Recorder
from tests.webhooks.conftest import HOOK, delivery, hook

pytestmark = pytest.mark.anyio
APP = "a" * 32


def delivered(version: int) -> DeliveryRow:
    return replace(delivery(version, "r"), status="delivered", attempts=1, response_code=200)


async def test_what_is_done_meanwhile_goes_in_the_next_write(store: Store) -> None:
    await store.create_webhook(hook(), [(APP, 0)])
    recorder = Recorder(store, HOOK, APP, 0)
    writes = 0
    finish = store.finish_deliveries

    async def counted(*args: object) -> bool:
        nonlocal writes
        writes += 1
        return await finish(*args)  # type: ignore[arg-type]

    store.finish_deliveries = counted  # type: ignore[method-assign]
    for version in range(1, 51):
        recorder.done(version, delivered(version))
    recorder.done(52, None)  # 51 and 52 passed over by a filter
    assert recorder.cursor == 52 and recorder.durable == 0  # not written yet
    assert await recorder.flush()
    assert recorder.durable == 52 and recorder.unwritten == 0
    assert writes == 1  # all done before the writer ran: one write
    assert await store.webhook_cursor(HOOK, APP) == 52
    recorder.done(53, delivered(53))
    await asyncio.sleep(0)  # the writer starts writing 53
    for version in range(54, 61):
        recorder.done(version, delivered(version))  # done while 53 is written
    assert await recorder.flush()
    assert writes == 3 and await store.webhook_cursor(HOOK, APP) == 60
    total, rows = await store.list_deliveries(HOOK, APP, 0, 100)
    assert total == 58 and {r.status for r in rows} == {"delivered"}


async def test_a_moved_cursor_writes_nothing(store: Store) -> None:
    await store.create_webhook(hook(), [(APP, 0)])
    recorder = Recorder(store, HOOK, APP, 0)
    await store.resume_webhook(HOOK, APP, 7)  # a redelivery, asked for meanwhile
    recorder.done(1, delivered(1))
    recorder.done(2, delivered(2))
    assert not await recorder.flush()
    assert recorder.moved and recorder.unwritten == 0
    recorder.done(3, delivered(3))
    assert not await recorder.flush()  # (stays moved: the chain starts again)
    assert await store.webhook_cursor(HOOK, APP) == 7
    assert (await store.list_deliveries(HOOK, APP, 0, 10))[0] == 0


async def test_a_failed_write_is_raised_and_tried_again(store: Store) -> None:
    await store.create_webhook(hook(), [(APP, 0)])
    recorder = Recorder(store, HOOK, APP, 0)
    finish = store.finish_deliveries
    failures = 1

    async def flaky(*args: object) -> bool:
        nonlocal failures
        if failures:
            failures -= 1
            await asyncio.sleep(0)
            raise ConnectionError("store away")
        return await finish(*args)  # type: ignore[arg-type]

    store.finish_deliveries = flaky  # type: ignore[method-assign]
    recorder.done(1, delivered(1))
    with pytest.raises(ConnectionError):
        await recorder.flush()
    assert recorder.unwritten == 1 and recorder.durable == 0  # kept
    assert await recorder.flush()  # the next flush writes it
    assert await store.webhook_cursor(HOOK, APP) == 1
    assert (await store.list_deliveries(HOOK, APP, 0, 10))[0] == 1
