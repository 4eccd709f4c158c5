"""Replay protection: a 001 token logs in once within its validity; reconnects use the
resume credential of their login."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hstgw.errors import TerminalCode
from hstgw.online.presence import (
    KICK_BUCKETS,
    KICKS_KEPT_MS,
    LocalPresence,
    Presence,
    Retained,
    kick_bucket,
    resume_owner,
    resume_user,
)
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
    latest = reply["resume"]
    # bound to its user, app and kind of terminal; a made-up one is refused
    other, reply = await raw_login(app, "someone_else", token="", resume=latest)
    assert reply["code"] == 1000000
    await other.close()
    pad, reply = await raw_login(app, "r", token="", resume=latest, mutex_type="pad")
    assert reply["code"] == 1000000
    await pad.close()
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
    for company, mutex, resume in (("c1", None, resume_c1), ("c2", "pad", resume_c2)):
        kind = {"mutex_type": mutex} if mutex else {}
        again, reply = await raw_login(
            app, "away", token="", resume=resume, company_id=company, **kind
        )
        assert reply["code"] == 1000000, company
        await again.close()


async def test_kept_credentials_are_forgotten_whole() -> None:
    """The index of a user's owners follows the credentials: nothing of a user stays
    once its credentials are gone (pruned, unused or kicked)."""
    presence = LocalPresence(Registry())
    for company in ("c1", "c2"):
        owner = resume_owner("a" * 32, "u", company, "web")
        await presence.keep_resume(f"d-{company}", owner, until_ms=100, now_ms=0)
    await presence.forget_resume("d-c1", resume_owner("a" * 32, "u", "c1", "web"))
    await presence.prune(now_ms=200, retention_ms=0)
    assert not presence._resumes and not presence._resumes_of and not presence._owners_of
    for mutex_type in ("web", "pc"):  # (a kickout forgets every kind of terminal's)
        owner = resume_owner("a" * 32, "u", "c3", mutex_type)
        await presence.keep_resume(f"d-{mutex_type}", owner, until_ms=100, now_ms=0)
    await presence.forget_resumes("a" * 32, "u")
    assert not presence._resumes and not presence._resumes_of and not presence._owners_of


async def test_kickouts_keep_no_more_marks_than_buckets() -> None:
    """A developer kicking out users by the hundred thousand (each with nothing to
    forget) does not grow what presence keeps: a mark is a bucket's, not a user's."""
    presence = LocalPresence(Registry())
    kept = presence._kicks.buffer_info()
    for i in range(100_000):
        await presence.forget_resumes("a" * 32, f"nobody{i}")
    assert presence._kicks.buffer_info() == kept and len(presence._kicks) == KICK_BUCKETS
    assert sum(1 for mark in presence._kicks if mark) > KICK_BUCKETS * 3 // 4
    # each process keys its buckets with its own secret: users land otherwise in two
    other = LocalPresence(Registry())
    assert other.kick_key != presence.kick_key
    users = [resume_user("a" * 32, f"u{i}") for i in range(100)]
    assert [kick_bucket(presence.kick_key, u) for u in users] != [
        kick_bucket(other.kick_key, u) for u in users
    ]


async def test_a_login_by_resume_under_way_as_its_user_is_kicked_is_refused(
    app: OnlineApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kickout forgets the credential while the login waits on its app's budget
    (after its credential was found good), or after the login kept its new one, before
    it takes its place (so the kickout's list cannot show it): the place is refused,
    the mark of the user's bucket having changed since the check."""
    for where in ("guard", "quota"):
        first, reply = await raw_login(app, "racer")
        resume = reply["resume"]
        await first.close()
        assert await eventually(lambda: app.online("racer") == 0)
        async with _held(app, monkeypatch, where) as (entered, gate):
            login = asyncio.ensure_future(raw_login(app, "racer", token="", resume=resume))
            assert await eventually(entered.is_set)
            got = app.rest("POST", "/v1/kickout", json={"app_id": app.app_id, "user_id": "racer"})
            assert got["code"] == 0 and got["result"]["kicked"] == 0, got
            gate.set()
            conn, reply = await login
        assert reply["code"] == 1000000, (where, reply)
        await conn.close()
        assert app.online("racer") == 0
    # and a login by token after it is not held to anything
    back, reply = await raw_login(app, "racer")
    assert reply["code"] == 0
    await back.close()


