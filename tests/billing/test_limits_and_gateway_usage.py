"""Quota held on the hot paths, and the gateway's own usage becoming records."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from hstgw.gateway import Gateway as Core
from hstgw.ids import now_ms
from hstgw.settings import Settings
from hstgw.store import open_store
from hstgw.tokens.fsp import build
from tests.billing.conftest import Billed
from tests.conftest import Gateway, engine_settings, start_gateway
from tests.online.conftest import OnlineApp, raw_login
from tests.waiting import eventually

pytestmark = pytest.mark.anyio


def limited_app(gateway: Gateway, **fields: Any) -> tuple[OnlineApp, Billed]:
    dev = gateway.new_dev()
    token = gateway.access_token(dev)
    body = {"app_name": "limited", "status": "online", **fields}
    result = gateway.call("POST", "/v1/app", token, json=body)["result"]
    ws = gateway.call("GET", "/v1/online/address")["result"]["ws_url"]
    app = OnlineApp(gateway, token, result["app_id"], result["app_secret"], ws)
    billed = Billed(gateway, token, app.app_id, app.app_id, gateway.new_node())
    billed.dev = dev  # type: ignore[attr-defined]  # to take a new token after a clock jump
    return app, billed


def peaks_counted(gateway: Gateway, app_id: str) -> int:
    """How many days of ``app_id`` have a peak of terminals in the store (flushed)."""

    async def read() -> int:
        store = open_store(gateway.settings)
        await store.open()
        try:
            return sum(u.peak_terminals > 0 for u in await store.online_usage(app_id))
        finally:
            await store.close()

    with ThreadPoolExecutor(1) as pool:  # its own loop: callers are inside a running one
        return pool.submit(asyncio.run, read()).result()


def now_event(event_id: str, app_id: str, term: int, ms: int = 0, **kw: Any) -> dict[str, Any]:
    """A usage event of ``ms`` that ended now, or, in a month's first ``ms``, that began
    as the month did (in the default zone): the limits count this month's use."""
    now = now_ms()
    zone = Settings(_env_file=None).zone  # (the zone the tests' gateways run in)
    month = datetime.fromtimestamp(now / 1000, zone).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    start = max(now - ms, int(month.timestamp() * 1000))
    return {
        "event_id": f"{event_id}.{app_id[:16]}",  # unique per node key
        "app_id": app_id,
        "charge_term": term,
        "start_time": start,
        "end_time": start + ms,
        **kw,
    }


def trans_cmd(app: OnlineApp) -> dict[str, Any]:
    return app.rest(
        "POST",
        "/v1/online/trans-cmd",
        json={
            "app_id": app.app_id,
            "msg_id": 1,
            "trans_mess": {},
            "user_list": [{"user_id": "u", "mutex_type": "web", "client_guid": ""}],
        },
    )


def limits(billed: Billed) -> list[int]:
    reply = billed.gateway.call(
        "GET",
        "/internal/v1/limits",
        params={"app_id": billed.app_id},
        headers={"Authorization": f"Bearer {billed.node_key}"},
    )
    return list(reply["result"]["refused_services"])


async def test_past_the_consumption_limit_logins_and_signaling_are_refused(
    gateway: Gateway,
) -> None:
    app, billed = limited_app(
        gateway,
        consumption_limit=1,
        service=[{"service_id": 5}, {"service_id": 6}, {"service_id": 7}],
    )
    early, reply = await raw_login(app, "early")
    assert reply["code"] == 0 and trans_cmd(app)["code"] == 0
    assert limits(billed) == []
    # 16 minutes of screen share at 0.064 a minute: 1.024 yuan, past the 1 yuan limit
    assert billed.usage([now_event("big", app.app_id, 4, 16 * 60_000)])["code"] == 0
    msg = "consumption_limit: 1 yuan this month reached"
    late, reply = await raw_login(app, "late")
    assert (reply["code"], reply["msg"]) == (1000007, msg)
    assert trans_cmd(app) == {"code": 606000005, "msg": msg}
    invite = app.rest(
        "POST",
        "/v1/online/invite",
        json={"app_id": app.app_id, "group_id": "g", "user_id_list": ["early"], "seq_id": 1},
    )
    assert invite == {"code": 606000005, "msg": msg}
    assert limits(billed) == [5, 6, 7]
    # raising the limit lets them in again
    app.rest("PATCH", "/v1/app", json={"app_id": app.app_id, "consumption_limit": 2})
    again, reply = await raw_login(app, "again")
    assert reply["code"] == 0
    for t in (early, late, again):
        await t.close()


async def test_signaling_use_limit(gateway: Gateway) -> None:
    app, billed = limited_app(
        gateway, service=[{"service_id": 6, "use_limit": 100}, {"service_id": 7}]
    )
    a, _ = await raw_login(app, "a")
    b, _ = await raw_login(app, "b")
    assert billed.usage([now_event("sig", app.app_id, 6, total_sig_num=100)])["code"] == 0
    msg = "use_limit of service 6: 100 this month reached"
    assert trans_cmd(app) == {"code": 606000005, "msg": msg}
    refused = await a.request({"type": "message", "to_user_id": "b", "body": "x"})
    assert (refused["code"], refused["msg"]) == (1000007, msg)
    c, reply = await raw_login(app, "c")  # logins only answer to the consumption limit
    assert reply["code"] == 0
    assert limits(billed) == [6]
    for t in (a, b, c):
        await t.close()


