"""Abuse limits: refused quickly with 606000006 (a terminal login with its own code),
before the work is done; the defaults leave a well-behaved backend alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hstgw import abuse
from hstgw.abuse import Buckets, Guard, LocalBuckets, Rule, Rules
from hstgw.errors import SystemBusy
from hstgw.tokens.fsp import build
from tests.clocks import ManualClock
from tests.conftest import Gateway, start_gateway
from tests.online.conftest import make_app, raw_login

pytestmark = pytest.mark.anyio


@pytest.fixture
def bucket_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def limited(
    request: pytest.FixtureRequest, tmp_path: Path, bucket_clock: ManualClock
) -> Iterator[Gateway]:
    """A gateway with the test's limits, its buckets on ``bucket_clock``: time stands
    still unless the test moves it, so every count below is exact."""
    for gw in start_gateway(tmp_path, **request.param):
        gw.app.state["gateway"].guard.buckets = LocalBuckets(bucket_clock)
        yield gw


def get(gw: Gateway, path: str, authorization: str) -> tuple[int, dict[str, str]]:
    r = gw.http.get(f"{gw.url}{path}", headers={"Authorization": authorization})
    return r.json()["code"], dict(r.headers)


def test_a_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    clock = ManualClock()
    buckets = LocalBuckets(clock)
    rule = Rule(2.0, 4)  # 2 a second, bursts of 4
    taken = [buckets.take_now("k", rule) for _ in range(5)]
    assert [d.allowed for d in taken] == [True] * 4 + [False]
    assert [d.remaining for d in taken] == [3, 2, 1, 0, 0]
    # full again in ceil(missing / rate) seconds
    assert [d.reset_s for d in taken] == [1, 1, 2, 2, 2]
    clock.advance(0.5)  # one token back
    assert buckets.take_now("k", rule).allowed
    assert not buckets.take_now("k", rule).allowed
    clock.advance(3600)  # never more than the burst
    assert buckets.take_now("k", rule).remaining == 3
    assert buckets.take_now("other", rule).remaining == 3  # a bucket per key


async def check_costs_past_the_burst(buckets: Buckets) -> None:
    """Work worth more than a bucket holds (a listing of a large app) is allowed from a
    full bucket, or one full but for the request's own call, and taken whole: the calls
    after it wait for the refill. Any buckets pass these (one token a second: a test's
    milliseconds refill nothing that counts)."""
    rule = Rule(1.0, 20)
    big = await buckets.take("debt", rule, 50)
    assert big.allowed and big.remaining == 0 and big.reset_s >= 49
    assert not (await buckets.take("debt", rule, 1)).allowed  # 30 calls of debt
    assert not (await buckets.take("debt", rule, 0)).allowed
    # the request's own call first, then its size: the charge a listing makes
    assert (await buckets.take("call", rule, 1)).allowed
    assert (await buckets.take("call", rule, 50)).allowed
    assert not (await buckets.take("call", rule, 1)).allowed
    assert (await buckets.take("edge", rule, 1)).allowed
    assert (await buckets.take("edge", rule, 20)).allowed  # the burst itself: the same
    assert (await buckets.take("part", rule, 2)).allowed
    assert not (await buckets.take("part", rule, 50)).allowed  # not full: nothing taken
    assert not (await buckets.take("part", rule, 20)).allowed
    assert (await buckets.take("part", rule, 18)).allowed
    # work already done (a read whose size is known once read) is taken whatever the
    # bucket holds, into debt
    assert (await buckets.take("done", rule, 25, force=True)).allowed
    assert (await buckets.take("done", rule, 3, force=True)).allowed
    assert not (await buckets.take("done", rule, 1)).allowed
    assert not (await buckets.take("done", rule, 50)).allowed


def test_a_flood_of_new_keys_does_not_forgive_a_debt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the buckets kept, the oldest half is forgotten, but for buckets in debt: a
    flood of failures under made-up names must not reset a developer's debt."""
    monkeypatch.setattr(abuse, "_LOCAL_MAX", 10)
    buckets = LocalBuckets(ManualClock())
    rule = Rule(1.0, 20)
    assert buckets.take_now("c:dev", rule, 50).allowed  # 30 of debt
    for i in range(40):
        buckets.take_now(f"fa:{i}", rule)
    assert "c:dev" in buckets._buckets
    assert not buckets.take_now("c:dev", rule).allowed


