"""Groups on the online service: the frames, their codes, and the events they append;
a terminal going offline (logout, kick, silence) leaves its groups."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from hstgw.events.model import Event
from hstgw.store import open_store
from tests.conftest import Gateway, start_gateway
from tests.online.conftest import OnlineApp, make_app, raw_login
from tests.waiting import eventually

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def groups_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """Small limits: 2 users per group, 2 groups per terminal; silent terminals go
    after 3 x 0.5 s."""
    yield from start_gateway(
        tmp_path_factory.mktemp("groups"),
        group_max_users=2,
        groups_per_terminal=2,
        heartbeat_interval=0.5,
    )


@pytest.fixture
def app(groups_gateway: Gateway) -> OnlineApp:
    return make_app(groups_gateway)


def logged(app: OnlineApp) -> list[Event]:
    """The app's events as the store keeps them (read as another process would)."""

    async def read() -> list[Event]:
        store = open_store(app.gateway.settings)
        await store.open()
        try:
            return await store.events_after(app.app_id, 0, 10_000) or []
        finally:
            await store.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, read()).result()


def brief(events: list[Event]) -> list[tuple[Any, ...]]:
    """(id, user_id, group_id, media_id) of the events, without the versions."""
    return [
        (int(e.id), e.body.get("user_id"), e.body.get("group_id"), e.body.get("media_id"))
        for e in events
    ]


async def test_join_media_leave_are_events_in_order(app: OnlineApp) -> None:
    t, _ = await raw_login(app, "alice")
    joined = await t.request({"type": "join_group", "seq": 2, "group_id": "room1"})
    assert (joined["code"], joined["group_id"]) == (0, "room1")
    started = await t.request(
        {"type": "start_media", "group_id": "room1", "media_id": "LocalCam_2", "media_type": 2}
    )
    assert (started["code"], started["media_id"], started["version"]) == (
        0,
        "LocalCam_2",
        joined["version"] + 1,
    )
    stopped = await t.request(
        {"type": "stop_media", "group_id": "room1", "media_id": "LocalCam_2", "media_type": 2}
    )
    assert stopped["code"] == 0
    left = await t.request({"type": "leave_group", "group_id": "room1"})
    assert (left["code"], left["version"]) == (0, stopped["version"] + 1)
    await t.close()
    events = await eventually(lambda: (e := logged(app)) and e[-1].id == 20901 and e)
    assert brief(events) == [
        (20900, "alice", None, None),
        (20100, "alice", "room1", None),
        (20102, "alice", "room1", "LocalCam_2"),
        (20103, "alice", "room1", "LocalCam_2"),
        (20101, "alice", "room1", None),
        (20901, "alice", None, None),
    ]
    assert [e.version for e in events] == list(range(1, 7))
    assert events[2].body["media_type"] == 2


async def test_the_codes_of_the_group_frames(app: OnlineApp) -> None:
    a, _ = await raw_login(app, "a")
    b, _ = await raw_login(app, "b")
    c, _ = await raw_login(app, "c")

    async def code(t: Any, frame: dict[str, Any]) -> tuple[int, str]:
        reply = await t.request(frame)
        return reply["code"], reply["msg"]

    join = {"type": "join_group", "group_id": "g1"}
    assert (await code(a, {"type": "join_group", "group_id": "no spaces"}))[0] == 1000113
    assert (await code(a, {"type": "join_group"}))[0] == 1000101  # group_id missing
    assert (await code(a, join))[0] == 0
    assert (await code(a, join))[0] == 1000114  # in it already
    assert (await code(b, join))[0] == 0
    assert await code(c, join) == (1000110, "group_id: at most 2 users")
    assert (await code(a, {"type": "join_group", "group_id": "g2"}))[0] == 0
    assert await code(a, {"type": "join_group", "group_id": "g3"}) == (
        1000111,
        "group_id: at most 2 groups per terminal",
    )
    assert (await code(c, {"type": "leave_group", "group_id": "g1"}))[0] == 1000112
    media = {"type": "start_media", "group_id": "g1", "media_id": "m1", "media_type": 1}
    assert (await code(c, media))[0] == 1000112  # not in the group
    assert (await code(a, {**media, "media_type": 3}))[0] == 1000101
    assert (await code(a, {**media, "media_id": "bad id"}))[0] == 1000101
    assert (await code(a, media))[0] == 0
    assert (await code(a, media))[0] == 1000116
    assert (await code(a, {**media, "type": "stop_media", "media_id": "m2"}))[0] == 1000115
    for t in (a, b, c):
        await t.close()


async def test_logout_leaves_the_groups_and_stops_the_media(app: OnlineApp) -> None:
    t, _ = await raw_login(app, "u1")
    await t.request({"type": "join_group", "group_id": "g1"})
    await t.request({"type": "join_group", "group_id": "g2"})
    await t.request({"type": "start_media", "group_id": "g2", "media_id": "wb", "media_type": 4})
    await t.request({"type": "logout"})
    events = await eventually(lambda: (e := logged(app)) and e[-1].id == 20901 and e)
    assert brief(events)[4:] == [
        (20101, "u1", "g1", None),
        (20103, "u1", "g2", "wb"),
        (20101, "u1", "g2", None),
        (20901, "u1", None, None),
    ]
    await t.close()


