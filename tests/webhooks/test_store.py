"""Webhook rows on both engines: the secret sealed at rest, the cursor's
compare-and-set, a delivery and its cursor in one step, failing, purging."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hstgw.store import LimitReached, Store
from tests.webhooks.conftest import DEV, HOOK, delivery, hook

pytestmark = pytest.mark.anyio


async def test_create_get_list_and_the_secret_sealed(store: Store) -> None:
    await store.create_webhook(hook(), [("a" * 32, 7)], max_hooks=2)
    got = await store.get_webhook(HOOK)
    assert got == hook()
    assert got.wants(20100) and not got.wants(20102) and got.covers("a" * 32)
    [[stored]] = await store.run_sql(f"SELECT secret FROM webhooks WHERE webhook_id = '{HOOK}'")
    assert stored.startswith("v1:") and "whsec_secret" not in stored
    assert await store.webhook_cursor(HOOK, "a" * 32) == 7
    await store.create_webhook(hook("i" * 32, app_id=None), [], max_hooks=2)
    with pytest.raises(LimitReached):
        await store.create_webhook(hook("j" * 32), [], max_hooks=2)
    total, rows = await store.list_webhooks(DEV, 0, 1)
    assert total == 2 and [r.webhook_id for r in rows] == [HOOK]
    assert [h.webhook_id for h in await store.webhooks_for_app(DEV, "b" * 32)] == ["i" * 32]
    assert await store.webhooks_for_app("e" * 32, "a" * 32) == []
    assert not await store.delete_webhook("e" * 32, HOOK)  # not theirs
    assert await store.delete_webhook(DEV, HOOK)
    assert await store.get_webhook(HOOK) is None
    assert await store.webhook_cursor(HOOK, "a" * 32) is None


async def test_cursor_moves_only_from_where_it_is(store: Store) -> None:
    await store.create_webhook(hook(), [])
    app = "a" * 32
    assert await store.move_webhook_cursor(HOOK, app, None, 3)  # made by the first mover
    assert not await store.move_webhook_cursor(HOOK, app, None, 4)
    assert not await store.move_webhook_cursor(HOOK, app, 2, 4)
    assert await store.move_webhook_cursor(HOOK, app, 3, 4)
    assert await store.webhook_cursor(HOOK, app) == 4
    assert await store.webhook_cursors() == {(HOOK, app): 4}


async def test_delivered_moves_the_cursor_with_the_rows(store: Store) -> None:
    await store.create_webhook(hook(), [("a" * 32, 0)])
    row = delivery(1)
    await store.save_delivery(replace(row, attempts=1, latency_ms=12, response_code=500))
    pending = await store.pending_delivery(HOOK, "a" * 32, 1)
    assert pending is not None and (pending.attempts, pending.response_code) == (1, 500)
    done = replace(pending, status="delivered", attempts=2, latency_ms=3, response_code=200)
    assert not await store.finish_deliveries(HOOK, "a" * 32, 5, 1, [done])  # cursor is 0
    assert await store.pending_delivery(HOOK, "a" * 32, 1) == pending  # nothing written
    assert await store.finish_deliveries(HOOK, "a" * 32, 0, 1, [done])
    assert await store.webhook_cursor(HOOK, "a" * 32) == 1
    assert await store.pending_delivery(HOOK, "a" * 32, 1) is None
    total, [got] = await store.list_deliveries(HOOK, None, 0, 10)
    assert total == 1
    assert (got.status, got.attempts, got.latency_ms, got.response_code, got.last_error) == (
        "delivered",
        2,
        3,
        200,
        "",
    )
    assert await store.purge_deliveries(8) == 1
    assert (await store.list_deliveries(HOOK, "a" * 32, 0, 10))[0] == 0


async def test_several_deliveries_and_a_skip_in_one_write(store: Store) -> None:
    await store.create_webhook(hook(), [("a" * 32, 0)])
    rows = [replace(delivery(v, "d"), status="delivered", attempts=1) for v in (1, 2, 4)]
    assert not await store.finish_deliveries(HOOK, "a" * 32, 3, 5, rows)  # moved meanwhile
    assert (await store.list_deliveries(HOOK, None, 0, 10))[0] == 0
    assert await store.finish_deliveries(HOOK, "a" * 32, 0, 5, rows)  # (3 and 5 filtered)
    assert await store.webhook_cursor(HOOK, "a" * 32) == 5
    total, listed = await store.list_deliveries(HOOK, "a" * 32, 0, 10)
    assert total == 3 and sorted(r.version for r in listed) == [1, 2, 4]
    assert await store.finish_deliveries(HOOK, "a" * 32, 5, 6, [])  # a skip alone
    assert await store.webhook_cursor(HOOK, "a" * 32) == 6


async def test_failing_and_resume(store: Store) -> None:
    await store.create_webhook(hook(), [("a" * 32, 0)])
    row = delivery(1)
    await store.save_delivery(row)
    failed = replace(row, status="failed", attempts=9, latency_ms=10, last_error="timed out")
    await store.fail_delivery(failed)
    assert (await store.list_deliveries(HOOK, None, 0, 10))[1] == [failed]
    got = await store.get_webhook(HOOK)
    assert got is not None and got.status == "failing"
    assert await store.active_webhooks() == []
    assert await store.webhook_cursor(HOOK, "a" * 32) == 0  # the backlog is kept
    await store.resume_webhook(HOOK, "a" * 32, 5)
    got = await store.get_webhook(HOOK)
    assert got is not None and got.status == "active"
    assert await store.webhook_cursor(HOOK, "a" * 32) == 5
    assert await store.set_webhook_secret(DEV, HOOK, "whsec_new", "whsec_secret", 1000)
    got = await store.get_webhook(HOOK)
    assert got is not None and (got.secret, got.old_secret, got.old_secret_until) == (
        "whsec_new",
        "whsec_secret",
        1000,
    )
