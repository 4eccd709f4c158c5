"""Abuse limits: refused quickly with 606000006 (a terminal login with its own code),
before the work is done; the defaults leave a well-behaved backend alone."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hstgw.tokens.fsp import build
from tests.conftest import Gateway, start_gateway
from tests.online.conftest import make_app, raw_login

pytestmark = pytest.mark.anyio


@pytest.fixture
def limited(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Gateway]:
    yield from start_gateway(tmp_path, **request.param)


def get(gw: Gateway, path: str, authorization: str) -> tuple[int, dict[str, str]]:
    r = gw.http.get(f"{gw.url}{path}", headers={"Authorization": authorization})
    return r.json()["code"], dict(r.headers)


@pytest.mark.parametrize("limited", [{"limit_auth_failures_per_developer": 5}], indirect=True)
def test_a_password_guessing_loop_is_stopped(limited: Gateway) -> None:
    gw = limited
    dev = gw.new_dev()
    wrong = "f" * 16
    codes = [
        get(gw, "/access/token", f"{dev.dev_id}.{build(dev.dev_id, wrong)}")[0] for _ in range(8)
    ]
    assert codes == [606000000] * 5 + [606000006] * 3
    # refused before anything is verified: the right secret is refused too, for now
    assert get(gw, "/access/token", gw.dev_authorization(dev))[0] == 606000006
    # another developer is not concerned
    assert gw.access_token(gw.new_dev())


@pytest.mark.parametrize("limited", [{"limit_auth_failures_per_address": 4}], indirect=True)
def test_failures_from_one_address_are_limited(limited: Gateway) -> None:
    gw = limited
    token = gw.access_token(gw.new_dev())
    codes = [get(gw, "/v1/apps", "0" * 32)[0] for _ in range(6)]
    assert codes == [606000000] * 4 + [606000006] * 2
    # from this address, even a good token waits now
    assert get(gw, "/v1/apps", token)[0] == 606000006


@pytest.mark.parametrize("limited", [{"limit_tokens_per_developer": 3}], indirect=True)
def test_access_token_issuance_per_developer(limited: Gateway) -> None:
    gw = limited
    dev = gw.new_dev()
    codes = [get(gw, "/access/token", gw.dev_authorization(dev))[0] for _ in range(5)]
    assert codes == [0, 0, 0, 606000006, 606000006]


@pytest.mark.parametrize("limited", [{"limit_calls_per_developer": 5}], indirect=True)
def test_business_calls_per_developer_carry_rate_limit_headers(limited: Gateway) -> None:
    gw = limited
    token = gw.access_token(gw.new_dev())
    # 5 a second, bursts of 10: call until refused. How many pass depends on how fast
    # this machine calls (the bucket refills meanwhile), so the count is bounded by the
    # time taken, not fixed.
    started = time.monotonic()
    replies = []
    while not replies or replies[-1][0] == 0:
        replies.append(get(gw, "/v1/apps", token))
        assert len(replies) <= 500, "never refused"
    took = time.monotonic() - started
    codes = [code for code, _ in replies]
    assert codes[-1] == 606000006 and codes[:10] == [0] * 10
    assert len(codes) - 1 <= 10 + 5 * took + 1
    for _, headers in replies:
        assert headers["x-ratelimit-limit"] == "10"
        # a call was just taken from a bucket of 10 refilled at 5 a second: 1 to 10 calls
        # are missing, so it is full again in 1 or 2 s, not sooner than the missing say
        missing = 10 - int(headers["x-ratelimit-remaining"])
        assert max(1, math.ceil((missing - 1) / 5)) <= int(headers["x-ratelimit-reset"]) <= 2
    remaining = [int(h["x-ratelimit-remaining"]) for _, h in replies[:10]]
    assert remaining == sorted(remaining, reverse=True) and remaining[-1] <= 1
    refused = next(r for r in replies if r[0] == 606000006)
    # refused: less than one call left, so more than 9 missing: 2 s to refill
    assert refused[1]["x-ratelimit-remaining"] == "0" and refused[1]["x-ratelimit-reset"] == "2"
    # another developer has a bucket of its own
    assert get(gw, "/v1/apps", gw.access_token(gw.new_dev()))[0] == 0
    # non-business routes carry no such headers
    assert "x-ratelimit-limit" not in gw.http.get(f"{gw.url}/healthz").headers


@pytest.mark.parametrize(
    "limited", [{"limit_logins_per_app": 1, "limit_terminals_per_app": 3}], indirect=True
)
async def test_logins_and_terminals_per_app(limited: Gateway) -> None:
    app = make_app(limited)
    conns = []
    for i in range(3):
        conn, reply = await raw_login(app, f"u{i}")
        assert reply["code"] == 0
        conns.append(conn)
    conn, reply = await raw_login(app, "u3")
    assert reply["code"] == 1000109  # 3 online: the cap
    await conn.close()
    # a forced login takes a place rather than adding one
    conn, reply = await raw_login(app, "u0", force_login=True)
    assert reply["code"] == 0
    conns.append(conn)
    # the login rate: 1 a second, bursts of 10; at least 4 done, so at most 6 more (and
    # one a second they take, however slow this machine is) then refused
    started = time.monotonic()
    codes: list[int] = []
    while 1000108 not in codes:
        conn, reply = await raw_login(app, "u0", force_login=True)
        codes.append(reply["code"])
        conns.append(conn)
        assert len(codes) <= 100, "never refused"
    assert set(codes[:-1]) <= {0}
    assert len(codes) - 1 <= 6 + (time.monotonic() - started) + 1
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
