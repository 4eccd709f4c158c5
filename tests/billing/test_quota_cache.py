"""The limits' per-app cache: read once for all who wait, never "allowed" for a missing
entry, no store round trip while warm, and a change during a read is not lost."""

from __future__ import annotations

import asyncio
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest

from hstgw.billing.quota import Quota
from hstgw.billing.rating import month_of
from hstgw.ids import now_ms
from hstgw.store import App, AppService, Store
from tests.waiting import eventually

pytestmark = pytest.mark.anyio

APP = App(
    app_id="a" * 32,
    dev_id="d" * 32,
    app_name="x",
    app_secret="s" * 16,
    status="online",
    consumption_limit=1,
    services=(AppService(6, 5), AppService(7)),
    created_at=0,
    updated_at=0,
)


class CountingStore:
    """The one store method limits use, counting its calls; each read waits for ``gate``."""

    def __init__(self) -> None:
        self.reads = 0
        self.use: dict[int, tuple[int, int]] = {}
        self.gate = asyncio.Event()
        self.gate.set()

    async def month_usage(self, app_id: str, month: str) -> dict[int, tuple[int, int]]:
        self.reads += 1
        seen = dict(self.use)
        await self.gate.wait()
        return seen


def limits_on(store: CountingStore) -> Quota:
    return Quota(cast(Store, store), ZoneInfo("Asia/Shanghai"), now_ms)


async def test_a_missing_entry_is_read_once_for_every_waiter() -> None:
    store = CountingStore()
    limits = limits_on(store)
    store.use = {6: (0, 1_000_000)}  # 1 yuan: at the consumption limit
    store.gate.clear()
    checks = [asyncio.ensure_future(limits.signaling_refusal(APP)) for _ in range(50)]
    assert await eventually(lambda: store.reads == 1)
    store.gate.set()
    refusals = await asyncio.gather(*checks)
    assert refusals == ["consumption_limit: 1 yuan this month reached"] * 50
    assert store.reads == 1
    # warm: no more reads
    for _ in range(100):
        assert await limits.signaling_refusal(APP) is not None
    assert store.reads == 1


async def test_a_dropped_entry_is_read_again_not_allowed() -> None:
    store = CountingStore()
    limits = limits_on(store)
    assert await limits.signaling_refusal(APP) is None
    store.use = {6: (5, 0)}
    limits.forget([APP.app_id])
    assert await limits.signaling_refusal(APP) == "use_limit of service 6: 5 this month reached"
    assert store.reads == 2


async def test_a_change_during_a_read_is_read_again() -> None:
    store = CountingStore()
    limits = limits_on(store)
    store.gate.clear()
    check = asyncio.ensure_future(limits.signaling_refusal(APP))
    assert await eventually(lambda: store.reads == 1)  # the read has seen nothing used
    store.use = {6: (5, 0)}
    limits.drop([APP.app_id])  # ... and the use changed meanwhile
    store.gate.set()
    assert await check == "use_limit of service 6: 5 this month reached"
    assert store.reads == 2


async def test_pending_receptions_count_toward_the_signaling_use_limit() -> None:
    store = CountingStore()
    limits = limits_on(store)
    pending: dict[tuple[str, str], int] = {}
    limits.pending_signaling = lambda app_id, month: pending.get((app_id, month), 0)
    store.use = {6: (3, 0)}
    assert await limits.signaling_refusal(APP) is None
    month = month_of(limits.clock(), limits.zone)
    pending[(APP.app_id, month)] = 2
    assert await limits.signaling_refusal(APP) == "use_limit of service 6: 5 this month reached"
    assert await limits.refused_services(APP) == [6]
    assert store.reads == 1


async def test_a_failed_read_refuses_with_its_error_and_is_retried() -> None:
    store = CountingStore()
    limits = limits_on(store)
    failing: Any = store.month_usage

    async def broken(app_id: str, month: str) -> dict[int, tuple[int, int]]:
        raise ConnectionError("store away")

    store.month_usage = broken  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await limits.signaling_refusal(APP)
    store.month_usage = failing  # type: ignore[method-assign]
    assert await limits.signaling_refusal(APP) is None
