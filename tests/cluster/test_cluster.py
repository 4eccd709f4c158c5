"""Two nodes on one PostgreSQL and one Redis behave as one gateway."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
import redis
import redis.asyncio as aioredis

from hstgw.ids import now_ms
from hstgw.sdk import Client
from hstgw.secretbox import derive_key
from hstgw.tokens.fsp import build
from tests.billing.test_limits_and_gateway_usage import now_event
from tests.cli.test_cli import hstgw
from tests.cluster.conftest import REDIS_URL, nodes
from tests.conftest import Gateway
from tests.online.conftest import OnlineApp, make_app, raw_login
from tests.sdk.test_client import CountingTransport
from tests.waiting import eventually, eventually_sync

pytestmark = pytest.mark.anyio


def month_now() -> str:
    return datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")


def on(app: OnlineApp, node: Gateway) -> OnlineApp:
    """The same app (and developer token) seen through another node."""
    ws_url = node.call("GET", "/v1/online/address")["result"]["ws_url"]
    return dataclasses.replace(app, gateway=node, ws_url=ws_url)


def users(app: OnlineApp, **params: Any) -> list[tuple[str, str, int, str]]:
    reply = app.rest(
        "GET", "/v1/online/user/state", params={"app_id": app.app_id, "msg_id": 1, **params}
    )
    assert reply["code"] == 0, reply
    return [
        (u["user_id"], u["mutex_type"], u["state"], u["terminal_seq_num"])
        for u in reply["result"]["user_list"]
    ]


def test_access_tokens_are_one_per_developer_across_nodes(two: list[Gateway]) -> None:
    a, b = two
    dev = a.new_dev()
    # 40 concurrent requests spread over both nodes: exactly one token stays live.
    with ThreadPoolExecutor(8) as pool:
        tokens = list(pool.map(lambda i: two[i % 2].access_token(dev), range(40)))
    assert len(set(tokens)) == 40
    live = [t for t in tokens if a.call("GET", "/v1/apps", t, params={"page": 1})["code"] == 0]
    assert len(live) == 1
    # Superseded at once on the other node too: no cache hides it.
    old = b.access_token(dev)
    assert b.call("GET", "/v1/apps", old)["code"] == 0
    new = a.access_token(dev)
    assert b.call("GET", "/v1/apps", old)["code"] == 606000001
    assert b.call("GET", "/v1/apps", new)["code"] == 0
    assert b.call("GET", "/v1/apps", "0" * 32)["code"] == 606000000


async def test_presence_spans_nodes(two: list[Gateway]) -> None:
    app_a = make_app(two[0])
    app_b = on(app_a, two[1])
    x, _ = await raw_login(app_a, "x", company_id="c", client_guid="x-a")
    y, login = await raw_login(app_b, "y", company_id="c", client_guid="y-b")
    assert login["code"] == 0
    # x (node A) hears of y's login on node B
    pushed = await x.expect("online_state")
    assert (pushed["user_id"], pushed["state"]) == ("y", 1)
    # user/state on either node lists both; list_online of a terminal too
    expected = [("x", "web", 1, "x-a"), ("y", "web", 1, "y-b")]
    assert users(app_a) == users(app_b) == expected
    # since when each is online, the same from either node
    gateways = [node.app.state["gateway"] for node in two]
    app = two[0].on_loop(gateways[0].store.find_app(app_a.app_id))
    listed_by = [
        node.on_loop(gw.online.terminals(app.dev_id, app.app_id, "", 1, 10))[1]
        for node, gw in zip(two, gateways, strict=True)
    ]
    assert listed_by[0] == listed_by[1] and len(listed_by[0]) == 2
    assert all(now_ms() - 60_000 < t["since_ms"] <= now_ms() for t in listed_by[0])
    listed = await y.request({"type": "list_online", "seq": 2})
    assert [u["user_id"] for u in listed["users"]] == ["x", "y"]
    # custom_state set on B is seen from A
    await y.request({"type": "set_state", "seq": 3, "custom_state": "busy"})
    listed = await x.request({"type": "list_online", "seq": 4})
    assert {u["user_id"]: u["custom_state"] for u in listed["users"]}["y"] == "busy"
    # y logs out on B: x hears it, A's REST shows it offline
    await y.request({"type": "logout", "seq": 5})
    pushed = await x.expect("online_state")
    while pushed["state"] == 1:  # the push of y's set_state may come first
        pushed = await x.expect("online_state")
    assert (pushed["user_id"], pushed["state"]) == ("y", 0)
    assert await eventually(lambda: ("y", "web", 0, "y-b") in users(app_a))
    await x.close()


async def test_mutex_type_holds_across_nodes(two: list[Gateway]) -> None:
    app_a = make_app(two[0])
    app_b = on(app_a, two[1])
    first, _ = await raw_login(app_a, "m", client_guid="on-a")
    second, refused = await raw_login(app_b, "m", client_guid="on-b")
    assert refused["code"] == 1000008
    await second.close()
    # concurrent logins of one terminal on both nodes: exactly one gets in
    results = await asyncio.gather(
        *(raw_login(app, "race", client_guid=f"g{i}") for i, app in enumerate([app_a, app_b] * 5))
    )
    assert sorted(r["code"] for _, r in results).count(0) == 1
    for conn, _ in results:
        await conn.close()
    # forced, on B: the terminal on A is kicked and told why
    forced, reply = await raw_login(app_b, "m", client_guid="on-b", force_login=True)
    assert reply["code"] == 0
    kicked = await first.expect("kicked")
    assert kicked["reason"] == "force_login"
    assert users(app_a, user_ids="m") == [("m", "web", 1, "on-b")]
    await forced.close()


async def test_use_limit_counts_every_node(two: list[Gateway]) -> None:
    app_a = make_app(two[0])
    app_a.rest(
        "PATCH",
        "/v1/app",
        json={"app_id": app_a.app_id, "service": [{"service_id": 7, "use_limit": 1}]},
    )
    app_b = on(app_a, two[1])
    one, ok = await raw_login(app_a, "one")
    assert ok["code"] == 0
    other, refused = await raw_login(app_b, "other")
    assert refused["code"] == 1000007
    await one.close()
    await other.close()


async def test_rest_reaches_terminals_on_the_other_node(two: list[Gateway]) -> None:
    app_a = make_app(two[0])
    app_b = on(app_a, two[1])
    t, _ = await raw_login(app_a, "t", client_guid="t-guid")
    # trans-cmd through B: 0 for the terminal on A, 2 for one not online
    reply = app_b.rest(
        "POST",
        "/v1/online/trans-cmd",
        json={
            "app_id": app_a.app_id,
            "msg_id": 5,
            "trans_mess": {"do": "mute"},
            "user_list": [
                {"user_id": "t", "mutex_type": "web", "client_guid": ""},
                {"user_id": "nobody", "mutex_type": "web", "client_guid": ""},
            ],
        },
    )
    assert reply["code"] == 0, reply
    assert [u["result"] for u in reply["result"]["user_list"]] == [0, 2]
    assert reply["result"]["user_list"][0]["terminal_seq_num"] == "t-guid"
    cmd = await t.expect("trans_cmd")
    assert cmd["trans_mess"] == {"do": "mute"}
    # invite through B
    reply = app_b.rest(
        "POST",
        "/v1/online/invite",
        json={"app_id": app_a.app_id, "group_id": "g", "user_id_list": ["t", "z"], "seq_id": 9},
    )
    assert reply["result"]["user_id_list"] == ["z"]
    invite = await t.expect("invite")
    assert invite["inviter"] == {"backend": True}
    # kickout through B: once it answers, A's terminal is offline everywhere
    reply = app_b.rest("POST", "/v1/kickout", json={"app_id": app_a.app_id, "user_id": "t"})
    assert reply["result"]["kicked"] == 1
    assert (await t.expect("kicked"))["reason"] == "kickout"
    assert users(app_a, user_ids="t") == [("t", "web", 0, "t-guid")]


async def test_terminals_talk_across_nodes(two: list[Gateway]) -> None:
    app_a = make_app(two[0])
    app_b = on(app_a, two[1])
    p, _ = await raw_login(app_a, "p")
    q, _ = await raw_login(app_b, "q")
    sent = await q.request({"type": "message", "seq": 2, "to_user_id": "p", "body": {"hi": 1}})
    assert sent["code"] == 0 and sent["delivered"] == 1
    message = await p.expect("message")
    assert (message["from_user_id"], message["body"]) == ("q", {"hi": 1})
    # an invite from p (A) to q (B), and q's reply back to p
    invited = await p.request(
        {"type": "invite", "seq": 3, "group_id": "room", "user_ids": ["q"], "seq_id": 1}
    )
    assert invited["failed_user_ids"] == []
    assert (await q.expect("invite"))["inviter"]["user_id"] == "p"
    answered = await q.request(
        {"type": "invite_reply", "seq": 4, "group_id": "room", "seq_id": 1, "accept": True}
    )
    assert answered["delivered"] is True
    reply = await p.expect("invite_reply")
    assert (reply["user_id"], reply["accept"]) == ("q", True)
    await p.close()
    await q.close()


async def test_a_node_that_does_not_answer_yields_result_1(two: list[Gateway]) -> None:
    """A terminal listed on a node that listens but never answers: trans-cmd gives 1
    after the route timeout, not a hang."""
    app_a = make_app(two[0])
    schema = two[0].settings.database_schema
    r = aioredis.Redis.from_url(REDIS_URL)
    ns = f"hstgw:{schema}:"
    entry = orjson.dumps(["ghost-guid", "", "", "ghost", "c0nn"])
    await r.hset(f"{ns}on:{app_a.app_id}", "g\x1fweb", entry)
    await r.hset(f"{ns}u:{app_a.app_id}:g", "web", entry)
    silent = r.pubsub()
    await silent.subscribe(f"{ns}n:ghost")  # it listens, so the message is not refused
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        reply = await asyncio.to_thread(
            app_a.rest,
            "POST",
            "/v1/online/trans-cmd",
            json={
                "app_id": app_a.app_id,
                "msg_id": 1,
                "trans_mess": {},
                "user_list": [{"user_id": "g", "mutex_type": "web", "client_guid": ""}],
            },
        )
        took = loop.time() - started
        assert [u["result"] for u in reply["result"]["user_list"]] == [1]
        assert 0.4 < took < 3.0
    finally:
        await silent.aclose()
        await r.aclose()


async def test_app_changes_reach_terminals_on_every_node(two: list[Gateway]) -> None:
    app_a = make_app(two[0])
    app_b = on(app_a, two[1])
    t, _ = await raw_login(app_a, "t")
    # set offline through B: the terminal on A is kicked
    reply = app_b.rest("PATCH", "/v1/app", json={"app_id": app_a.app_id, "status": "offline"})
    assert reply["code"] == 0
    assert (await t.expect("kicked"))["reason"] == "app_offline"
    # and A refuses logins at once (its app cache was told)
    late, refused = await raw_login(app_a, "late")
    assert refused["code"] == 1000002
    await late.close()


async def test_billing_is_exact_with_both_nodes_ingesting(two: list[Gateway]) -> None:
    a = two[0]
    app_a = make_app(a)
    key = a.new_node("media")
    events = [now_event(f"e{i}", app_a.app_id, 6, total_sig_num=1) for i in range(200)]

    def post(node: Gateway, batch: list[dict[str, Any]]) -> dict[str, Any]:
        return node.call(
            "POST",
            "/internal/v1/usage",
            headers={"Authorization": f"Bearer {key}"},
            json={"events": batch},
        )

    # every event sent twice, the copies to different nodes, all at once
    jobs = [(two[i % 2], events[i * 20 : i * 20 + 20]) for i in range(10)]
    jobs += [(two[(i + 1) % 2], events[i * 20 : i * 20 + 20]) for i in range(10)]
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda job: post(*job), jobs))
    accepted = sum(r["result"]["accepted"] for r in replies)
    duplicates = sum(r["result"]["duplicates"] for r in replies)
    assert (accepted, duplicates) == (200, 200)
    # each once, with the free quota applied in one order: amounts add up as on one node
    summary = app_a.rest("GET", "/v1/consuming/summary", params={"month": month_now()})
    [term] = summary["result"]["apps"][0]["terms"]
    assert (term["charge_term"], term["records"], term["total_sig_num"]) == (6, 200, 200)


async def test_month_to_date_limits_seen_by_every_node(two: list[Gateway]) -> None:
    a, b = two
    app_a = make_app(a)
    app_a.rest("PATCH", "/v1/app", json={"app_id": app_a.app_id, "consumption_limit": 1})
    app_b = on(app_a, b)
    first, ok = await raw_login(app_b, "before")  # B reads (and caches) the month's use
    assert ok["code"] == 0
    await first.close()
    key = a.new_node("media")
    # usage worth more than 1 yuan, reported to node A
    reply = a.call(
        "POST",
        "/internal/v1/usage",
        headers={"Authorization": f"Bearer {key}"},
        # 16 minutes of screen share at 0.064 a minute: 1.024 yuan
        json={"events": [now_event("big", app_a.app_id, 4, 16 * 60_000)]},
    )
    assert reply["code"] == 0, reply

    async def refused_on_b() -> bool:
        conn, login = await raw_login(app_b, "after")
        await conn.close()
        return bool(login["code"] == 1000007)

    assert await eventually(refused_on_b, 3), "node B kept a stale usage cache"


def test_sdk_recovers_when_redis_forgot_the_tokens(two: list[Gateway]) -> None:
    """A Redis that lost its data (restarted without persistence) forgets live tokens:
    the SDK fetches a new one once and goes on."""
    a = two[0]
    dev = a.new_dev()
    transport = CountingTransport()
    with Client(a.url, dev.dev_id, dev.dev_secret, transport=transport) as client:
        client.apps.create("kept", [3])
        r = redis.Redis.from_url(REDIS_URL)
        keys = list(r.scan_iter(match=f"hstgw:{a.settings.database_schema}:at:*"))
        assert keys
        r.delete(*keys)
        r.close()
        assert [x.app_name for x in client.apps.list()] == ["kept"]
    assert transport.token_calls == 2


def test_the_operator_cli_reaches_every_node(two: list[Gateway]) -> None:
    """`hstgw dev disable` and `reset-secret`, run with the cluster's settings, stop the
    developer's token on every node within HSTGW_AUTH_CACHE_TTL (0.2 s here)."""
    a, b = two
    env = a.cli_env()
    for action in (("disable",), ("reset-secret",)):
        dev = a.new_dev()
        token = a.access_token(dev)
        assert b.call("GET", "/v1/apps", token)["code"] == 0
        out = hstgw("dev", *action, dev.dev_id, env=env)
        assert out.returncode == 0, out.stderr
        for node in two:
            assert eventually_sync(functools.partial(refused, node, token)), node.url


