"""What a logged-in terminal can do, and what it is pushed (design 5)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Gateway, start_gateway
from tests.online.conftest import OnlineApp, make_app, raw_login

pytestmark = pytest.mark.anyio


async def test_presence_is_pushed_within_app_and_company(app: OnlineApp) -> None:
    alice, _ = await raw_login(app, "alice", company_id="acme")
    outsider, _ = await raw_login(app, "olga", company_id="other")
    bob, _ = await raw_login(app, "bob", company_id="acme", custom_state="free")
    pushed = await alice.expect("online_state")
    assert pushed == {
        "type": "online_state",
        "state": 1,
        "user_id": "bob",
        "mutex_type": "web",
        "client_guid": "guid-bob",
        "custom_state": "free",
    }
    reply = await bob.request({"type": "set_state", "seq": 2, "custom_state": "busy"})
    assert (reply["code"], reply["seq"]) == (0, 2)
    assert (await alice.expect("online_state"))["custom_state"] == "busy"

    listing = await alice.request({"type": "list_online", "seq": 3, "page": 1, "page_size": 10})
    assert listing["total"] == 2
    assert [u["user_id"] for u in listing["users"]] == ["alice", "bob"]

    await bob.request({"type": "logout", "seq": 4})
    gone = await alice.expect("online_state")
    assert (gone["user_id"], gone["state"]) == ("bob", 0)
    with pytest.raises(TimeoutError):  # olga's company saw none of it
        await outsider.expect("online_state", timeout=0.3)
    for t in (alice, outsider, bob):
        await t.close()


async def test_messages_reach_every_terminal_of_the_user(app: OnlineApp) -> None:
    sender, _ = await raw_login(app, "sender")
    web, _ = await raw_login(app, "target", mutex_type="web")
    pc, _ = await raw_login(app, "target", mutex_type="windows", client_guid="pc")
    reply = await sender.request(
        {"type": "message", "seq": 5, "to_user_id": "target", "body": {"text": "hi"}}
    )
    assert (reply["code"], reply["delivered"]) == (0, 2)
    for t in (web, pc):
        msg = await t.expect("message")
        assert (msg["from_user_id"], msg["body"]) == ("sender", {"text": "hi"})
    nobody = await sender.request({"type": "message", "seq": 6, "to_user_id": "ghost", "body": "x"})
    assert nobody["code"] == 1000106
    for t in (sender, web, pc):
        await t.close()


async def test_oversized_bodies_get_an_error_and_the_connection_stays(app: OnlineApp) -> None:
    sender, _ = await raw_login(app, "sender")
    target, _ = await raw_login(app, "target")
    big = {"type": "message", "seq": 7, "to_user_id": "target", "body": "x" * 9000}
    reply = await sender.request(big)
    assert (reply["code"], reply["msg"]) == (1000103, "body: larger than 8192 bytes")
    ok = await sender.request(
        {"type": "message", "seq": 8, "to_user_id": "target", "body": "y" * 8000}
    )
    assert ok["code"] == 0
    await sender.send("x" * (70 * 1024))  # past the frame limit: the WebSocket layer closes
    await sender.conn.wait_closed()
    assert sender.conn.close_code == 1009
    for t in (sender, target):
        await t.close()


async def test_rate_limit_answers_an_error_not_a_disconnect(fresh_gateway: Gateway) -> None:
    # The server's monotonic clock stands still: no token comes back unless the test
    # moves it, so every count is exact whatever this machine's speed.
    fresh_gateway.clock.freeze_ticks()
    t, _ = await raw_login(make_app(fresh_gateway), "chatty")

    async def burst(n: int, first_seq: int) -> list[int]:
        for i in range(n):
            await t.send({"type": "heartbeat", "seq": first_seq + i})
        return [(await t.expect("heartbeat_result"))["code"] for _ in range(n)]

    # 100 a second, bursts of 100
    assert await burst(150, 100) == [0] * 100 + [1000104] * 50
    fresh_gateway.clock.advance(0.5)  # 50 come back, and no more
    assert await burst(60, 300) == [0] * 50 + [1000104] * 10
    fresh_gateway.clock.advance(3600)  # never more than the burst
    assert await burst(101, 400) == [0] * 100 + [1000104]
    # still connected, and served once its bucket refills
    fresh_gateway.clock.advance(1)
    assert (await t.request({"type": "heartbeat", "seq": 999}))["code"] == 0
    await t.close()


@pytest.mark.parametrize(
    ("frame", "code", "msg"),
    [
        ("not json", 1000100, "frame: malformed JSON"),
        ('["heartbeat"]', 1000100, "frame is not a JSON object with a type"),
        ('{"type": "dance"}', 1000105, "type: unknown 'dance'"),
        ('{"type": "heartbeat", "seq": "1"}', 1000101, "seq: must be an integer"),
        ('{"type": "set_state"}', 1000101, "custom_state: required"),
        ('{"type": "list_online", "page_size": 500}', 1000101, "page_size: must be 1..100"),
        (
            '{"type": "invite", "group_id": "g", "user_ids": [], "seq_id": 1}',
            1000101,
            "user_ids: must have at least 1 items",
        ),
        (
            '{"type": "message", "to_user_id": "a b", "body": "x"}',
            1000101,
            "to_user_id: only letters, digits, _ and - are allowed",
        ),
    ],
)
async def test_bad_requests_get_field_named_errors(
    app: OnlineApp, frame: str, code: int, msg: str
) -> None:
    t, _ = await raw_login(app, "careless")
    await t.send(frame)
    reply = await t.recv()
    assert (reply["code"], reply["msg"]) == (code, msg), reply
    assert (await t.request({"type": "heartbeat"}))["code"] == 0  # still connected
    await t.close()


async def test_invite_and_reply_between_terminals(app: OnlineApp) -> None:
    host, _ = await raw_login(app, "host")
    guest, _ = await raw_login(app, "guest")
    reply = await host.request(
        {
            "type": "invite",
            "seq": 9,
            "group_id": "room1",
            "user_ids": ["guest", "ghost"],
            "seq_id": 77,
            "extend_info": {"topic": "standup"},
        }
    )
    assert (reply["code"], reply["failed_user_ids"]) == (0, ["ghost"])
    invite = await guest.expect("invite")
    assert (invite["group_id"], invite["seq_id"], invite["extend_info"]) == (
        "room1",
        77,
        {"topic": "standup"},
    )
    assert invite["inviter"]["user_id"] == "host"
    answer = await guest.request(
        {"type": "invite_reply", "seq": 10, "group_id": "room1", "seq_id": 77, "accept": True}
    )
    assert answer["delivered"] is True
    back = await host.expect("invite_reply")
    assert (back["user_id"], back["accept"], back["seq_id"]) == ("guest", True, 77)
    unknown = await guest.request(
        {"type": "invite_reply", "seq": 11, "group_id": "room1", "seq_id": 78, "accept": False}
    )
    assert (unknown["code"], unknown["msg"]) == (1000101, "seq_id: no such invite")
    for t in (host, guest):
        await t.close()


async def test_heartbeat_reply_carries_the_server_time(app: OnlineApp) -> None:
    t, _ = await raw_login(app, "beat")
    reply = await t.request({"type": "heartbeat", "seq": 1})
    assert reply["code"] == 0 and reply["server_time"] > 1_700_000_000_000
    await t.close()


async def test_a_bug_in_a_handler_answers_1000199_and_keeps_the_connection(
    app: OnlineApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hstgw.online import requests

    def broken(self: object, session: object, data: object) -> dict:
        raise ZeroDivisionError("boom")

    monkeypatch.setitem(requests.HANDLERS, "heartbeat", broken)
    t, _ = await raw_login(app, "unlucky")
    reply = await t.request({"type": "heartbeat", "seq": 1})
    assert (reply["code"], reply["msg"]) == (
        1000199,
        "internal error (logged); the connection stays",
    )
    monkeypatch.undo()
    assert (await t.request({"type": "heartbeat", "seq": 2}))["code"] == 0
    await t.close()


async def _company(app: OnlineApp, n: int) -> list[Any]:
    """``n`` terminals logged in to company "big" of ``app``."""
    return [
        (await raw_login(app, f"u{i:03d}", company_id="big", client_guid=f"g{i}"))[0]
        for i in range(n)
    ]


async def _login_again(app: OnlineApp, user_id: str, first: dict[str, Any]) -> Any:
    """The same terminal of company "big" logged in again, forced, by the resume
    credential of its ``first`` login's reply."""
    again, reply = await raw_login(
        app, user_id, company_id="big", token="", resume=first["resume"], force_login=True
    )
    assert reply["code"] == 0, reply
    return again