async def test_a_login_by_resume_is_not_refused_for_another_users_kickout(
    app: OnlineApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kickout of a user of the same bucket moves the mark the login read: its
    credential still there, the login looks again and takes its place; a mark that
    moves again (kickouts without end) gets busy, not a refused credential."""
    presence = app.gateway.app.state["gateway"].online.presence
    mate = _bucket_mate(presence, "racer", True, app.app_id)
    claim, moves = presence.claim, [0]

    async def kicked_meanwhile(*args: Any) -> Any:
        if moves[0]:  # (as if a kickout of the mate ran just before each claim)
            moves[0] -= 1
            await presence.forget_resumes(app.app_id, mate)
        return await claim(*args)

    monkeypatch.setattr(presence, "claim", kicked_meanwhile)
    for count, code in ((1, 0), (2, 1000107)):
        first, reply = await raw_login(app, "racer")
        await first.close()
        assert await eventually(lambda: app.online("racer") == 0)
        moves[0] = count
        conn, reply = await raw_login(app, "racer", token="", resume=reply["resume"])
        assert reply["code"] == code, (count, reply)
        assert moves[0] == 0
        await conn.close()
        assert await eventually(lambda: app.online("racer") == 0)
    # and a kickout of the user itself still refuses it
    first, reply = await raw_login(app, "racer")
    await first.close()
    assert await eventually(lambda: app.online("racer") == 0)
    async with _held(app, monkeypatch, "quota") as (entered, gate):
        login = asyncio.ensure_future(raw_login(app, "racer", token="", resume=reply["resume"]))
        assert await eventually(entered.is_set)
        got = app.rest("POST", "/v1/kickout", json={"app_id": app.app_id, "user_id": "racer"})
        assert got["code"] == 0, got
        gate.set()
        conn, reply = await login
    assert reply["code"] == 1000000, reply
    await conn.close()


async def test_a_login_by_resume_that_stalls_past_half_the_marks_time_is_refused(
    fresh_gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kickout's mark is kept KICKS_KEPT_MS: a login by resume that took half of it
    from its check to its place could miss a kickout whose mark went meanwhile."""
    app = make_app(fresh_gateway)  # (its clock is moved)
    first, reply = await raw_login(app, "slow")
    resume = reply["resume"]
    await first.close()
    assert await eventually(lambda: app.online("slow") == 0)
    async with _held(app, monkeypatch, "quota") as (entered, gate):
        login = asyncio.ensure_future(raw_login(app, "slow", token="", resume=resume))
        assert await eventually(entered.is_set)
        app.gateway.clock.advance(KICKS_KEPT_MS / 2000 + 1)
        gate.set()
        conn, reply = await login
    assert reply["code"] == 1000107, reply  # busy: it tries again
    await conn.close()
    again, reply = await raw_login(app, "slow", token="", resume=resume)
    assert reply["code"] == 0, reply  # (its credential was not used up)
    await again.close()


async def test_a_login_by_resume_is_not_refused_for_its_users_other_logins(
    app: OnlineApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user's three terminals reconnect at once: two others keep their credentials
    while it is under way (each kind of terminal keeps its own last two). Only a
    kickout refuses it."""
    first, reply = await raw_login(app, "many", mutex_type="a", company_id="co")
    resume = reply["resume"]
    await first.close()
    assert await eventually(lambda: app.online("many") == 0)
    async with _held(app, monkeypatch, "quota") as (entered, gate):
        login = asyncio.ensure_future(
            raw_login(app, "many", token="", resume=resume, mutex_type="a", company_id="co")
        )
        assert await eventually(entered.is_set)
        others = [
            asyncio.ensure_future(raw_login(app, "many", mutex_type=mutex, company_id="co"))
            for mutex in ("b", "c")
        ]
        # (each kept its credential before it waits at the gate)
        assert await eventually(lambda: entered.count == 3)
        gate.set()
        conn, reply = await login
        done = [await o for o in others]
    assert reply["code"] == 0, reply
    assert [r["code"] for _, r in done] == [0, 0]
    for c in (conn, *(c for c, _ in done)):
        await c.close()


@contextlib.asynccontextmanager
async def _held(
    app: OnlineApp, monkeypatch: pytest.MonkeyPatch, where: str
) -> AsyncIterator[tuple[_Entered, threading.Event]]:
    """Logins wait in the app's login budget (``guard``: before the new credential is
    kept) or in its spending limits (``quota``: after), until the test opens the gate."""
    gateway = app.gateway.app.state["gateway"]
    target, name = (
        (gateway.guard, "login") if where == "guard" else (gateway.billing.quota, "login_refusal")
    )
    original, entered, gate = getattr(target, name), _Entered(), threading.Event()

    async def held(*args: Any) -> Any:
        entered.count += 1
        await asyncio.to_thread(gate.wait, 10)  # (the test's thread opens it)
        return await original(*args)

    monkeypatch.setattr(target, name, held)
    try:
        yield entered, gate
    finally:
        gate.set()
        monkeypatch.setattr(target, name, original)


class _Entered:
    """How many logins came to the gate."""

    count = 0

    def is_set(self) -> bool:
        return self.count > 0


class _Link:
    def push(self, text: str) -> bool:
        return True

    def close(self, code: int, reason: str) -> None:
        return None


def _session(user_id: str, mutex_type: str = "web") -> Session:
    return Session(
        _Link(), "a" * 32, user_id, mutex_type, "", "", "", "", 0.0, f"c-{user_id}-{mutex_type}"
    )


def _bucket_mate(presence: Presence, user_id: str, mate: bool, app_id: str = "a" * 32) -> str:
    """A user of the app whose kickout bucket is (``mate``) or is not ``user_id``'s."""
    bucket = kick_bucket(presence.kick_key, resume_user(app_id, user_id))
    return next(
        other
        for other in (f"{user_id}-{i}" for i in itertools.count())
        if (kick_bucket(presence.kick_key, resume_user(app_id, other)) == bucket) is mate
    )


async def check_resume_steps(
    presence: Presence, lose_marks: Callable[[], Awaitable[object]]
) -> None:
    """A login by resume's check and place against a kickout (docs/security.md): any
    presence passes these. ``lose_marks``: the kickout marks kept go, if they ever do
    (their time is up)."""
    owner = resume_owner("a" * 32, "u", "co", "web")
    await presence.keep_resume("old", owner, until_ms=10_000, now_ms=0)
    assert await presence.resume_of("old", owner, 1) == ""  # never kicked out
    # another owner (user, company, or kind of terminal) does not answer to it
    assert await presence.resume_of("old", resume_owner("a" * 32, "v", "co", "web"), 1) is None
    assert await presence.resume_of("old", resume_owner("a" * 32, "u", "c2", "web"), 1) is None
    assert await presence.resume_of("old", resume_owner("a" * 32, "u", "co", "pc"), 1) is None
    # a kickout since the check: the place is refused
    await presence.forget_resumes("a" * 32, "u")
    assert await presence.resume_of("old", owner, 1) is None
    refused = await presence.claim(_session("u"), False, None, kicked="")
    assert refused.refused is TerminalCode.TOKEN_INVALID
    assert await presence.count("a" * 32) == 0
    # checked after the kickout: the place is taken, whatever credentials came and went
    await presence.keep_resume("new", owner, until_ms=10_000, now_ms=2)
    kicked = await presence.resume_of("new", owner, 3)
    assert kicked
    for i in range(3):
        await presence.keep_resume(f"more{i}", owner, until_ms=10_000, now_ms=3)
    taken = await presence.claim(_session("u"), False, None, kicked=kicked)
    assert taken.refused is None and taken.count == 1
    # another user's kickouts do not count, but for one whose bucket is the same
    await presence.forget_resumes("a" * 32, _bucket_mate(presence, "u", False))
    other = await presence.claim(_session("u", "pad"), False, None, kicked=kicked)
    assert other.refused is None
    await presence.forget_resumes("a" * 32, _bucket_mate(presence, "u", True))
    mate = await presence.claim(_session("u", "phone"), False, None, kicked=kicked)
    assert mate.refused is TerminalCode.TOKEN_INVALID
    # a kickout after the last one's mark went has a mark of its own, never the last's
    await presence.keep_resume("again", owner, until_ms=10_000, now_ms=5)
    kicked = await presence.resume_of("again", owner, 5)
    await lose_marks()
    await presence.forget_resumes("a" * 32, "u")
    late = await presence.claim(_session("u", "tab"), False, None, kicked=kicked)
    assert late.refused is TerminalCode.TOKEN_INVALID


async def test_a_login_by_resume_checked_and_placed_in_one_process() -> None:
    local = LocalPresence(Registry())

    async def lose_marks() -> None:  # (in one process, marks are never lost)
        await local.prune(now_ms=KICKS_KEPT_MS + 10, retention_ms=KICKS_KEPT_MS + 10)

    await check_resume_steps(local, lose_marks)
    presence = LocalPresence(Registry())  # (Redis ends a credential in its own time)
    owner = resume_owner("a" * 32, "u", "", "web")
    await presence.keep_resume("d", owner, until_ms=100, now_ms=0)
    assert await presence.resume_of("d", owner, 101) is None


async def check_retained_steps(
    presence: Presence,
    offline: Callable[[str], Awaitable[set[tuple[str, str]]]],
    go_offline: Callable[[str, str], Awaitable[object]],
) -> None:
    """What token logins leave behind is kept for the developer's last few (here 3,
    ``retained_per_developer``): any presence passes these. ``offline(app_id)``: the
    app's offline (user_id, mutex_type); ``go_offline``: a terminal's offline entry."""
    app, other_app = "a" * 32, "b" * 32

    async def login(dev: str, app_id: str, user: str, used: str) -> None:
        owner = resume_owner(app_id, user, "co", "web")
        assert await presence.first_use(used, until_ms=10**13, now_ms=0)
        await presence.keep_resume(f"d-{used}", owner, until_ms=10**13, now_ms=0)
        pending = presence.retain(dev, Retained(used, owner, "web"))
        if pending is not None:
            await pending
        await go_offline(app_id, user)

    await login("dev-b", other_app, "w", "t-w")  # another developer's
    await login("dev-a", app, "u", "t-u1")
    await login("dev-a", app, "u", "t-u2")  # u again: its state is held twice
    for i in range(3):
        await login("dev-a", app, f"v{i}", f"t-v{i}")
    # u's first login went: its token may be used again; u's second went too
    assert await presence.first_use("t-u1", until_ms=10**13, now_ms=1)
    assert await presence.first_use("t-u2", until_ms=10**13, now_ms=1)
    u = resume_owner(app, "u", "co", "web")
    assert await presence.resume_of("d-t-u2", u, 1) is None
    assert await offline(app) == {("v0", "web"), ("v1", "web"), ("v2", "web")}
    # the last three's state stays, and the other developer's
    for i in range(3):
        assert not await presence.first_use(f"t-v{i}", until_ms=10**13, now_ms=1)
        v = resume_owner(app, f"v{i}", "co", "web")
        assert await presence.resume_of(f"d-t-v{i}", v, 1) == ""
    assert not await presence.first_use("t-w", until_ms=10**13, now_ms=1)
    assert await presence.resume_of("d-t-w", resume_owner(other_app, "w", "co", "web"), 1) == ""
    assert await offline(other_app) == {("w", "web")}
    # a user whose later login is kept keeps its state when an earlier one goes
    await login("dev-a", app, "v2", "t-v2b")
    await login("dev-a", app, "x", "t-x")
    await login("dev-a", app, "y", "t-y")  # v0, v1, then v2's first login went
    v2 = resume_owner(app, "v2", "co", "web")
    assert await presence.resume_of("d-t-v2b", v2, 1) == ""
    assert ("v2", "web") in await offline(app) and ("v0", "web") not in await offline(app)


async def test_what_token_logins_leave_is_kept_for_the_last_few_in_one_process() -> None:
    registry = Registry()
    presence = LocalPresence(registry, retained_per_developer=3)

    async def offline(app_id: str) -> set[tuple[str, str]]:
        return {(o.user_id, o.mutex_type) for o in registry.offline_of_app(app_id)}

    async def go_offline(app_id: str, user_id: str) -> None:
        s = Session(_Link(), app_id, user_id, "web", "", "co", "", "", 0.0, f"c-{user_id}")
        registry.add(s)
        registry.remove(s, 1)

    await check_retained_steps(presence, offline, go_offline)
    assert len(presence._retained["dev-a"]) == 3 and len(presence._refs) <= 2 * 4


async def test_a_developers_made_up_users_push_out_its_oldest_logins(tmp_path: Path) -> None:
    """An attack review's finding: every token login of a made-up user kept ~2 KiB for
    a day, without end. Past the developer's last HSTGW_LIMIT_RETAINED_LOGINS_PER_DEVELOPER
    token logins, the oldest's go: its resume credential and its offline entry."""
    for gw in start_gateway(tmp_path, limit_retained_logins_per_developer=100):
        app = make_app(gw)
        first, reply = await raw_login(app, "alice")
        await first.close()
        # a terminal's refused logins (here: already online) count for nothing
        mallory, _ = await raw_login(app, "mallory")
        for _ in range(120):
            t, r = await raw_login(app, "mallory")
            assert r["code"] == 1000008, r
            await t.close()
        again, resumed = await raw_login(app, "alice", token="", resume=reply["resume"])
        assert resumed["code"] == 0, resumed
        await again.close()
        await mallory.close()
        for i in range(100):
            t, r = await raw_login(app, f"made-up-{i}")
            assert r["code"] == 0, r
            await t.close()
        assert await eventually(lambda a=app: a.online("made-up-99") == 0)
        again, refused = await raw_login(app, "alice", token="", resume=reply["resume"])
        assert refused["code"] == 1000000, refused
        await again.close()
        state = app.rest("GET", f"/v1/online/user/state?app_id={app.app_id}&msg_id=1")
        users = {u["user_id"] for u in state["result"]["user_list"]}
        assert "alice" not in users and "made-up-0" in users and len(users) == 100