def refused(node: Gateway, token: str) -> bool:
    return node.call("GET", "/v1/apps", token)["code"] in (606000000, 606000001)


async def test_counters_peaks_and_the_free_quota_add_up_across_nodes(tmp_path: Path) -> None:
    """Both nodes count deliveries and peaks and ingest usage at once: the records are
    what one node would have written."""
    with nodes(tmp_path, 2, usage_flush_interval=0.2) as (a, b):
        dev = a.new_dev()
        app_a = make_app(a, services=[6, 7], dev=dev)
        app_b = on(app_a, b)
        p, _ = await raw_login(app_a, "p")
        q, _ = await raw_login(app_b, "q")
        r, _ = await raw_login(app_a, "r")
        # deliveries served by both nodes: 3 messages from q (B) to p (A), and a
        # trans-cmd through A to p and q: 5 receptions
        for i in range(3):
            assert (await q.request({"type": "message", "to_user_id": "p", "body": str(i)}))[
                "delivered"
            ] == 1
        reply = app_a.rest(
            "POST",
            "/v1/online/trans-cmd",
            json={
                "app_id": app_a.app_id,
                "msg_id": 1,
                "trans_mess": {},
                "user_list": [
                    {"user_id": u, "mutex_type": "web", "client_guid": ""} for u in ("p", "q")
                ],
            },
        )
        assert [u["result"] for u in reply["result"]["user_list"]] == [0, 0]
        # 21 x 50,000 signals from media nodes, sent to both gateway nodes at once
        key = a.new_node("media")
        events = [now_event(f"s{i}", app_a.app_id, 6, total_sig_num=50_000) for i in range(21)]

        def post(i: int) -> dict[str, Any]:
            return two_nodes[i % 2].call(
                "POST",
                "/internal/v1/usage",
                headers={"Authorization": f"Bearer {key}"},
                json={"events": [events[i]]},
            )

        two_nodes = [a, b]
        with ThreadPoolExecutor(8) as pool:
            assert all(x["code"] == 0 for x in pool.map(post, range(21)))

        def signals() -> list[dict[str, Any]]:
            summary = app_a.rest("GET", "/v1/consuming/summary", params={"month": month_now()})
            terms: list[dict[str, Any]] = summary["result"]["apps"][0]["terms"]
            return terms

        # both nodes flushed their counters (every 0.2 s)
        assert await eventually(lambda: [t["total_sig_num"] for t in signals()] == [1_050_005]), (
            signals()
        )
        [term] = signals()
        # the first 1,000,000 of the month are free, whoever counted them, in any order
        assert term["amount"] == pytest.approx(50_005 * 0.0001)
        for t in (p, q, r):
            await t.close()
        # tomorrow, on both nodes: yesterday's peak (3, over both nodes) is rated once
        a.clock.advance(86_400)
        b.clock.advance(86_400)
        token = b.access_token(dev)  # the old token expired with the day

        def records(term: int) -> list[dict[str, Any]]:
            found = b.call(
                "GET",
                "/v1/consuming/records",
                token,
                params={
                    "start_time": now_ms() - 86_400_000,
                    "end_time": now_ms() + 86_400_000,
                    "page": 1,
                    "page_size": 100,
                },
            )
            assert found["code"] == 0, found
            return [x for x in found["result"]["records"] if x["charge_term"] == term]

        assert await eventually(lambda: records(7))  # rated by a flush of the new day
        # Make each node flush again after the day changed: a reception on each (x on
        # A, y on B). Once both are rated, both nodes have flushed since the day ended,
        # and yesterday's peak must still be rated once.
        sig_before = sum(x["total_sig_num"] for x in records(6))
        late = []
        for user, app, node in (("x", app_a, a), ("y", app_b, b)):
            frame_token = build(app.app_id, app.app_secret, uid=user, now_ms=node.clock())
            conn, reply = await raw_login(app, user, token=frame_token)
            assert reply["code"] == 0, reply
            late.append(conn)
        reply = b.call(
            "POST",
            "/v1/online/trans-cmd",
            token,
            json={
                "app_id": app_a.app_id,
                "msg_id": 9,
                "trans_mess": {},
                "user_list": [
                    {"user_id": u, "mutex_type": "web", "client_guid": ""} for u in ("x", "y")
                ],
            },
        )
        assert [u["result"] for u in reply["result"]["user_list"]] == [0, 0], reply
        assert await eventually(
            lambda: sum(x["total_sig_num"] for x in records(6)) == sig_before + 2
        ), records(6)
        assert [x["quantity"] for x in records(7)] == [3]
        for t in late:
            await t.close()