async def test_a_cost_past_the_burst_is_taken_whole_from_a_full_bucket() -> None:
    await check_costs_past_the_burst(LocalBuckets(ManualClock()))


def test_looking_at_a_bucket_takes_nothing() -> None:
    buckets = LocalBuckets(ManualClock())
    rule = Rule(1.0, 2)
    assert buckets.take_now("k", rule, 0).allowed  # never used: full
    assert [buckets.take_now("k", rule).allowed for _ in range(3)] == [True, True, False]
    assert not buckets.take_now("k", rule, 0).allowed
    assert buckets.take_now("k", rule, 0).remaining == 0


@pytest.mark.parametrize("limited", [{"limit_auth_failures_per_developer": 5}], indirect=True)
def test_a_password_guessing_loop_is_stopped(limited: Gateway, bucket_clock: ManualClock) -> None:
    gw = limited
    dev = gw.new_dev()
    wrong = f"{dev.dev_id}.{build(dev.dev_id, 'f' * 16)}"
    codes = [get(gw, "/access/token", wrong)[0] for _ in range(8)]
    assert codes == [606000000] * 5 + [606000006] * 3
    # refused before anything is verified: the right secret is refused too, for now
    assert get(gw, "/access/token", gw.dev_authorization(dev))[0] == 606000006
    # another developer is not concerned
    assert gw.access_token(gw.new_dev())
    # 5 failures in 600 s: one more is verified 120 s later, and only one
    bucket_clock.advance(119)
    assert get(gw, "/access/token", gw.dev_authorization(dev))[0] == 606000006
    bucket_clock.advance(1)
    assert get(gw, "/access/token", gw.dev_authorization(dev))[0] == 0
    assert [get(gw, "/access/token", wrong)[0] for _ in range(2)] == [606000000, 606000006]


@pytest.mark.parametrize("limited", [{"limit_auth_failures_per_address": 4}], indirect=True)
def test_failures_from_one_address_are_limited(limited: Gateway, bucket_clock: ManualClock) -> None:
    gw = limited
    token = gw.access_token(gw.new_dev())
    codes = [get(gw, "/v1/apps", "0" * 32)[0] for _ in range(6)]
    assert codes == [606000000] * 4 + [606000006] * 2
    # from this address, even a good token waits now: 4 failures in 600 s, 150 s each
    assert get(gw, "/v1/apps", token)[0] == 606000006
    bucket_clock.advance(150)
    assert get(gw, "/v1/apps", token)[0] == 0


@pytest.mark.parametrize("limited", [{"limit_tokens_per_developer": 3}], indirect=True)
def test_access_token_issuance_per_developer(limited: Gateway, bucket_clock: ManualClock) -> None:
    gw = limited
    dev = gw.new_dev()
    codes = [get(gw, "/access/token", gw.dev_authorization(dev))[0] for _ in range(5)]
    assert codes == [0, 0, 0, 606000006, 606000006]
    bucket_clock.advance(20)  # 3 a minute: one more
    codes = [get(gw, "/access/token", gw.dev_authorization(dev))[0] for _ in range(2)]
    assert codes == [0, 606000006]


