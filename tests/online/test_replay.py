"""Replay protection: a 001 token logs in once within its validity; reconnects use the
resume credential of their login."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hstgw.errors import TerminalCode
from hstgw.online.presence import LocalPresence, Presence, resume_owner
from hstgw.online.registry import Registry
from hstgw.online.session import Session
from hstgw.sdk import TerminalClient
from hstgw.tokens.fsp import build
from tests.conftest import Gateway, start_gateway
from tests.online.conftest import OnlineApp, make_app, raw_login
from tests.waiting import eventually

pytestmark = pytest.mark.anyio


async def test_a_token_logs_in_once(app: OnlineApp) -> None:
    token = build(app.app_id, app.app_secret, uid="once")
    first, reply = await raw_login(app, "once", token=token)
    assert reply["code"] == 0
    await first.close()
    assert await eventually(lambda: app.online("once") == 0)  # not refused for its place
    again, reply = await raw_login(app, "once", token=token)
    assert reply["code"] == 1000000
    await again.close()
    # the same token spelled with line breaks (as Android wraps it) is the same token
    wrapped = token[:40] + "\n" + token[40:]
    again, reply = await raw_login(app, "once", token=wrapped)
    assert reply["code"] == 1000000
    await again.close()


async def test_a_login_refused_for_its_place_does_not_use_the_token(app: OnlineApp) -> None:
    first, _ = await raw_login(app, "busy")
    token = build(app.app_id, app.app_secret, uid="busy")
    second, reply = await raw_login(app, "busy", token=token)
    assert reply["code"] == 1000008
    await second.close()
    # the same token, now forced: it was not used by the refused login
    third, reply = await raw_login(app, "busy", token=token, force_login=True)
    assert reply["code"] == 0
    for t in (first, third):
        await t.close()


async def test_resume_credentials(app: OnlineApp) -> None:
    first, reply = await raw_login(app, "r")
    resume = reply["resume"]
    await first.close()
    assert await eventually(lambda: app.online("r") == 0)
    again, reply = await raw_login(app, "r", token="", resume=resume)
    assert reply["code"] == 0 and reply["resume"] != resume  # a new one each login
    await again.close()
    # bound to its user and app; a made-up one is refused
    other, reply = await raw_login(app, "someone_else", token="", resume=resume)
    assert reply["code"] == 1000000
    await other.close()
    bogus, reply = await raw_login(app, "r", token="", resume="0" * 32)
    assert reply["code"] == 1000000
    await bogus.close()
    neither, reply = await raw_login(app, "r", token="")
    assert (reply["code"], reply["msg"]) == (1000101, "token: required")
    await neither.close()


@pytest.fixture
def quick(tmp_path: Path) -> Iterator[Gateway]:
    yield from start_gateway(tmp_path, terminal_resume_ttl=60)


async def test_a_resume_credential_expires(quick: Gateway) -> None:
    app = make_app(quick)
    first, reply = await raw_login(app, "late")
    await first.close()
    quick.clock.advance(61)
    again, reply2 = await raw_login(app, "late", token="", resume=reply["resume"])
    assert reply2["code"] == 1000000
    await again.close()


async def test_terminal_client_reconnects_with_its_resume_credential(app: OnlineApp) -> None:
    """A client given one token (no app secret) can only come back by resuming."""
    token = build(app.app_id, app.app_secret, uid="keeper")
    client = TerminalClient(app.gateway.url, app.app_id, "keeper", token=token, reconnect=True)
    await client.connect()
    assert client.connection is not None
    await client.connection.close()  # the network drops the connection

    async def reconnected() -> None:
        async for event in client.events():
            if event["type"] == "reconnected":
                return
            assert event["type"] != "reconnect_failed", event

    await asyncio.wait_for(reconnected(), 10)
    assert (await client.list_online())["total"] == 1
    await client.close()


@pytest.fixture
def lenient(tmp_path: Path) -> Iterator[Gateway]:
    yield from start_gateway(tmp_path, token_replay_protection=False)


async def test_replay_protection_can_be_turned_off(lenient: Gateway) -> None:
    app = make_app(lenient)
    token = build(app.app_id, app.app_secret, uid="twice")
    for _ in range(2):
        conn, reply = await raw_login(app, "twice", token=token)
        assert reply["code"] == 0
        await conn.close()
        assert await eventually(lambda: app.online("twice") == 0)


async def test_a_users_last_two_resume_credentials_are_valid(app: OnlineApp) -> None:
    creds = []
    for _ in range(3):
        conn, reply = await raw_login(app, "three")
        creds.append(reply["resume"])
        await conn.close()
        assert await eventually(lambda: app.online("three") == 0)
    oldest, reply = await raw_login(app, "three", token="", resume=creds[0])
    assert reply["code"] == 1000000
    await oldest.close()
    # (each of these logins makes a new credential, which pushes out the oldest kept:
    # the older of the two first)
    for cred in (creds[1], creds[2]):
        conn, reply = await raw_login(app, "three", token="", resume=cred)
        assert reply["code"] == 0
        await conn.close()
        assert await eventually(lambda: app.online("three") == 0)


async def test_a_kicked_terminal_does_not_come_back_by_resuming(app: OnlineApp) -> None:
    first, reply = await raw_login(app, "kicked", company_id="co")
    kept, _ = await raw_login(app, "kept", company_id="co")
    resume, resume_of_kept = reply["resume"], _["resume"]
    got = app.rest("POST", "/v1/kickout", json={"app_id": app.app_id, "user_id": "kicked"})
    assert got["code"] == 0 and got["result"]["kicked"] == 1, got
    assert await eventually(lambda: app.online("kicked") == 0)
    await first.close()
    again, reply = await raw_login(app, "kicked", token="", resume=resume, company_id="co")
    assert reply["code"] == 1000000  # a new token from the backend, or nothing
    await again.close()
    back, reply = await raw_login(app, "kicked", company_id="co")  # with a new token
    assert reply["code"] == 0
    await back.close()
    # another user's credentials are untouched
    await kept.close()
    assert await eventually(lambda: app.online("kept") == 0)
    resumed, reply = await raw_login(app, "kept", token="", resume=resume_of_kept, company_id="co")
    assert reply["code"] == 0
    await resumed.close()


async def test_a_kick_reaches_credentials_of_terminals_not_online(app: OnlineApp) -> None:
    """A terminal reconnecting (offline) as its user is kicked, or logged in from
    another company, would come back by its last login's credential."""
    away, reply = await raw_login(app, "away", company_id="c1")
    resume_c1 = reply["resume"]
    await away.close()
    assert await eventually(lambda: app.online("away") == 0)
    other, reply = await raw_login(app, "away", company_id="c2", mutex_type="pad")
    resume_c2 = reply["resume"]
    got = app.rest("POST", "/v1/kickout", json={"app_id": app.app_id, "user_id": "away"})
    assert got["code"] == 0 and got["result"]["kicked"] == 1, got
    await other.close()
    assert await eventually(lambda: app.online("away") == 0)
    for company, resume in (("c1", resume_c1), ("c2", resume_c2)):
        again, reply = await raw_login(app, "away", token="", resume=resume, company_id=company)
        assert reply["code"] == 1000000, company
        await again.close()