def test_an_idempotency_key_holds_across_nodes(two: list[Gateway]) -> None:
    a, b = two
    token = a.access_token(a.new_dev())
    body = {"app_name": "once", "status": "online", "service": [{"service_id": 3}]}
    headers = {"Authorization": token, "Idempotency-Key": "k"}
    first = a.http.post(f"{a.url}/v1/app", json=body, headers=headers)
    again = b.http.post(f"{b.url}/v1/app", json=body, headers=headers)
    assert first.json()["code"] == 0 and again.content == first.content
    assert b.call("GET", "/v1/apps", token, params={"page": 1})["result"]["total"] == 1


def test_abuse_limits_hold_for_the_cluster_not_per_node(tmp_path: Path) -> None:
    with nodes(tmp_path, 2, limit_calls_per_developer=5, limit_tokens_per_developer=2) as (a, b):
        dev = a.new_dev()
        a.access_token(dev)
        b.access_token(dev)  # two tokens, one on each node: the limit for both
        third = b.http.get(
            f"{b.url}/access/token", headers={"Authorization": a.dev_authorization(dev)}
        )
        assert third.json()["code"] == 606000006
        live = b.access_token(b.new_dev())
        # a bucket of 10 (refilled at 5 a second) for the developer, whichever node it
        # calls: alternate until refused. With a bucket per node, 20 calls and more would
        # pass; here at most 10 and what refilled meanwhile (bounded by the time taken, so
        # that a slow machine cannot fail this).
        started = time.monotonic()
        codes: list[int] = []
        while 606000006 not in codes:
            node = (a, b)[len(codes) % 2]
            reply = node.http.get(f"{node.url}/v1/apps", headers={"Authorization": live})
            codes.append(reply.json()["code"])
            assert len(codes) <= 500, "never refused"
        took = time.monotonic() - started
        assert codes[:10] == [0] * 10
        assert len(codes) - 1 <= 10 + 5 * took + 1


