"""Issue 10 item 3: a limit holds on every path (REST, terminal messages and invites,
logins) whatever the per-app usage cache holds, on one node and across two."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.billing.test_limits_and_gateway_usage import limited_app, now_event, trans_cmd
from tests.cluster.conftest import nodes
from tests.conftest import Gateway, engine_settings, start_gateway
from tests.online.conftest import OnlineApp, Raw, raw_login
from tests.waiting import eventually

pytestmark = pytest.mark.anyio

CONSUMPTION = "consumption_limit: 1 yuan this month reached"
USE_LIMIT_5 = "use_limit of service 6: 5 this month reached"
USE_LIMIT_2 = "use_limit of service 6: 2 this month reached"


def message(to: str, body: str = "x") -> dict[str, Any]:
    return {"type": "message", "to_user_id": to, "body": body}


def invite(to: str, seq_id: int) -> dict[str, Any]:
    return {"type": "invite", "group_id": "g", "user_ids": [to], "seq_id": seq_id}


def on(app: OnlineApp, node: Gateway) -> OnlineApp:
    """The same app (and developer token) seen through another node."""
    ws_url = node.call("GET", "/v1/online/address")["result"]["ws_url"]
    return dataclasses.replace(app, gateway=node, ws_url=ws_url)


async def codes(sender: Raw, frames: list[dict[str, Any]]) -> list[tuple[int, str | None]]:
    out = []
    for frame in frames:
        reply = await sender.request(frame)
        out.append((reply["code"], reply.get("msg") if reply["code"] else None))
    return out


@pytest.fixture
def quick(tmp_path: Path, engine: str) -> Iterator[Gateway]:
    """A gateway of the test's own that flushes its signaling counts every 0.2 s."""
    for db in engine_settings(engine):
        yield from start_gateway(tmp_path / "q", usage_flush_interval=0.2, **db)


async def test_terminals_stop_at_the_consumption_limit_after_a_usage_write(
    gateway: Gateway,
) -> None:
    app, billed = limited_app(
        gateway,
        consumption_limit=1,
        service=[{"service_id": 5}, {"service_id": 6}, {"service_id": 7}],
    )
    a, _ = await raw_login(app, "a")
    b, _ = await raw_login(app, "b")
    assert await codes(a, [message("b")]) == [(0, None)]
    # 1.024 yuan of screen share: past the limit. No REST call comes between the
    # write and the terminals' requests (it would fill the cache for them).
    assert billed.usage([now_event("big", app.app_id, 4, 16 * 60_000)])["code"] == 0
    refused = (1000007, CONSUMPTION)
    assert await codes(a, [message("b", str(i)) for i in range(10)]) == [refused] * 10
    assert await codes(b, [invite("a", i) for i in range(3)]) == [refused] * 3
    late, reply = await raw_login(app, "late")
    assert (reply["code"], reply["msg"]) == refused
    assert trans_cmd(app) == {"code": 606000005, "msg": CONSUMPTION}
    for t in (a, b, late):
        await t.close()


async def test_a_signaling_use_limit_of_5_delivers_5(quick: Gateway) -> None:
    app, _ = limited_app(quick, service=[{"service_id": 6, "use_limit": 5}, {"service_id": 7}])
    a, _ = await raw_login(app, "a")
    b, _ = await raw_login(app, "b")
    replies = await codes(a, [message("b", str(i)) for i in range(30)])
    assert replies == [(0, None)] * 5 + [(1000007, USE_LIMIT_5)] * 25
    # counted and flushed: still refused once the counts are in the store
    assert await eventually(lambda: trans_cmd(app)["code"] == 606000005)
    assert await codes(b, [invite("a", 1), message("a")]) == [(1000007, USE_LIMIT_5)] * 2
    assert trans_cmd(app) == {"code": 606000005, "msg": USE_LIMIT_5}
    for t in (a, b):
        await t.close()


async def test_rest_signaling_counts_toward_the_use_limit_at_once(quick: Gateway) -> None:
    app, _ = limited_app(quick, service=[{"service_id": 6, "use_limit": 5}, {"service_id": 7}])
    u, _ = await raw_login(app, "u")
    assert [trans_cmd(app)["code"] for _ in range(8)] == [0] * 5 + [606000005] * 3
    assert await codes(u, [message("u")]) == [(1000007, USE_LIMIT_5)]
    await u.close()


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[list[Gateway]]:
    with nodes(tmp_path, 2, usage_flush_interval=0.2) as gateways:
        yield gateways


async def test_limits_hold_across_nodes(pair: list[Gateway]) -> None:
    zero, one = pair
    app0, billed = limited_app(
        zero,
        consumption_limit=1,
        service=[{"service_id": 5}, {"service_id": 6}, {"service_id": 7}],
    )
    app1 = on(app0, one)
    a, _ = await raw_login(app0, "a")
    b, _ = await raw_login(app1, "b")
    assert await codes(b, [message("a")]) == [(0, None)]
    # reported to node 0; node 1's terminal is refused once node 1 has heard of it,
    # and stays refused
    assert billed.usage([now_event("big", app0.app_id, 4, 16 * 60_000)])["code"] == 0

    async def refused() -> bool:
        return await codes(b, [message("a")]) == [(1000007, CONSUMPTION)]

    assert await eventually(refused)
    refused_10 = [(1000007, CONSUMPTION)] * 10
    assert await codes(b, [message("a", str(i)) for i in range(10)]) == refused_10
    assert await codes(a, [message("b", str(i)) for i in range(10)]) == refused_10
    for t in (a, b):
        await t.close()


async def test_a_signaling_use_limit_holds_across_nodes(pair: list[Gateway]) -> None:
    zero, one = pair
    app0, _ = limited_app(zero, service=[{"service_id": 6, "use_limit": 5}, {"service_id": 7}])
    app1 = on(app0, one)
    a, _ = await raw_login(app0, "a")
    b, _ = await raw_login(app1, "b")
    # a (node 0) to b (node 1): node 0 counts the receptions it delivered
    replies = await codes(a, [message("b", str(i)) for i in range(30)])
    assert replies == [(0, None)] * 5 + [(1000007, USE_LIMIT_5)] * 25
    # node 1 hears of them at node 0's next flush, and refuses from then on
    assert await eventually(lambda: trans_cmd(app1)["code"] == 606000005)
    assert (
        await codes(b, [message("a", str(i)) for i in range(10)]) == [(1000007, USE_LIMIT_5)] * 10
    )
    for t in (a, b):
        await t.close()


def reply(seq_id: int) -> dict[str, Any]:
    return {"type": "invite_reply", "group_id": "g", "seq_id": seq_id, "accept": True}


async def test_invite_replies_are_held_to_the_signaling_use_limit(quick: Gateway) -> None:
    app, _ = limited_app(quick, service=[{"service_id": 6, "use_limit": 2}, {"service_id": 7}])
    a, _ = await raw_login(app, "a")
    b, _ = await raw_login(app, "b")
    assert await codes(a, [invite("b", 1)]) == [(0, None)]  # one reception (b)
    got = await codes(b, [reply(1) for _ in range(6)])
    assert got[0] == (0, None)  # the second reception
    assert got[1:] == [(1000007, USE_LIMIT_2)] * 5
    for t in (a, b):
        await t.close()
