"""The event gateway on a running server: discovery, every frame, every error path,
tenancy, live pushes, the end of a token, resuming with from_version."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hstgw.egw import protocol as p
from tests.conftest import Gateway
from tests.events.event_gateway_rig import (
    Sub,
    append,
    egw_gateway,
    join,
    listener,
    make_app,
    ws_url,
)
from tests.waiting import eventually

pytestmark = pytest.mark.anyio
__all__ = ["egw_gateway"]  # (the fixture, imported)


@pytest.fixture
def gw(egw_gateway: Gateway) -> Gateway:
    return egw_gateway


async def logged_in(gw: Gateway) -> tuple[Sub, str, Any]:
    dev = gw.new_dev()
    app_id = make_app(gw, dev)
    token = gw.access_token(dev)
    sub = await Sub.open(gw)
    assert await sub.login(dev.dev_id, token) == {
        "id": 20001,
        "result": 0,
        "message": "login successful",
    }
    return sub, app_id, dev


def test_discovery_answers_the_event_gateway_url(gw: Gateway) -> None:
    port = listener(gw).port
    r = gw.http.get(f"{gw.url}/server/address", params={"appType": "8", "app_id": "x"})
    assert r.json() == {"code": 0, "message": "OK", "result": f"ws://127.0.0.1:{port}"}
    r = gw.http.get(
        f"{gw.url}/server/address", params={"appType": "8"}, headers={"Host": "ev.example.com"}
    )
    assert r.json()["result"] == f"ws://ev.example.com:{port}"


async def test_login_refusals_and_the_connection_closed(gw: Gateway) -> None:
    dev, other = gw.new_dev(), gw.new_dev()
    old = gw.access_token(dev)
    token = gw.access_token(dev)  # supersedes ``old``
    cases = [
        ({"dev_id": dev.dev_id, "token": "0" * 32}, 606000000, "Authentication failed"),
        ({"dev_id": other.dev_id, "token": token}, 606000000, "Authentication failed"),
        ({"dev_id": dev.dev_id, "token": old}, 606000001, "access_token expired or superseded"),
        ({"token": token}, 606000002, "dev_id: required"),
        ({"dev_id": dev.dev_id, "token": 5}, 606000003, "token: must be a string of 1..128"),
    ]
    for fields, code, message in cases:
        sub = await Sub.open(gw)
        got = await sub.ask(20000, **fields)
        assert got["id"] == 20001 and got["result"] == code, got
        assert got["message"].startswith(message)
        assert await sub.closed() == (p.CLOSE_LOGIN_FAILED, "login failed")


async def test_the_first_frame_must_be_a_login(gw: Gateway) -> None:
    sub = await Sub.open(gw)
    got = await sub.ask(20004, app_list=[{"app_id": "a" * 32}])
    assert got == {"id": 20005, "result": 606000000, "message": "log in first"}
    assert (await sub.closed())[0] == p.CLOSE_PROTOCOL
    sub = await Sub.open(gw)
    await sub.conn.send("{not json")
    got = await sub.recv()
    assert got == {"id": 20099, "result": 606000003, "message": "frame: malformed JSON"}
    assert (await sub.closed())[0] == p.CLOSE_PROTOCOL


async def test_every_frame_not_understood_gets_a_reply(gw: Gateway) -> None:
    sub, app_id, _ = await logged_in(gw)
    conn = sub.conn
    await conn.send(b"\x00binary")
    assert await sub.recv() == {
        "id": 20099,
        "result": 606000003,
        "message": "frame: must be JSON text, not binary",
    }
    for raw, expected in [
        ("[1, 2]", {"id": 20099, "result": 606000003, "message": "frame: must be a JSON object"}),
        ('{"business": "EGW"}', {"id": 20099, "result": 606000002, "message": "id: required"}),
        ('{"id": 20010}', {"id": 20011, "result": 606000002, "message": "business: required"}),
        (
            '{"id": 20010, "business": "XYZ"}',
            {"id": 20011, "result": 606000003, "message": "business: must be EGW"},
        ),
    ]:
        await conn.send(raw)
        assert await sub.recv() == expected, raw
    got = await sub.ask(20100, group_id="g")
    assert got["id"] == 20099 and got["result"] == 606000003 and got["request_id"] == 20100
    assert got["message"].startswith("id: not a request (20000, 20002, ")
    for fields, message in [
        ({}, "app_list: required"),
        ({"app_list": []}, "app_list: must be a non-empty list of {app_id}"),
        ({"app_list": ["x"]}, "app_list[0]: must be an object with app_id"),
        ({"app_list": [{"app_id": app_id}, {}]}, "app_list[1].app_id: required"),
        ({"app_list": [{"app_id": app_id}, {"app_id": app_id}]}, "app_list[1].app_id: given twice"),
    ]:
        got = await sub.ask(20004, **fields)
        assert got["id"] == 20005 and got["message"] == message, got
        assert got["result"] == (606000002 if "required" in message else 606000003)
    got = await sub.ask(20008, app_list=[{"app_id": app_id, "from_version": -1}])
    assert got["message"] == "app_list[0].from_version: must be an integer >= 0"
    for group in ("room\u0000more", "room 1", "", "x" * 129):  # (a NUL cut it short in SQLite)
        got = await sub.ask(20008, app_list=[{"app_id": app_id, "group_list": ["g1", group]}])
        assert (got["result"], got["message"]) == (
            606000003,
            "app_list[0].group_list[1]: must be a group_id: 1-128 of [A-Za-z0-9_-]",
        ), group
    got = await sub.ask(20008, seq=[1], app_list=[{"app_id": app_id}])
    assert got["message"] == "seq: must be a string or an integer"
    assert await sub.ask(20010) == {"id": 20011, "result": 0, "message": "heartbeat successful"}
    await sub.close()


async def test_another_developers_app_refuses_the_whole_subscription(gw: Gateway) -> None:
    sub, mine, dev = await logged_in(gw)
    theirs = make_app(gw, gw.new_dev())
    got = await sub.ask(20004, app_list=[{"app_id": mine}, {"app_id": theirs}])
    assert got == {"id": 20005, "result": 606000003, "message": "app_list[1].app_id: no such app"}
    got = await sub.ask(20004, app_list=[{"app_id": "0" * 32}])
    assert got["message"] == "app_list[0].app_id: no such app"
    (session,) = [s for s in listener(gw).sessions if s.dev_id == dev.dev_id]
    assert session.streams == {}  # nothing subscribed, not even ``mine``
    assert mine not in listener(gw).subscribers.by_app
    # a sync of theirs is refused the same way, and tells nothing of it
    got = await sub.ask(20008, seq=3, app_list=[{"app_id": theirs}])
    assert got == {
        "id": 20009,
        "result": 606000003,
        "message": "app_list[0].app_id: no such app",
        "app_id": theirs,
        "seq": 3,
    }
    await append(gw, mine, join("g", "u1"))
    assert await sub.ask(20010) == {"id": 20011, "result": 0, "message": "heartbeat successful"}
    await sub.close()


async def test_subscribe_sync_push_unsubscribe_logout(gw: Gateway) -> None:
    sub, app_id, _ = await logged_in(gw)
    await append(gw, app_id, join("g1", "aa"), join("g2", "ff"))
    assert await sub.ask(20004, app_list=[{"app_id": app_id}]) == {
        "id": 20005,
        "result": 0,
        "message": "subscribe successful",
    }
    got = await sub.ask(20008, seq="1", app_list=[{"app_id": app_id, "group_list": ["g1"]}])
    assert got == {
        "id": 20009,
        "result": 0,
        "message": "synchronize all data successful",
        "app_id": app_id,
        "version": 2,
        "seq": "1",
        "group_list": [
            {
                "group_id": "g1",
                "group_media_list": [],
                "user_list": [{"user_id": "aa", "media_info": []}],
            }
        ],
    }
    await append(gw, app_id, join("g1", "bb"))
    assert await sub.recv() == {
        "id": 20100,
        "app_id": app_id,
        "version": 3,
        "group_id": "g1",
        "user_id": "bb",
    }
    assert await sub.ask(20006) == {"id": 20007, "result": 0, "message": "unsubscribe successful"}
    await append(gw, app_id, join("g1", "cc"))
    assert (await sub.ask(20010))["id"] == 20011  # no push came before the reply
    assert await sub.ask(20002) == {"id": 20003, "result": 0, "message": "logout successful"}
    assert (await sub.closed())[0] == 1000


async def test_a_superseded_token_ends_the_session(gw: Gateway) -> None:
    sub, _, dev = await logged_in(gw)
    gw.access_token(dev)  # a new token: the session's is superseded
    assert await sub.recv() == {
        "id": 20003,
        "result": 606000001,
        "message": "access_token expired or superseded",
    }
    assert await sub.closed() == (p.CLOSE_LOGGED_OUT, "access_token expired or superseded")


async def test_a_login_again_takes_a_fresh_token_on_the_same_connection(gw: Gateway) -> None:
    sub, _, dev = await logged_in(gw)
    fresh = gw.access_token(dev)
    assert (await sub.login(dev.dev_id, fresh))["result"] == 0
    other = gw.new_dev()
    got = await sub.login(other.dev_id, gw.access_token(other))
    assert got["result"] == 606000003 and got["message"].startswith("dev_id: ")
    await asyncio.sleep(0)
    assert (await sub.ask(20010))["result"] == 0  # still served: its token is the fresh one
    await sub.close()


async def test_from_version_resumes_across_a_reconnect_without_gap_or_duplicate(
    gw: Gateway,
) -> None:
    sub, app_id, dev = await logged_in(gw)
    await sub.ask(20004, app_list=[{"app_id": app_id}])
    await sub.ask(20008, app_list=[{"app_id": app_id}])
    await append(gw, app_id, *(join("g", f"u{i}") for i in range(3)))
    seen = [(await sub.recv())["version"] for _ in range(3)]
    assert seen == [1, 2, 3]
    await sub.close()
    await append(gw, app_id, *(join("g", f"v{i}") for i in range(5)))  # while away

    again = await Sub.open(gw)
    await again.login(dev.dev_id, gw.access_token(dev))
    # events keep coming while the replay runs
    producing = asyncio.ensure_future(
        asyncio.gather(*(append(gw, app_id, join("h", f"w{i}")) for i in range(20)))
    )
    got = await again.ask(20008, seq=9, app_list=[{"app_id": app_id, "from_version": 3}])
    assert got == {
        "id": 20009,
        "result": 0,
        "message": "replaying events after from_version",
        "replay": True,
        "app_id": app_id,
        "version": 3,
        "from_version": 3,
        "seq": 9,
    }
    await producing
    versions = [(await again.recv())["version"] for _ in range(25)]
    assert versions == list(range(4, 29))
    assert (await again.ask(20010))["id"] == 20011  # and nothing more
    await again.close()


async def test_from_version_beyond_the_log_answers_a_full_sync(gw: Gateway) -> None:
    sub, app_id, _ = await logged_in(gw)
    await append(gw, app_id, join("g", "u"))
    got = await sub.ask(20008, app_list=[{"app_id": app_id, "from_version": 50}])
    assert got["message"] == "synchronize all data successful" and got["version"] == 1
    assert "replay" not in got and got["group_list"][0]["group_id"] == "g"
    await append(gw, app_id, join("g", "v"))  # from_version subscribed it
    assert (await sub.recv())["version"] == 2
    await sub.close()


async def test_metrics_count_the_event_listener(gw: Gateway) -> None:
    sub, _, _ = await logged_in(gw)
    text = gw.http.get(f"{gw.url}/metrics").text
    assert 'hstgw_connections_open{port="event"}' in text
    assert "hstgw_event_sessions" in text
    await sub.close()
    assert await eventually(lambda: not listener(gw).sessions)


def test_the_url_is_the_listeners(gw: Gateway) -> None:
    assert ws_url(gw).endswith(f":{listener(gw).port}")


async def test_a_terminal_joining_a_group_reaches_the_subscriber(gw: Gateway) -> None:
    from hstgw.sdk import TerminalClient

    dev = gw.new_dev()
    token = gw.access_token(dev)
    body = {"app_name": "rooms", "status": "online", "service": [{"service_id": 7}]}
    app = gw.call("POST", "/v1/app", token, json=body)["result"]
    sub = await Sub.open(gw)
    await sub.login(dev.dev_id, gw.access_token(dev))
    await sub.ask(20004, app_list=[{"app_id": app["app_id"]}])
    assert (await sub.ask(20008, app_list=[{"app_id": app["app_id"]}]))["version"] == 0
    async with TerminalClient(gw.url, app["app_id"], "alice", app_secret=app["app_secret"]) as t:
        online = await sub.recv()
        assert (online["id"], online["version"], online["user_id"]) == (20900, 1, "alice")
        await t.request("join_group", group_id="room1")
        assert await sub.recv() == {
            "id": 20100,
            "app_id": app["app_id"],
            "version": 2,
            "group_id": "room1",
            "user_id": "alice",
        }
    # going offline leaves the group, then the terminal is offline
    left, offline = await sub.recv(), await sub.recv()
    assert (left["id"], left["version"], offline["id"], offline["version"]) == (20101, 3, 20901, 4)
    await sub.close()


async def test_deleting_an_app_ends_the_sessions_that_follow_it(gw: Gateway) -> None:
    """A session subscribed to an app deleted since is closed (4004): subscribing
    again names the app as none (before, it followed a stream that could never speak
    again for as long as its token lived)."""
    dev = gw.new_dev()
    kept = make_app(gw, dev)
    token = gw.access_token(dev)
    body = {"app_name": "gone", "status": "online", "service": [{"service_id": 7}]}
    gone = gw.call("POST", "/v1/app", token, json=body)["result"]["app_id"]
    following, other = await Sub.open(gw), await Sub.open(gw)
    for sub, apps in ((following, [kept, gone]), (other, [kept])):
        assert (await sub.login(dev.dev_id, token))["result"] == 0
        reply = await sub.ask(20004, app_list=[{"app_id": a} for a in apps])
        assert reply["result"] == 0, reply
    gw.call("DELETE", "/v1/app", token, params={"app_id": gone})
    assert await following.closed() == (p.CLOSE_APP_DELETED, "app deleted")
    again = await Sub.open(gw)
    assert (await again.login(dev.dev_id, token))["result"] == 0
    reply = await again.ask(20004, app_list=[{"app_id": kept}, {"app_id": gone}])
    assert (reply["result"], reply["message"]) == (606000003, "app_list[1].app_id: no such app")
    # a session that does not follow it stays
    assert (await other.ask(20010))["id"] == 20011
    for sub in (again, other):
        await sub.close()
