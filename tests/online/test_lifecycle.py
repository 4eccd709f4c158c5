"""Drops, app changes, reconnects, counters, and the terminal CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hstgw.sdk import TerminalClient, TerminalLoginError
from hstgw.store import SqliteStore
from tests.conftest import Gateway, start_gateway
from tests.online.conftest import OnlineApp, make_app, raw_login
from tests.waiting import eventually, eventually_sync

pytestmark = pytest.mark.anyio


@pytest.fixture
def quick(tmp_path: Path) -> Iterator[Gateway]:
    """A gateway with 0.2 s heartbeats and a 0.2 s usage flush."""
    yield from start_gateway(tmp_path / "q", heartbeat_interval=0.2, usage_flush_interval=0.2)


def states(app: OnlineApp) -> dict[tuple[str, str], int]:
    reply = app.rest("GET", "/v1/online/user/state", params={"app_id": app.app_id, "msg_id": 0})
    return {(u["user_id"], u["mutex_type"]): u["state"] for u in reply["result"]["user_list"]}


async def test_a_silent_terminal_is_dropped_and_shown_offline(quick: Gateway) -> None:
    app = make_app(quick)
    silent, reply = await raw_login(app, "silent")
    assert reply["heartbeat_interval"] == 0.2
    watcher = app.terminal("watcher")  # TerminalClient heartbeats on its own
    await watcher.connect()
    kicked = await silent.expect("kicked")  # after 3 silent intervals and a sweep
    assert kicked["reason"] == "heartbeat_timeout"
    expected = {("silent", "web"): 0, ("watcher", "web"): 1}
    assert await eventually(lambda: states(app) == expected), states(app)

    async def silent_went_offline() -> dict[str, Any]:
        async for event in watcher.events():
            if event["type"] == "online_state" and event["user_id"] == "silent":
                return event
        raise AssertionError("the watcher's connection ended")

    assert await asyncio.wait_for(silent_went_offline(), 5) == {
        "type": "online_state",
        "state": 0,
        "user_id": "silent",
        "mutex_type": "web",
        "client_guid": "guid-silent",
        "custom_state": "",
    }
    await watcher.close()
    await silent.close()


async def test_a_clean_close_and_a_dropped_connection_end_the_same(app: OnlineApp) -> None:
    clean, _ = await raw_login(app, "clean")
    dropped, _ = await raw_login(app, "dropped")
    await clean.close()
    dropped.conn.transport.abort()  # no close frame: the TCP connection just ends
    expected = {("clean", "web"): 0, ("dropped", "web"): 0}
    assert await eventually(lambda: states(app) == expected), states(app)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("delete", "app_deleted"),
        ("offline", "app_offline"),
        ("drop service 7", "service_removed"),
    ],
)
async def test_app_changes_disconnect_its_terminals(
    app: OnlineApp, change: str, reason: str
) -> None:
    t, _ = await raw_login(app, "member")
    if change == "delete":
        app.rest("DELETE", "/v1/app", params={"app_id": app.app_id})
    elif change == "offline":
        app.rest("PATCH", "/v1/app", json={"app_id": app.app_id, "status": "offline"})
    else:
        app.rest("PATCH", "/v1/app", json={"app_id": app.app_id, "service": [{"service_id": 3}]})
    assert (await t.expect("kicked"))["reason"] == reason
    await t.conn.wait_closed()
    assert t.conn.close_code == 4001
    again, reply = await raw_login(app, "member")
    assert (
        reply["code"] == {"delete": 1000001, "offline": 1000002, "drop service 7": 1000023}[change]
    )
    await again.close()
    await t.close()


async def test_other_app_changes_leave_terminals_alone(app: OnlineApp) -> None:
    t, _ = await raw_login(app, "member")
    app.rest("PATCH", "/v1/app", json={"app_id": app.app_id, "app_name": "renamed"})
    assert (await t.request({"type": "heartbeat"}))["code"] == 0
    await t.close()


async def test_terminal_client_requests_events_and_reconnect(app: OnlineApp) -> None:
    alice = app.terminal("alice", reconnect=True, client_guid="alice-1")
    bob = app.terminal("bob")
    await alice.connect()
    await bob.connect()
    assert (await bob.list_online())["total"] == 2
    assert await bob.send_message("alice", {"hello": 1}) == 1
    assert await bob.invite("room", ["alice"], seq_id=5) == []
    await alice.set_state("away")
    events = alice.events()

    async def next_event() -> dict[str, Any]:
        while True:  # presence pushes (bob's login) come in between
            event = await asyncio.wait_for(anext(events), 10)
            if event["type"] != "online_state":
                return event

    assert (await next_event())["type"] == "message"
    invite = await next_event()
    assert (invite["type"], invite["seq_id"]) == ("invite", 5)
    assert await alice.reply_invite("room", 5, accept=True)

    assert alice.connection is not None
    alice.connection.transport.abort()  # the network drops
    assert await next_event() == {"type": "reconnected"}
    assert states(app)[("alice", "web")] == 1
    reply = app.rest(
        "POST",
        "/v1/online/trans-cmd",
        json={
            "app_id": app.app_id,
            "msg_id": 3,
            "trans_mess": {"k": "v"},
            "user_list": [{"user_id": "alice", "mutex_type": "web", "client_guid": "alice-1"}],
        },
    )
    assert reply["result"]["user_list"][0]["result"] == 0
    assert (await next_event())["trans_mess"] == {"k": "v"}

    app.rest("POST", "/v1/kickout", json={"app_id": app.app_id, "user_id": "alice"})
    assert (await next_event())["reason"] == "kickout"
    with pytest.raises(StopAsyncIteration):  # a kick is final, even with reconnect on
        await next_event()
    await alice.close()
    await bob.close()


async def test_terminal_client_login_refused(app: OnlineApp) -> None:
    bad = TerminalClient(app.gateway.url, app.app_id, "x", app_secret="0123456789abcdef")
    with pytest.raises(TerminalLoginError) as err:
        await bad.connect()
    assert err.value.code == 1000000


async def test_signaling_and_peak_terminals_are_counted_durably(quick: Gateway) -> None:
    app = make_app(quick)
    a, _ = await raw_login(app, "a")
    b, _ = await raw_login(app, "b")
    c, _ = await raw_login(app, "c", mutex_type="windows")
    await a.request({"type": "message", "to_user_id": "b", "body": "1"})
    app.rest(
        "POST",
        "/v1/online/trans-cmd",
        json={
            "app_id": app.app_id,
            "msg_id": 1,
            "trans_mess": {},
            "user_list": [
                {"user_id": u, "mutex_type": "web", "client_guid": ""} for u in ("a", "b", "ghost")
            ],
        },
    )
    for t in (a, b, c):
        await t.close()

    async def written() -> list[tuple[int, int]]:
        store = SqliteStore(quick.data_dir / "hstgw.sqlite3")
        await store.open()
        try:
            return [(u.signaling, u.peak_terminals) for u in await store.online_usage(app.app_id)]
        finally:
            await store.close()

    async def flushed() -> bool:  # by the periodic flush (every 0.2 s), not at shutdown
        return await written() == [(3, 3)]

    assert await eventually(flushed), await written()


def run_terminal(
    app: OnlineApp, user: str, *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hstgw",
            "terminal",
            "--url",
            app.gateway.url,
            "--app-id",
            app.app_id,
            "--user-id",
            user,
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def read_event(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, proc.stderr.read() if proc.stderr else ""
    return dict(json.loads(line))


def test_terminal_cli_prints_events_and_exits_when_kicked(app: OnlineApp) -> None:
    proc = run_terminal(app, "cli", "--app-secret", app.app_secret, "--client-guid", "cli-1")
    try:
        assert read_event(proc) == {"event": "login", "code": 0, "client_guid": "cli-1"}
        app.rest(
            "POST",
            "/v1/online/trans-cmd",
            json={
                "app_id": app.app_id,
                "msg_id": 11,
                "trans_mess": {"do": "it"},
                "user_list": [{"user_id": "cli", "mutex_type": "web", "client_guid": ""}],
            },
        )
        assert read_event(proc) == {"event": "trans_cmd", "msg_id": 11, "trans_mess": {"do": "it"}}
        app.rest(
            "POST",
            "/v1/online/invite",
            json={
                "app_id": app.app_id,
                "group_id": "g1",
                "user_id_list": ["cli"],
                "seq_id": 3,
                "extend_info": {"a": 1},
            },
        )
        invite = read_event(proc)
        assert (invite["event"], invite["group_id"], invite["seq_id"], invite["extend_info"]) == (
            "invite",
            "g1",
            3,
            {"a": 1},
        )
        app.rest("POST", "/v1/kickout", json={"app_id": app.app_id, "user_id": "cli"})
        kicked = read_event(proc)
        assert (kicked["event"], kicked["reason"]) == ("kicked", "kickout")
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        proc.communicate()


def test_terminal_cli_login_failure_exits_non_zero(app: OnlineApp) -> None:
    proc = run_terminal(app, "cli2", env={"HSTGW_TERMINAL_TOKEN": "001garbage"})
    try:
        assert read_event(proc)["code"] == 1000000
        assert proc.wait(10) == 1
    finally:
        proc.communicate()


def test_terminal_cli_uses_the_given_token(app: OnlineApp) -> None:
    from hstgw.tokens.fsp import build

    token = build(app.app_id, app.app_secret, uid="cli3")
    proc = run_terminal(app, "cli3", env={"HSTGW_TERMINAL_TOKEN": token})
    try:
        assert read_event(proc)["code"] == 0

        def kicked() -> int:
            body = {"app_id": app.app_id, "user_id": "cli3"}
            return int(app.rest("POST", "/v1/kickout", json=body)["result"]["kicked"])

        assert eventually_sync(kicked) == 1
        assert read_event(proc)["event"] == "kicked"
        assert proc.wait(10) == 0
    finally:
        proc.communicate()


async def test_terminal_cli_prints_presence_and_messages(app: OnlineApp) -> None:
    proc = run_terminal(app, "cli4", "--app-secret", app.app_secret, "--company-id", "co")
    try:
        assert read_event(proc)["code"] == 0
        peer, reply = await raw_login(app, "peer", company_id="co", custom_state="here")
        assert reply["code"] == 0
        state = read_event(proc)
        assert (state["event"], state["user_id"], state["state"], state["custom_state"]) == (
            "online_state",
            "peer",
            1,
            "here",
        )
        sent = await peer.request({"type": "message", "to_user_id": "cli4", "body": "ping"})
        assert sent["delivered"] == 1
        message = read_event(proc)
        assert (message["event"], message["from_user_id"], message["body"]) == (
            "message",
            "peer",
            "ping",
        )
        await peer.request({"type": "invite", "group_id": "g", "user_ids": ["cli4"], "seq_id": 4})
        assert read_event(proc)["event"] == "invite"
        await peer.close()
        gone = read_event(proc)
        assert (gone["event"], gone["state"]) == ("online_state", 0)
    finally:
        proc.kill()
        proc.communicate()