async def test_kept_credentials_are_forgotten_whole() -> None:
    """The index of a user's owners follows the credentials: nothing of a user stays
    once its credentials are gone (pruned, unused or kicked)."""
    presence = LocalPresence(Registry())
    for company in ("c1", "c2"):
        owner = resume_owner("a" * 32, "u", company)
        await presence.keep_resume(f"d-{company}", owner, until_ms=100, now_ms=0)
    await presence.forget_resume("d-c1", resume_owner("a" * 32, "u", "c1"))
    await presence.prune(now_ms=200, retention_ms=0)
    assert not presence._resumes and not presence._resumes_of and not presence._owners_of
    await presence.keep_resume("d", resume_owner("a" * 32, "u", "c3"), until_ms=100, now_ms=0)
    await presence.forget_resumes("a" * 32, "u")
    assert not presence._resumes and not presence._resumes_of and not presence._owners_of


async def test_a_login_by_resume_under_way_as_its_user_is_kicked_is_refused(
    app: OnlineApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kickout forgets the credential while the login waits on its app's budget
    (after its credential was found good): keeping the new credential looks at the
    presented one in the same step, and refuses."""
    first, reply = await raw_login(app, "racer")
    resume = reply["resume"]
    await first.close()
    assert await eventually(lambda: app.online("racer") == 0)
    guard = app.gateway.app.state["gateway"].guard
    original, entered, gate = guard.login, threading.Event(), threading.Event()

    async def held(app_id: str, address: str = "") -> str | None:
        entered.set()
        await asyncio.to_thread(gate.wait, 10)  # (the test's thread opens it)
        refusal: str | None = await original(app_id, address)
        return refusal

    monkeypatch.setattr(guard, "login", held)
    login = asyncio.ensure_future(raw_login(app, "racer", token="", resume=resume))
    assert await eventually(entered.is_set)
    got = app.rest("POST", "/v1/kickout", json={"app_id": app.app_id, "user_id": "racer"})
    assert got["code"] == 0 and got["result"]["kicked"] == 0, got
    gate.set()
    conn, reply = await login
    assert reply["code"] == 1000000, reply
    await conn.close()
    assert app.online("racer") == 0


async def test_a_login_by_resume_kicked_after_its_new_credential_is_refused(
    app: OnlineApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kickout runs after the login kept its new credential and before it took its
    place (so the kickout's list cannot show it): the place is refused, as the new
    credential is gone."""
    first, reply = await raw_login(app, "late")
    resume = reply["resume"]
    await first.close()
    assert await eventually(lambda: app.online("late") == 0)
    quota = app.gateway.app.state["gateway"].billing.quota
    original, entered, gate = quota.login_refusal, threading.Event(), threading.Event()

    async def held(target: Any) -> str | None:
        entered.set()
        await asyncio.to_thread(gate.wait, 10)  # (the test's thread opens it)
        refusal: str | None = await original(target)
        return refusal

    monkeypatch.setattr(quota, "login_refusal", held)
    login = asyncio.ensure_future(raw_login(app, "late", token="", resume=resume))
    assert await eventually(entered.is_set)
    got = app.rest("POST", "/v1/kickout", json={"app_id": app.app_id, "user_id": "late"})
    assert got["code"] == 0 and got["result"]["kicked"] == 0, got
    gate.set()
    conn, reply = await login
    assert reply["code"] == 1000000, reply
    await conn.close()
    assert app.online("late") == 0
    # and a login by token as the user is kicked is not held to the credential
    monkeypatch.setattr(quota, "login_refusal", original)
    back, reply = await raw_login(app, "late")
    assert reply["code"] == 0
    await back.close()


class _Link:
    def push(self, text: str) -> bool:
        return True

    def close(self, code: int, reason: str) -> None:
        return None


def _session(user_id: str) -> Session:
    return Session(_Link(), "a" * 32, user_id, "web", "", "", "", "", 0.0, f"c-{user_id}")


async def check_resume_steps(presence: Presence) -> None:
    """The two looks of a login by resume, in one step each with what they guard
    (docs/security.md): any presence passes these."""
    owner = resume_owner("a" * 32, "u", "co")
    assert await presence.keep_resume("old", owner, until_ms=10_000, now_ms=0)
    # the presented credential still names its owner: the new one is kept
    assert await presence.keep_resume("new", owner, 10_000, 0, presented="old")
    assert await presence.resume_of("new", 1) == owner
    # another owner's credential does not do
    other = resume_owner("a" * 32, "v", "co")
    assert not await presence.keep_resume("theirs", other, 10_000, 0, presented="new")
    assert await presence.resume_of("theirs", 1) is None
    # a kickout forgot it: nothing is kept
    await presence.forget_resumes("a" * 32, "u")
    assert not await presence.keep_resume("newer", owner, 10_000, 0, presented="new")
    assert await presence.resume_of("newer", 1) is None
    # the place: refused once the login's new credential is gone, taken while it holds
    refused = await presence.claim(_session("u"), False, None, resume="newer")
    assert refused.refused is TerminalCode.TOKEN_INVALID
    assert await presence.count("a" * 32) == 0
    assert await presence.keep_resume("kept", owner, until_ms=10_000, now_ms=0)
    taken = await presence.claim(_session("u"), False, None, resume="kept")
    assert taken.refused is None and taken.count == 1


async def test_the_steps_of_a_login_by_resume_in_one_process() -> None:
    await check_resume_steps(LocalPresence(Registry()))