def test_minutes_use_limit_of_a_time_based_service(gateway: Gateway) -> None:
    app, billed = limited_app(
        gateway, service=[{"service_id": 3, "use_limit": 1}, {"service_id": 4}]
    )
    billed.usage([now_event("v", app.app_id, 2, 59_000, resolution="640*480")])
    assert limits(billed) == []
    billed.usage([now_event("v2", app.app_id, 2, 1_000, resolution="640*480")])
    assert limits(billed) == [3]  # 60 s: the 1 minute is used


@pytest.fixture
def quick(tmp_path: Path, engine: str) -> Iterator[Gateway]:
    for db in engine_settings(engine):
        yield from start_gateway(
            tmp_path / "q", usage_flush_interval=0.2, heartbeat_interval=0.4, **db
        )


async def test_signaling_deliveries_become_term_6_records(quick: Gateway) -> None:
    app, billed = limited_app(quick, service=[{"service_id": 6}, {"service_id": 7}])
    a, _ = await raw_login(app, "a")
    b, _ = await raw_login(app, "b")
    for i in range(3):
        await a.request({"type": "message", "to_user_id": "b", "body": str(i)})
    trans_cmd(app)  # to nobody online: no reception
    app.rest(
        "POST",
        "/v1/online/trans-cmd",
        json={
            "app_id": app.app_id,
            "msg_id": 2,
            "trans_mess": {},
            "user_list": [
                {"user_id": u, "mutex_type": "web", "client_guid": ""} for u in ("a", "b")
            ],
        },
    )

    def records() -> list[dict[str, Any]]:
        day = now_ms()
        found: list[dict[str, Any]] = billed.records(start_time=day - 86_400_000, end_time=day)[
            "result"
        ]["records"]
        return found

    def signaling() -> int:  # rated by the periodic flush (every 0.2 s)
        return sum(r["total_sig_num"] for r in records() if r["charge_term"] == 6)

    assert await eventually(lambda: signaling() == 5), records()
    assert all(r["product_name"] == "信令通道服务" and r["amount"] == 0 for r in records())
    for t in (a, b):
        await t.close()


async def test_daily_peaks_become_term_7_records_once_the_day_is_over(quick: Gateway) -> None:
    app, billed = limited_app(quick, service=[{"service_id": 7}])
    terminals = [(await raw_login(app, f"p{i}"))[0] for i in range(3)]
    for t in terminals:
        await t.close()
    # the day's peak is flushed to the store, and not rated while the day lasts
    assert await eventually(lambda: peaks_counted(quick, app.app_id) == 1)
    window = {"start_time": now_ms() - 86_400_000, "end_time": now_ms()}
    reply = billed.records(**window)
    assert [r for r in reply["result"]["records"] if r["charge_term"] == 7] == [], reply
    quick.clock.advance(86_400)  # tomorrow: yesterday's peak is final
    billed.token = quick.access_token(billed.dev)  # type: ignore[attr-defined]

    def peaks() -> list[dict[str, Any]]:
        found = billed.records(start_time=now_ms() - 2 * 86_400_000, end_time=now_ms())
        return [r for r in found["result"]["records"] if r["charge_term"] == 7]

    assert await eventually(peaks)  # rated by the next flush
    [peak] = peaks()
    assert peak["quantity"] == 3 and peak["product_id"] == 7
    # a later flush (made to happen: a terminal of the new day is counted) does not
    # rate the day again
    token = build(app.app_id, app.app_secret, uid="later", now_ms=quick.clock())
    later, reply = await raw_login(app, "later", token=token)
    assert reply["code"] == 0
    await later.close()
    assert await eventually(lambda: peaks_counted(quick, app.app_id) == 2)
    assert len(peaks()) == 1


async def test_counts_survive_a_restart_once(tmp_path: Path, engine: str) -> None:
    """What was counted when the gateway stops is in the store, once, after it starts again."""
    db = engine_settings(engine)
    settings = Settings(data_dir=tmp_path, terminal_port=0, usage_flush_interval=60, **next(db))
    core = Core(settings)
    await core.start()
    dev = await core.developers.create()
    from hstgw.apps import CreateApp

    app = await core.apps.create(
        dev.dev_id, CreateApp.model_validate({"app_name": "a", "service": [{"service_id": 6}]})
    )
    core.usage.received(app.app_id, 7)
    core.usage.terminals(app.app_id, 4)
    await core.stop()
    for _ in range(2):  # restart twice: nothing is added again
        core = Core(settings)
        await core.start()
        await core.stop()
    core = Core(settings)
    await core.start()
    try:
        total, rows = await core.store.list_records(dev.dev_id, 0, now_ms() + 1, None, 0, 100)
        assert total == 1
        assert [(r.charge_term, r.total_sig_num) for r in rows] == [(6, 7)]
        [usage] = await core.store.online_usage(app.app_id)
        assert (usage.signaling, usage.peak_terminals) == (7, 4)
    finally:
        await core.stop()
        next(db, None)  # drops the test's schema
