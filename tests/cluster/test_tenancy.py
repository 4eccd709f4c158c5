"""Tenancy across nodes: invites belong to their inviter, a terminal reaches only its
company, pending invites are bounded per app (issue 10, items 4 and 5)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hstgw.cluster.presence import RedisPresence
from hstgw.cluster.redis import SharedRedis
from hstgw.errors import TerminalCode
from hstgw.online.presence import kick_bucket, resume_owner, resume_user
from hstgw.secretbox import derive_key
from hstgw.tokens.fsp import build
from tests.cli.test_cli import hstgw
from tests.cluster.conftest import REDIS_URL, drop_namespace, nodes, require_redis
from tests.cluster.test_cluster import on
from tests.conftest import Gateway
from tests.online.conftest import make_app, raw_login
from tests.online.test_replay import (
    _bucket_mate,
    _session,
    check_resume_steps,
    check_retained_steps,
)
from tests.online.test_tenancy import (
    APP_A,
    _invite,
    _reply,
    check_invite_bounds,
    check_invite_expiry,
)

pytestmark = pytest.mark.anyio


async def test_invites_belong_to_their_inviter_across_nodes(two: list[Gateway]) -> None:
    app_a = make_app(two[0])
    app_b = on(app_a, two[1])
    alice, _ = await raw_login(app_a, "alice")
    mallory, _ = await raw_login(app_b, "mallory")
    bob, _ = await raw_login(app_b, "bob")
    carol, _ = await raw_login(app_a, "carol")
    assert (await alice.request(_invite(2, ["bob"])))["code"] == 0
    await bob.expect("invite")
    assert (await mallory.request(_invite(3, ["bob"])))["code"] == 1000101
    assert (await carol.request(_reply(4)))["code"] == 1000101  # never invited
    answered = await bob.request(_reply(5))
    assert (answered["code"], answered["delivered"]) == (0, True)
    assert (await alice.expect("invite_reply"))["user_id"] == "bob"
    for t in (alice, mallory, bob, carol):
        await t.close()


async def test_company_scope_holds_across_nodes(two: list[Gateway]) -> None:
    app_a = make_app(two[0])
    app_b = on(app_a, two[1])
    x, _ = await raw_login(app_a, "xavier", company_id="x-corp")
    y, _ = await raw_login(app_b, "yolanda", company_id="y-corp")
    msg = {"type": "message", "seq": 2, "to_user_id": "yolanda", "body": "hi"}
    assert (await x.request(msg))["code"] == 1000106
    invited = await x.request(_invite(3, ["yolanda"]))
    assert invited["failed_user_ids"] == ["yolanda"]
    for t in (x, y):
        await t.close()


@contextlib.asynccontextmanager
async def _invites_in_redis() -> AsyncIterator[tuple[RedisPresence, SharedRedis]]:
    """A presence in a namespace of its own: 5 invites an app, 20 invitees a developer."""
    require_redis()
    namespace = "t" + secrets.token_hex(6)
    shared = SharedRedis(REDIS_URL, namespace)
    try:
        yield (
            RedisPresence(
                shared,
                "n1",
                2.0,
                60,
                invites_per_app=5,
                kick_key=secrets.token_bytes(32),
                invitees_per_developer=20,
            ),
            shared,
        )
    finally:
        await shared.close()
        drop_namespace(namespace)


async def test_pending_invites_are_bounded_per_app_and_per_developer_in_redis() -> None:
    async with _invites_in_redis() as (presence, shared):
        await check_invite_bounds(presence)
        assert await shared.client.hlen(shared.key("inv", APP_A)) <= 5
        # the developer's count follows what it holds (two invites of 8)
        assert int(await shared.client.hget(shared.key("invn", "dev-1"), "*")) == 16
        assert await shared.client.zcard(shared.key("invd", "dev-1")) == 2


async def test_expired_invites_leave_the_developers_count_in_redis() -> None:
    async with _invites_in_redis() as (presence, shared):

        async def held() -> int:
            return int(await shared.client.hget(shared.key("invn", "dev-1"), "*") or 0)

        await check_invite_expiry(presence, held)
        assert await shared.client.zcard(shared.key("invd", "dev-1")) == 2


async def test_login_limits_hold_for_the_cluster(tmp_path: Path) -> None:
    with nodes(tmp_path, 2, limit_logins_per_app=1, limit_login_failures_per_address=6) as (a, b):
        app_a = make_app(a)
        app_b = on(app_a, b)
        codes = []
        for i in range(6):  # failures on both nodes: one bucket for the address
            app = (app_a, app_b)[i % 2]
            bad = build(app.app_id, "0123456789abcdef", uid="u")
            t, reply = await raw_login(app, "u", token=bad)
            codes.append(reply["code"])
            await t.close()
        assert codes == [1000000] * 6
        t, reply = await raw_login(app_b, "alice")
        assert reply["code"] == 1000108  # the address is past its failures, on either node
        await t.close()


async def test_bogus_logins_spend_no_app_budget_in_the_cluster(tmp_path: Path) -> None:
    with nodes(tmp_path, 2, limit_logins_per_app=1) as (a, b):
        app_a = make_app(a)
        app_b = on(app_a, b)
        for i in range(24):
            app = (app_a, app_b)[i % 2]
            bad = build(app.app_id, "0123456789abcdef", uid="u")
            t, reply = await raw_login(app, "u", token=bad)
            assert reply["code"] == 1000000
            await t.close()
        t, reply = await raw_login(app_b, "alice")
        assert reply["code"] == 0
        await t.close()


async def test_a_disabled_developers_terminals_stop_on_every_node(two: list[Gateway]) -> None:
    a, b = two
    dev = a.new_dev()
    app_a = make_app(a, dev=dev)
    app_b = on(app_a, b)
    ta, _ = await raw_login(app_a, "ann")
    tb, _ = await raw_login(app_b, "ben")
    out = await asyncio.to_thread(hstgw, "dev", "disable", dev.dev_id, env=a.cli_env())
    assert out.returncode == 0, out.stderr
    for t in (ta, tb):  # the sweep runs every 0.5 s here
        assert (await t.expect("kicked", timeout=10.0))["reason"] == "developer_disabled"
        await t.close()
    t, login = await raw_login(app_b, "cyd")
    assert (login["code"], login["msg"]) == (1000002, "the app's developer is disabled")
    await t.close()


async def test_a_login_by_resume_checked_and_placed_in_redis() -> None:
    require_redis()
    namespace = "t" + secrets.token_hex(6)
    shared = SharedRedis(REDIS_URL, namespace)
    try:
        presence = RedisPresence(shared, "n1", 2.0, 60, kick_key=secrets.token_bytes(32))

        async def lose_marks() -> None:
            marks = [k async for k in shared.client.scan_iter(match=shared.key("kicked", "*"))]
            assert marks
            await shared.client.delete(*marks)

        await check_resume_steps(presence, lose_marks)
    finally:
        await shared.close()
        drop_namespace(namespace)


async def test_a_kickout_on_one_node_holds_a_login_by_resume_on_another() -> None:
    """Two nodes key their buckets alike (from the master key): the mark a kickout on
    one moves is the one a login by resume on the other reads; users of one bucket
    share one key, whatever number of them is kicked out."""
    require_redis()
    namespace = "t" + secrets.token_hex(6)
    shared = SharedRedis(REDIS_URL, namespace)
    key = derive_key(secrets.token_bytes(32), "kickout buckets")
    a = RedisPresence(shared, "a", 2.0, 60, kick_key=key)
    b = RedisPresence(shared, "b", 2.0, 60, kick_key=key)
    try:
        owner = resume_owner("a" * 32, "u", "co", "web")
        await a.keep_resume("d", owner, until_ms=10_000, now_ms=0)
        kicked = await b.resume_of("d", owner, 1)
        assert kicked == ""
        await a.forget_resumes("a" * 32, "u")
        refused = await b.claim(_session("u"), False, None, kicked=kicked)
        assert refused.refused is TerminalCode.TOKEN_INVALID
        for user in ("u", _bucket_mate(a, "u", True), _bucket_mate(a, "u", True) + "x"):
            await a.forget_resumes("a" * 32, user)
        marks = [k async for k in shared.client.scan_iter(match=shared.key("kicked", "*"))]
        assert len(marks) <= 2, marks  # (u and its mate: one key; the third maybe another)
        assert shared.key("kicked", str(kick_bucket(key, resume_user("a" * 32, "u")))) in {
            m.decode() for m in marks
        }
    finally:
        await shared.close()
        drop_namespace(namespace)


async def test_what_token_logins_leave_is_kept_for_the_last_few_in_redis() -> None:
    require_redis()
    namespace = "t" + secrets.token_hex(6)
    shared = SharedRedis(REDIS_URL, namespace)
    presence = RedisPresence(
        shared, "n1", 2.0, 60, kick_key=secrets.token_bytes(32), retained_per_developer=3
    )

    async def offline(app_id: str) -> set[tuple[str, str]]:
        return {(o.user_id, o.mutex_type) for o in await presence.offline(app_id, 0)}

    async def go_offline(app_id: str, user_id: str) -> None:
        s = _session(user_id)
        s.app_id, s.company_id = app_id, "co"
        assert (await presence.claim(s, True, None)).refused is None
        released = presence.release(s, 1)
        if released is not None:
            await released

    try:
        await check_retained_steps(presence, offline, go_offline)
        kept = await shared.client.llen(shared.key("retained", "dev-a"))
        assert kept == 3 and await shared.client.pttl(shared.key("retained", "dev-a")) > 0
        # the index of a user's owners goes with its last owner's credentials: only the
        # users kept (v0's to v2's... and x's, y's, w's of the other developer) have one
        indexed = {
            k.decode().rpartition("\x1f")[2]
            async for k in shared.client.scan_iter(match=shared.key("resume-owners", "*"))
        }
        assert indexed == {"v2", "x", "y", "w"}, indexed
    finally:
        await shared.close()
        drop_namespace(namespace)
