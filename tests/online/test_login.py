"""Terminal login: every login code, mutex_type and force_login (design 5)."""

from __future__ import annotations

import asyncio
import re

import pytest

from hstgw.tokens.fsp import build
from tests.conftest import Gateway
from tests.online.conftest import OnlineApp, make_app, raw_login
from tests.waiting import eventually

pytestmark = pytest.mark.anyio


async def test_login_succeeds_and_tells_the_heartbeat(app: OnlineApp) -> None:
    raw, reply = await raw_login(app, "alice")
    resume = reply.pop("resume")
    assert re.fullmatch("[0-9a-f]{32}", resume), resume
    assert reply == {
        "type": "login_result",
        "seq": 1,
        "code": 0,
        "msg": "OK",
        "heartbeat_interval": 30.0,
        "protocol": 1,
        "resume_ttl": 86400,
    }
    await raw.close()


async def test_address_endpoint_names_the_terminal_port(app: OnlineApp) -> None:
    assert app.ws_url.startswith("ws://127.0.0.1:") and app.ws_url.endswith("/")
    assert app.ws_url != app.gateway.url.replace("http", "ws") + "/"


@pytest.mark.parametrize(
    ("case", "fields", "code"),
    [
        ("wrong secret", {"token": "WRONG_SECRET"}, 1000000),
        ("token of another user", {"token": "OTHER_USER"}, 1000000),
        ("token not 001", {"token": "garbage"}, 1000000),
        ("expired token", {"token": "EXPIRED"}, 1000000),
        ("unknown app", {"app_id": "f" * 32}, 1000001),
        ("user_id with space", {"user_id": "a b"}, 1000006),
        ("user_id too long", {"user_id": "u" * 129}, 1000006),
        ("bad mutex_type", {"mutex_type": "a/b"}, 1000101),
    ],
)
async def test_refused_logins(app: OnlineApp, case: str, fields: dict, code: int) -> None:
    tokens = {
        "WRONG_SECRET": lambda: build(app.app_id, "0123456789abcdef", uid="alice"),
        "OTHER_USER": lambda: build(app.app_id, app.app_secret, uid="bob"),
        "EXPIRED": lambda: build(app.app_id, app.app_secret, uid="alice", expire=1),
    }
    if fields.get("token") in tokens:
        fields = {"token": tokens[fields["token"]]()}
    raw, reply = await raw_login(app, "alice", **fields)
    assert reply["type"] == "login_result" and reply["code"] == code, reply
    await raw.conn.wait_closed()
    assert raw.conn.close_code == 4000
    await raw.close()


async def test_app_offline_and_without_online_service(gateway: Gateway) -> None:
    offline = make_app(gateway, status="offline")
    raw, reply = await raw_login(offline, "alice")
    assert reply["code"] == 1000002
    await raw.close()
    no_online = make_app(gateway, services=[3, 4])
    raw, reply = await raw_login(no_online, "alice")
    assert reply["code"] == 1000023
    await raw.close()


async def test_the_first_frame_must_be_a_login(app: OnlineApp) -> None:
    raw, reply = await raw_login(app, "alice", type="heartbeat")
    assert (reply["type"], reply["code"]) == ("login_result", 1000102)
    await raw.close()


async def test_one_terminal_per_user_and_mutex_type(app: OnlineApp) -> None:
    first, reply = await raw_login(app, "alice", client_guid="g1")
    assert reply["code"] == 0
    second, reply = await raw_login(app, "alice", client_guid="g2")
    assert reply["code"] == 1000008
    await second.close()
    other_kind, reply = await raw_login(app, "alice", mutex_type="windows", client_guid="g3")
    assert reply["code"] == 0  # other mutex types coexist

    forced, reply = await raw_login(app, "alice", client_guid="g4", force_login=True)
    assert reply["code"] == 0
    kicked = await first.expect("kicked")
    assert kicked["reason"] == "force_login" and kicked["msg"]
    await first.conn.wait_closed()
    assert first.conn.close_code == 4001
    await first.close()
    state = app.rest("GET", "/v1/online/user/state", params={"app_id": app.app_id, "msg_id": 1})
    online = {
        (u["mutex_type"], u["terminal_seq_num"]) for u in state["result"]["user_list"] if u["state"]
    }
    assert online == {("web", "g4"), ("windows", "g3")}
    for t in (forced, other_kind):
        await t.close()


async def test_online_service_use_limit_caps_concurrent_terminals(gateway: Gateway) -> None:
    token = gateway.access_token(gateway.new_dev())
    body = {
        "app_name": "capped",
        "status": "online",
        "service": [{"service_id": 7, "use_limit": 2}],
    }
    result = gateway.call("POST", "/v1/app", token, json=body)["result"]
    ws_url = gateway.call("GET", "/v1/online/address")["result"]["ws_url"]
    app = OnlineApp(gateway, token, result["app_id"], result["app_secret"], ws_url)
    one, _ = await raw_login(app, "one")
    two, _ = await raw_login(app, "two")
    three, reply = await raw_login(app, "three")
    assert (reply["code"], reply["msg"]) == (
        1000007,
        "use_limit of the online service: 2 concurrent terminals",
    )
    again, reply = await raw_login(app, "two", force_login=True)
    assert reply["code"] == 0  # takes its own place
    await one.close()
    assert await eventually(lambda: app.online("one") == 0)
    four, reply = await raw_login(app, "four")
    assert reply["code"] == 0
    for t in (two, three, again, four):
        await t.close()


async def test_concurrent_logins_of_one_user_and_mutex_type_let_exactly_one_in(
    app: OnlineApp,
) -> None:
    results = await asyncio.gather(
        *(raw_login(app, "racer", client_guid=f"g{i}") for i in range(10))
    )
    codes = sorted(reply["code"] for _, reply in results)
    assert codes == [0] + [1000008] * 9
    for raw, _ in results:
        await raw.close()