async def test_a_terminal_resumes_on_another_node(two: list[Gateway]) -> None:
    app_a = make_app(two[0])
    app_b = on(app_a, two[1])
    token = build(app_a.app_id, app_a.app_secret, uid="mover")
    first, reply = await raw_login(app_a, "mover", token=token)
    await first.close()
    assert await eventually(lambda: app_b.online("mover") == 0)
    # the token is spent on every node; the resume credential works on every node
    again, refused = await raw_login(app_b, "mover", token=token)
    assert refused["code"] == 1000000
    await again.close()
    moved, resumed = await raw_login(app_b, "mover", token="", resume=reply["resume"])
    assert resumed["code"] == 0
    await moved.close()


async def test_a_kicked_terminal_does_not_resume_on_another_node(two: list[Gateway]) -> None:
    app_a = make_app(two[0])
    app_b = on(app_a, two[1])
    first, reply = await raw_login(app_a, "kicked")
    got = app_b.rest("POST", "/v1/kickout", json={"app_id": app_b.app_id, "user_id": "kicked"})
    assert got["code"] == 0 and got["result"]["kicked"] == 1, got
    assert await eventually(lambda: app_b.online("kicked") == 0)
    await first.close()
    again, refused = await raw_login(app_b, "kicked", token="", resume=reply["resume"])
    assert refused["code"] == 1000000
    await again.close()