async def _close_all(terminals: list[Any]) -> None:
    for t in terminals:
        t.conn.close_timeout = 0.1  # (the presence pushes they left unread hold a close)
    await asyncio.gather(*(t.close() for t in terminals))


async def test_a_login_again_starts_from_the_bucket_its_last_one_left(tmp_path: Path) -> None:
    """A listing that drains the bucket without a debt: a login again (forced, by its
    resume credential) starts from that bucket, not a full one (an attack listed a
    900-terminal company 40 times its rate so)."""
    for g in start_gateway(tmp_path, message_rate=3):  # 3 a second, bursts of 3
        app = make_app(g)
        crowd = await _company(app, 200)
        lister, first = await raw_login(app, "lister", company_id="big")
        g.clock.freeze_ticks()
        done = await lister.request({"type": "list_online", "seq": 1, "page_size": 10})
        assert (done["code"], done["total"]) == (0, 201)  # 1 + 2 of 3: drained, no debt
        again = await _login_again(app, "lister", first)
        assert (await again.request({"type": "heartbeat", "seq": 2}))["code"] == 1000104
        g.clock.advance(1)  # refilled at the rate, as the first login's would be
        assert (await again.request({"type": "heartbeat", "seq": 3}))["code"] == 0
        await _close_all([lister, again, *crowd])


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "list_online", "seq": 1, "page_size": 10},
        {"type": "set_state", "seq": 1, "custom_state": "busy"},
    ],
    ids=["list_online", "set_state"],
)
async def test_a_frame_for_the_whole_company_costs_a_message_more_a_hundred_terminals(
    tmp_path: Path, frame: dict[str, object]
) -> None:
    """``list_online`` reads and sorts the whole company, ``set_state`` tells each of its
    terminals: one terminal of a large company must not make the node do either at its
    full message rate."""
    for g in start_gateway(tmp_path, message_rate=2):  # 2 a second, bursts of 2
        app = make_app(g)
        crowd = await _company(app, 200)
        lister, first = await raw_login(app, "lister", company_id="big")
        g.clock.freeze_ticks()  # (no refill behind the test's back, however slow it runs)
        done = await lister.request(frame)
        assert done["code"] == 0 and done.get("total", 201) == 201, done
        # 1 for the frame, 2 more for the 200 others: the next frame waits for a refill
        beat = await lister.request({"type": "heartbeat", "seq": 2})
        assert beat["code"] == 1000104, beat
        # a login again (forced, by its resume credential) starts from that debt
        again = await _login_again(app, "lister", first)
        beat = await again.request({"type": "heartbeat", "seq": 3})
        assert beat["code"] == 1000104, beat
        await _close_all([lister, again, *crowd])