@pytest.mark.parametrize("limited", [{"limit_calls_per_developer": 5}], indirect=True)
def test_business_calls_per_developer_carry_rate_limit_headers(
    limited: Gateway, bucket_clock: ManualClock
) -> None:
    gw = limited
    token = gw.access_token(gw.new_dev())

    def calls(n: int) -> list[tuple[int, str, str, str]]:
        out = []
        for _ in range(n):
            code, h = get(gw, "/v1/apps", token)
            limit, left, reset = (h[f"x-ratelimit-{k}"] for k in ("limit", "remaining", "reset"))
            out.append((code, limit, left, reset))
        return out

    # 5 a second, bursts of 10: ten pass, each reply saying what is left and in how many
    # seconds the bucket is full again (ceil(missing / 5)); the eleventh is refused
    assert calls(11) == [(0, "10", str(9 - i), "1" if i < 5 else "2") for i in range(10)] + [
        (606000006, "10", "0", "2")
    ]
    bucket_clock.advance(1)  # five back
    assert [code for code, *_ in calls(6)] == [0] * 5 + [606000006]
    # another developer has a bucket of its own
    assert get(gw, "/v1/apps", gw.access_token(gw.new_dev()))[0] == 0
    # non-business routes carry no such headers
    assert "x-ratelimit-limit" not in gw.http.get(f"{gw.url}/healthz").headers


@pytest.mark.parametrize(
    "limited", [{"limit_logins_per_app": 1, "limit_terminals_per_app": 3}], indirect=True
)
async def test_logins_and_terminals_per_app(limited: Gateway, bucket_clock: ManualClock) -> None:
    app = make_app(limited)
    conns = []

    async def login(user_id: str, **fields: Any) -> int:
        conn, reply = await raw_login(app, user_id, **fields)
        conns.append(conn)
        code: int = reply["code"]
        return code

    try:
        assert [await login(f"u{i}") for i in range(4)] == [0, 0, 0, 1000109]  # 3: the cap
        # a forced login takes a place rather than adding one
        assert await login("u0", force_login=True) == 0
        # the login rate: 1 a second, bursts of 10; 5 taken above (the one over the cap
        # too: its token verified), so 5 more, then refused
        codes = [await login("u0", force_login=True) for _ in range(6)]
        assert codes == [0] * 5 + [1000108]
        bucket_clock.advance(1)
        assert [await login("u0", force_login=True) for _ in range(2)] == [0, 1000108]
    finally:
        for c in conns:
            await c.close()


def test_the_defaults_leave_a_well_behaved_backend_alone(gateway: Gateway) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from hstgw.sdk import Client

    dev = gateway.new_dev()
    with Client(gateway.url, dev.dev_id, dev.dev_secret) as client:
        client.apps.create("busy_backend", [3])

        def work(_: int) -> Any:
            return client.apps.list().total

        with ThreadPoolExecutor(16) as pool:
            assert set(pool.map(work, range(600))) == {1}


async def test_an_ipv6_client_is_one_address_for_its_whole_64() -> None:
    """Failed authentications and failed logins count an IPv6 /64 as one address."""
    guard = Guard(
        LocalBuckets(ManualClock()),
        Rules(
            auth_failures_per_address=Rule(1.0, 2),
            auth_failures_per_developer=Rule(0.0, 0),
            tokens_per_developer=Rule(0.0, 0),
            calls_per_developer=Rule(0.0, 0),
            logins_per_app=Rule(0.0, 0),
            terminals_per_app=0,
            login_failures_per_address=Rule(1.0, 2),
        ),
    )
    await guard.failed("2001:db8:7:7::1")
    await guard.failed("2001:db8:7:7::2")
    with pytest.raises(SystemBusy):
        await guard.check_address("2001:db8:7:7::dead:beef")
    await guard.check_address("2001:db8:7:8::1")  # another /64: its own budget
    assert await guard.login_failed("2001:db8:7:7::1") is None
    assert await guard.login_failed("2001:db8:7:7::2") is None
    assert await guard.login_failed("2001:db8:7:7::4") is not None
    assert await guard.login("app", "2001:db8:7:7::3") is not None
    assert await guard.login("app", "2001:db8:7:8::3") is None