def test_the_nodes_key_their_kickout_buckets_alike(two: list[Gateway]) -> None:
    """A kickout on one node must move the mark a login by resume reads on another:
    both key the buckets with what they share, the master key, never with it bare."""
    salts = [node.app.state["gateway"].cluster.presence.kick_key for node in two]
    assert salts[0] == salts[1]
    master = bytes.fromhex(two[0].settings.secret_key.get_secret_value())
    assert len(salts[0]) == 32 and salts[0] != master
    assert salts[0] == derive_key(master, "kickout buckets") != derive_key(master, "other")


async def test_a_kick_reaches_credentials_of_terminals_not_online_on_any_node(
    two: list[Gateway],
) -> None:
    app_a = make_app(two[0])
    app_b = on(app_a, two[1])
    away, reply = await raw_login(app_a, "away", company_id="c1")
    resume_c1 = reply["resume"]
    await away.close()
    assert await eventually(lambda: app_b.online("away") == 0)
    kept, reply = await raw_login(app_a, "kept", company_id="c1")
    resume_kept = reply["resume"]
    await kept.close()
    assert await eventually(lambda: app_b.online("kept") == 0)
    got = app_b.rest("POST", "/v1/kickout", json={"app_id": app_b.app_id, "user_id": "away"})
    assert got["code"] == 0 and got["result"]["kicked"] == 0, got
    again, refused = await raw_login(app_b, "away", token="", resume=resume_c1, company_id="c1")
    assert refused["code"] == 1000000
    await again.close()
    # another user's credentials are untouched
    back, resumed = await raw_login(app_b, "kept", token="", resume=resume_kept, company_id="c1")
    assert resumed["code"] == 0
    await back.close()
