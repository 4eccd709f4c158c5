"""The REST endpoints that act on terminals: kickout, user state, trans-cmd, invite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hstgw.abuse import LocalBuckets
from hstgw.online.registry import Offline
from tests.conftest import start_gateway
from tests.online.conftest import OnlineApp, make_app, raw_login
from tests.waiting import eventually

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sessions", "find"])
def lookup(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """How trans-cmd finds its targets: a node alone looks its sessions up itself
    (``Presence.alone``); a cluster's presence, where it is not, through ``find`` and
    a delivery per node. The results are the same."""
    if request.param == "find":
        from hstgw.online.presence import LocalPresence

        monkeypatch.setattr(LocalPresence, "alone", False)
    return str(request.param)


def state(app: OnlineApp, **params: Any) -> dict[str, Any]:
    reply = app.rest(
        "GET", "/v1/online/user/state", params={"app_id": app.app_id, "msg_id": 42, **params}
    )
    assert reply["code"] == 0, reply
    result: dict[str, Any] = reply["result"]
    return result


async def test_user_state_lists_every_terminal_and_keeps_the_offline(app: OnlineApp) -> None:
    a_web, _ = await raw_login(app, "a", company_id="c1", client_guid="a-web")
    a_pc, _ = await raw_login(app, "a", company_id="c1", mutex_type="windows", client_guid="a-pc")
    b, _ = await raw_login(app, "b", company_id="c2", client_guid="b-web")
    await a_pc.request({"type": "logout"})
    assert await eventually(lambda: app.online("a") == 1)
    result = state(app)
    assert (result["msg_id"], result["total"], result["page"], result["page_size"]) == (
        42,
        3,
        1,
        100,
    )
    assert result["user_list"] == [
        {"state": 1, "user_id": "a", "terminal_seq_num": "a-web", "mutex_type": "web"},
        {"state": 0, "user_id": "a", "terminal_seq_num": "a-pc", "mutex_type": "windows"},
        {"state": 1, "user_id": "b", "terminal_seq_num": "b-web", "mutex_type": "web"},
    ]
    assert [u["user_id"] for u in state(app, company_id="c2")["user_list"]] == ["b"]
    assert {u["terminal_seq_num"] for u in state(app, user_ids="a")["user_list"]} == {
        "a-web",
        "a-pc",
    }
    assert state(app, user_ids="a,b", page=2, page_size=2)["user_list"][0]["user_id"] == "b"
    # a terminal that logs in again replaces its offline entry
    a_pc2, _ = await raw_login(app, "a", company_id="c1", mutex_type="windows", client_guid="a-pc2")
    assert [u["state"] for u in state(app, user_ids="a")["user_list"]] == [1, 1]
    for t in (a_web, a_pc, b, a_pc2):
        await t.close()


async def test_kickout_closes_the_users_terminals_telling_them_why(app: OnlineApp) -> None:
    web, _ = await raw_login(app, "k", client_guid="w")
    pc, _ = await raw_login(app, "k", mutex_type="windows", client_guid="p")
    reply = app.rest(
        "POST", "/v1/kickout", json={"app_id": app.app_id, "user_id": "k", "mutex_type": "windows"}
    )
    assert reply == {"code": 0, "msg": "OK", "result": {"kicked": 1}}
    kicked = await pc.expect("kicked")
    assert kicked["reason"] == "kickout"
    await pc.conn.wait_closed()
    assert pc.conn.close_code == 4001
    assert (await web.request({"type": "heartbeat"}))["code"] == 0  # the web terminal stays
    assert app.rest("POST", "/v1/kickout", json={"app_id": app.app_id, "user_id": "k"})[
        "result"
    ] == {"kicked": 1}
    assert app.rest("POST", "/v1/kickout", json={"app_id": app.app_id, "user_id": "k"})[
        "result"
    ] == {"kicked": 0}
    await web.conn.wait_closed()
    assert [u["state"] for u in state(app, user_ids="k")["user_list"]] == [0, 0]
    for t in (web, pc):
        await t.close()


async def test_trans_cmd_results_per_target(app: OnlineApp, lookup: str) -> None:
    t1, _ = await raw_login(app, "u1", client_guid="g1")
    t2, _ = await raw_login(app, "u2", client_guid="g2")
    body = {
        "app_id": app.app_id,
        "msg_id": 7,
        "trans_mess": {"cmd": "mute", "args": [1, 2]},
        "user_list": [
            {"user_id": "u1", "mutex_type": "web", "client_guid": "g1"},
            {"user_id": "u2", "mutex_type": "web", "client_guid": ""},
            {"user_id": "u2", "mutex_type": "web", "client_guid": "not-g2"},
            {"user_id": "u3", "mutex_type": "web", "client_guid": "g3"},
        ],
    }
    reply = app.rest("POST", "/v1/online/trans-cmd", json=body)
    assert reply["result"] == {
        "msg_id": 7,
        "user_list": [
            {"result": 0, "user_id": "u1", "terminal_seq_num": "g1", "mutex_type": "web"},
            {"result": 0, "user_id": "u2", "terminal_seq_num": "g2", "mutex_type": "web"},
            {"result": 2, "user_id": "u2", "terminal_seq_num": "not-g2", "mutex_type": "web"},
            {"result": 2, "user_id": "u3", "terminal_seq_num": "g3", "mutex_type": "web"},
        ],
    }
    for t in (t1, t2):
        pushed = await t.expect("trans_cmd")
        assert pushed == {
            "type": "trans_cmd",
            "msg_id": 7,
            "trans_mess": {"cmd": "mute", "args": [1, 2]},
        }
        await t.close()


async def test_trans_cmd_to_a_terminal_that_does_not_read_fails_with_1(
    app: OnlineApp, lookup: str
) -> None:
    """A terminal that stops reading fills its connection; then delivery fails (result 1)."""
    stuck, _ = await raw_login(app, "stuck", client_guid="s")
    stuck.conn.transport.pause_reading()
    mess = {"blob": "z" * 8000}
    targets = [{"user_id": "stuck", "mutex_type": "web", "client_guid": "s"}] * 500
    results: list[int] = []
    for i in range(20):
        reply = app.rest(
            "POST",
            "/v1/online/trans-cmd",
            json={"app_id": app.app_id, "msg_id": i, "trans_mess": mess, "user_list": targets},
        )
        results += [r["result"] for r in reply["result"]["user_list"]]
        if 1 in results:
            break
    assert results[0] == 0 and 1 in results
    stuck.conn.transport.abort()


async def test_invite_from_the_backend(app: OnlineApp) -> None:
    web, _ = await raw_login(app, "i1")
    pc, _ = await raw_login(app, "i1", mutex_type="windows")
    body = {
        "app_id": app.app_id,
        "group_id": "meeting-9",
        "user_id_list": ["i1", "nobody"],
        "seq_id": 1234567890123,
        "extend_info": {"title": "all hands"},
    }
    reply = app.rest("POST", "/v1/online/invite", json=body)
    assert reply["result"] == {"seq_id": 1234567890123, "user_id_list": ["nobody"]}
    for t in (web, pc):
        invite = await t.expect("invite")
        assert invite["inviter"] == {"backend": True}
        assert (invite["group_id"], invite["seq_id"], invite["extend_info"]) == (
            "meeting-9",
            1234567890123,
            {"title": "all hands"},
        )
    answer = await web.request(
        {"type": "invite_reply", "group_id": "meeting-9", "seq_id": 1234567890123, "accept": False}
    )
    assert (answer["code"], answer["delivered"]) == (0, True)  # to the app's event log
    for t in (web, pc):
        await t.close()


async def test_another_developers_app_does_not_exist(app: OnlineApp) -> None:
    other = make_app(app.gateway)
    t, _ = await raw_login(app, "victim")
    gone = {"code": 606000003, "msg": "app_id: no such app"}
    calls = [
        ("POST", "/v1/kickout", {"json": {"app_id": app.app_id, "user_id": "victim"}}),
        ("GET", "/v1/online/user/state", {"params": {"app_id": app.app_id, "msg_id": 1}}),
        (
            "POST",
            "/v1/online/trans-cmd",
            {
                "json": {
                    "app_id": app.app_id,
                    "msg_id": 1,
                    "trans_mess": {},
                    "user_list": [{"user_id": "victim", "mutex_type": "web", "client_guid": ""}],
                }
            },
        ),
        (
            "POST",
            "/v1/online/invite",
            {
                "json": {
                    "app_id": app.app_id,
                    "group_id": "g",
                    "user_id_list": ["victim"],
                    "seq_id": 1,
                }
            },
        ),
    ]
    for method, path, kw in calls:
        assert other.rest(method, path, **kw) == gone, path
    assert (await t.request({"type": "heartbeat"}))["code"] == 0  # untouched
    with pytest.raises(TimeoutError):
        await t.expect("trans_cmd", timeout=0.2)
    await t.close()


A = "a" * 32
TARGET = {"user_id": "u", "mutex_type": "web", "client_guid": ""}
CASES: list[tuple[str, str, str, dict[str, Any], int, str]] = [
    ("kick app_id missing", "POST", "/v1/kickout", {"user_id": "u"}, 606000002, "app_id: required"),
    ("kick user_id missing", "POST", "/v1/kickout", {"app_id": A}, 606000002, "user_id: required"),
    (
        "kick user_id bad",
        "POST",
        "/v1/kickout",
        {"app_id": A, "user_id": "a b"},
        606000003,
        "user_id: only letters, digits, _ and - are allowed",
    ),
    (
        "kick mutex bad",
        "POST",
        "/v1/kickout",
        {"app_id": A, "user_id": "u", "mutex_type": 5},
        606000003,
        "mutex_type: must be a string",
    ),
    (
        "state app_id missing",
        "GET",
        "/v1/online/user/state",
        {"msg_id": 1},
        606000002,
        "app_id: required",
    ),
    (
        "state msg_id missing",
        "GET",
        "/v1/online/user/state",
        {"app_id": A},
        606000002,
        "msg_id: required",
    ),
    (
        "state msg_id text",
        "GET",
        "/v1/online/user/state",
        {"app_id": A, "msg_id": "x"},
        606000003,
        "msg_id: must be an integer",
    ),
    (
        "state page_size",
        "GET",
        "/v1/online/user/state",
        {"app_id": A, "msg_id": 1, "page_size": 0},
        606000003,
        "page_size: must be 1..100",
    ),
    (
        "state user_ids",
        "GET",
        "/v1/online/user/state",
        {"app_id": A, "msg_id": 1, "user_ids": "a;b"},
        606000003,
        "user_ids: must be a comma list of user ids",
    ),
    (
        "cmd user_list missing",
        "POST",
        "/v1/online/trans-cmd",
        {"app_id": A, "msg_id": 1, "trans_mess": {}},
        606000002,
        "user_list: required",
    ),
    (
        "cmd trans_mess missing",
        "POST",
        "/v1/online/trans-cmd",
        {"app_id": A, "msg_id": 1, "user_list": [TARGET]},
        606000002,
        "trans_mess: required",
    ),
    (
        "cmd trans_mess not object",
        "POST",
        "/v1/online/trans-cmd",
        {"app_id": A, "msg_id": 1, "trans_mess": "x", "user_list": [TARGET]},
        606000003,
        "trans_mess: must be an object",
    ),
    (
        "cmd msg_id missing",
        "POST",
        "/v1/online/trans-cmd",
        {"app_id": A, "trans_mess": {}, "user_list": [TARGET]},
        606000002,
        "msg_id: required",
    ),
    (
        "cmd empty list",
        "POST",
        "/v1/online/trans-cmd",
        {"app_id": A, "msg_id": 1, "trans_mess": {}, "user_list": []},
        606000003,
        "user_list: must have at least 1 items",
    ),
    (
        "cmd 501 users",
        "POST",
        "/v1/online/trans-cmd",
        {"app_id": A, "msg_id": 1, "trans_mess": {}, "user_list": [TARGET] * 501},
        606000003,
        "user_list: must have at most 500 items",
    ),
    (
        "cmd mutex missing",
        "POST",
        "/v1/online/trans-cmd",
        {
            "app_id": A,
            "msg_id": 1,
            "trans_mess": {},
            "user_list": [{"user_id": "u", "client_guid": ""}],
        },
        606000002,
        "user_list[0].mutex_type: required",
    ),
    (
        "invite group missing",
        "POST",
        "/v1/online/invite",
        {"app_id": A, "user_id_list": ["u"], "seq_id": 1},
        606000002,
        "group_id: required",
    ),
    (
        "invite seq_id missing",
        "POST",
        "/v1/online/invite",
        {"app_id": A, "group_id": "g", "user_id_list": ["u"]},
        606000002,
        "seq_id: required",
    ),
    (
        "invite bad user",
        "POST",
        "/v1/online/invite",
        {"app_id": A, "group_id": "g", "user_id_list": ["ok", ""], "seq_id": 1},
        606000003,
        "user_id_list[1]: must be 1..128 characters",
    ),
    (
        "invite extend_info",
        "POST",
        "/v1/online/invite",
        {"app_id": A, "group_id": "g", "user_id_list": ["u"], "seq_id": 1, "extend_info": [1]},
        606000003,
        "extend_info: must be an object",
    ),
]


@pytest.mark.parametrize(
    ("case", "method", "path", "data", "code", "msg"), CASES, ids=[c[0] for c in CASES]
)
def test_validation(
    app: OnlineApp, case: str, method: str, path: str, data: dict[str, Any], code: int, msg: str
) -> None:
    kw = {"params": data} if method == "GET" else {"json": data}
    assert app.rest(method, path, **kw) == {"code": code, "msg": msg}


def test_trans_mess_over_8_kib_is_refused(app: OnlineApp) -> None:
    body = {
        "app_id": app.app_id,
        "msg_id": 1,
        "trans_mess": {"x": "y" * 8200},
        "user_list": [TARGET],
    }
    assert app.rest("POST", "/v1/online/trans-cmd", json=body) == {
        "code": 606000003,
        "msg": "trans_mess: larger than 8192 bytes",
    }


def test_listings_of_a_large_app_cost_a_call_for_each_100_entries(tmp_path: Path) -> None:
    """``user/state`` reads and sorts every entry of the app, each page: one call of
    the developer's rate whatever the app's size let a developer with a large app (or
    many made-up users) keep the event loop from every other developer's calls."""
    for gw in start_gateway(tmp_path, limit_calls_per_developer=10):  # a burst of 20
        gw.clock.freeze_ticks()  # (no refill between the calls)
        big, small = make_app(gw), make_app(gw)
        registry = gw.app.state["gateway"].online.registry

        async def fill(entries: dict[tuple[str, str], Offline], now: int) -> None:
            for i in range(1500):
                entries[(f"u{i}", "web")] = Offline(f"u{i}", "web", "", "", now)

        gw.on_loop(fill(registry._offline.setdefault(big.app_id, {}), gw.clock()))
        gw.app.state["gateway"].guard.buckets = LocalBuckets(gw.clock.ticks)
        path = f"/v1/online/user/state?app_id={big.app_id}&msg_id=1&page_size=1"
        first = big.rest("GET", path)
        assert (first["code"], first["result"]["total"]) == (0, 1500)  # 1 + 15 of 20
        refused = big.rest("GET", path)
        assert (refused["code"], refused["msg"]) == (
            606000006,
            "too many calls for this developer; retry later",
        )

        # past the burst (1 + 25 calls of 20): answered from a full bucket (the listing's
        # own call taken first), then the calls wait for the refill of the debt
        async def grow(entries: dict[tuple[str, str], Offline], now: int) -> None:
            for i in range(1000):
                entries[(f"v{i}", "web")] = Offline(f"v{i}", "web", "", "", now)

        gw.on_loop(grow(registry._offline[big.app_id], gw.clock()))
        gw.app.state["gateway"].guard.buckets = LocalBuckets(gw.clock.ticks)
        assert big.rest("GET", path)["result"]["total"] == 2500
        assert big.rest("GET", path)["code"] == 606000006
        gw.clock.advance(2)  # 20 back: 14, not full but for the call
        assert big.rest("GET", path)["code"] == 606000006
        gw.clock.advance(60)
        assert big.rest("GET", path)["result"]["total"] == 2500
        # an app of a few entries: a call each, as before
        gw.app.state["gateway"].guard.buckets = LocalBuckets(gw.clock.ticks)
        codes = [
            small.rest("GET", f"/v1/online/user/state?app_id={small.app_id}&msg_id=1")["code"]
            for _ in range(21)
        ]
        assert codes == [0] * 20 + [606000006]