async def test_a_kicked_terminal_leaves_its_groups(app: OnlineApp) -> None:
    t, _ = await raw_login(app, "k1")
    await t.request({"type": "join_group", "group_id": "g1"})
    reply = app.rest("POST", "/v1/kickout", json={"app_id": app.app_id, "user_id": "k1"})
    assert reply["code"] == 0, reply
    events = await eventually(lambda: (e := logged(app)) and e[-1].id == 20901 and e)
    assert brief(events)[2:] == [
        (20902, "k1", None, None),
        (20101, "k1", "g1", None),
        (20901, "k1", None, None),
    ]
    assert events[2].body["reason"] == "kickout"
    await t.close()


async def test_a_silent_terminal_leaves_its_groups(app: OnlineApp) -> None:
    t, _ = await raw_login(app, "quiet")
    await t.request({"type": "join_group", "group_id": "g1"})
    # no heartbeat: kicked after 3 intervals (1.5 s)
    events = await eventually(lambda: (e := logged(app)) and e[-1].id == 20901 and e, 10)
    assert brief(events)[2:] == [
        (20902, "quiet", None, None),
        (20101, "quiet", "g1", None),
        (20901, "quiet", None, None),
    ]
    assert events[2].body["reason"] == "heartbeat_timeout"
    await t.close()


async def test_a_reply_to_the_backends_invite_is_an_event(app: OnlineApp) -> None:
    t, _ = await raw_login(app, "inv")
    body = {"app_id": app.app_id, "group_id": "m9", "user_id_list": ["inv"], "seq_id": 5}
    assert app.rest("POST", "/v1/online/invite", json=body)["code"] == 0
    await t.expect("invite")
    answer = await t.request(
        {
            "type": "invite_reply",
            "group_id": "m9",
            "seq_id": 5,
            "accept": True,
            "extend_info": {"why": "sure"},
        }
    )
    assert (answer["code"], answer["delivered"]) == (0, True)
    [reply] = [e for e in logged(app) if e.id == 20903]  # durable before the answer
    assert dict(reply.body) == {
        "group_id": "m9",
        "seq_id": 5,
        "accept": True,
        "extend_info": {"why": "sure"},
        "user_id": "inv",
        "mutex_type": "web",
        "client_guid": "guid-inv",
        "company_id": "",
    }
    await t.close()


async def test_the_gateways_stop_leaves_the_groups(tmp_path: Path) -> None:
    gateways = start_gateway(tmp_path / "data")
    gateway = next(gateways)
    app = make_app(gateway)
    t, _ = await raw_login(app, "s1")
    await t.request({"type": "join_group", "group_id": "g1"})
    with pytest.raises(StopIteration):
        next(gateways)  # the server stops
    await t.close()
    assert brief(logged(app))[2:] == [
        (20902, "s1", None, None),
        (20101, "s1", "g1", None),
        (20901, "s1", None, None),
    ]


def test_the_terminal_cli_joins_a_group_and_announces_media(app: OnlineApp) -> None:
    from tests.online.test_lifecycle import read_event, run_terminal

    media = ["--media", "video:LocalCam_2", "--media", "4:wb"]
    proc = run_terminal(app, "cli", "--app-secret", app.app_secret, "--group", "room", *media)
    try:
        assert read_event(proc)["event"] == "login"
        assert read_event(proc) == {
            "event": "join_group", "code": 0, "group_id": "room", "version": 2,
        }  # fmt: skip
        started = [read_event(proc), read_event(proc)]
        assert [(e["event"], e["media_id"], e["media_type"]) for e in started] == [
            ("start_media", "LocalCam_2", 2),
            ("start_media", "wb", 4),
        ]
        app.rest("POST", "/v1/kickout", json={"app_id": app.app_id, "user_id": "cli"})
        assert read_event(proc)["event"] == "kicked"
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert brief(logged(app))[1:5] == [
        (20100, "cli", "room", None),
        (20102, "cli", "room", "LocalCam_2"),
        (20102, "cli", "room", "wb"),
        (20902, "cli", None, None),
    ]


def test_the_terminal_cli_exits_1_when_the_group_is_full(app: OnlineApp) -> None:
    from tests.online.test_lifecycle import read_event, run_terminal

    procs = [
        run_terminal(app, f"c{i}", "--app-secret", app.app_secret, "--group", "full")
        for i in range(3)
    ]
    try:
        lines = [(read_event(p), read_event(p)) for p in procs]
        codes = sorted(joined["code"] for _, joined in lines)
        assert codes == [0, 0, 1000110]  # 2 users per group here
        refused = next(p for p, (_, j) in zip(procs, lines, strict=True) if j["code"])
        assert refused.wait(10) == 1
    finally:
        for p in procs:
            p.kill()
            p.wait()
            for stream in (p.stdout, p.stderr):
                if stream is not None:
                    stream.close()


async def test_the_sdk_terminal_joins_again_after_a_reconnect(app: OnlineApp) -> None:
    async with app.terminal("sdk", reconnect=True) as t:
        v = await t.join_group("g1")
        assert await t.start_media("g1", "mic", 1) == v + 1
        assert t.groups == {"g1": {"mic": 1}}
        assert t.connection is not None
        t.connection.transport.abort()  # the network drops it
        events = t.events()
        assert (await anext(events))["type"] == "reconnected"

        def rejoined() -> bool:
            tail = brief(logged(app))[-2:]
            return tail == [(20100, "sdk", "g1", None), (20102, "sdk", "g1", "mic")]

        assert await eventually(rejoined, 10), brief(logged(app))
        assert await t.stop_media("g1", "mic", 1) > v
        assert await t.leave_group("g1") > v
        assert t.groups == {}
