"""GET /access/token and authentication of business calls (design 3.2)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from hstgw.tokens.fsp import build
from tests.conftest import Dev, Gateway

AUTH_FAILED = {"code": 606000000, "msg": "Authentication failed"}
EXPIRED = {"code": 606000001, "msg": "access_token expired or superseded"}


def issue(gateway: Gateway, authorization: str | None) -> dict:
    headers = {} if authorization is None else {"Authorization": authorization}
    return gateway.call("GET", "/access/token", headers=headers)


def test_issues_a_32_hex_token_valid_for_7200_seconds(gateway: Gateway, dev: Dev) -> None:
    body = issue(gateway, gateway.dev_authorization(dev))
    assert body["code"] == 0 and body["msg"] == "OK"
    result = body["result"]
    assert result["timeout"] == 7200
    assert re.fullmatch("[0-9a-f]{32}", result["access_token"]), result["access_token"]
    assert gateway.call("GET", "/v1/apps", result["access_token"])["code"] == 0


def test_android_wrapped_developer_token_is_accepted(gateway: Gateway, dev: Dev) -> None:
    token = build(dev.dev_id, dev.dev_secret)
    wrapped = "\n".join(token[i : i + 76] for i in range(0, len(token), 76)) + "\n"
    # A header value cannot hold a newline; Android clients send the token unwrapped
    # on the wire but may keep spaces: whitespace is ignored.
    assert issue(gateway, f"{dev.dev_id}.{wrapped.replace(chr(10), ' ').strip()}")["code"] == 0


def test_missing_header_names_the_field(gateway: Gateway) -> None:
    assert issue(gateway, None) == {"code": 606000002, "msg": "Authorization: required"}


def test_every_verification_failure_answers_the_same(gateway: Gateway, dev: Dev) -> None:
    other = gateway.new_dev()
    now_s = gateway.clock() // 1000  # the server's time
    cases = {
        "wrong secret": f"{dev.dev_id}.{build(dev.dev_id, other.dev_secret)}",
        "token of another id": f"{dev.dev_id}.{build(other.dev_id, dev.dev_secret)}",
        "unknown developer": f"{'0' * 32}.{build('0' * 32, dev.dev_secret)}",
        "no dot": dev.dev_id,
        "empty token": f"{dev.dev_id}.",
        "dev_id not hex": f"XYZ.{build('XYZ', dev.dev_secret)}",
        "not base64": f"{dev.dev_id}.001!!!",
        "expired et": f"{dev.dev_id}.{build(dev.dev_id, dev.dev_secret, expire=now_s - 1)}",
        "too old": f"{dev.dev_id}."
        f"{build(dev.dev_id, dev.dev_secret, now_ms=(now_s - 90000) * 1000)}",
        "from the future": f"{dev.dev_id}."
        f"{build(dev.dev_id, dev.dev_secret, now_ms=(now_s + 600) * 1000)}",
        "bearer form": f"Bearer {gateway.dev_authorization(dev)}",
    }
    for name, header in cases.items():
        assert issue(gateway, header) == AUTH_FAILED, name


@pytest.mark.anyio
async def test_fifty_concurrent_issuances_leave_exactly_one_valid_token(
    gateway: Gateway, dev: Dev
) -> None:
    # 50 at once from one event loop (a client each: one client shared by 50 threads
    # once lost a socket under it, in the client, not the server).
    async def one() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=30) as http:
            headers = {"Authorization": gateway.dev_authorization(dev)}
            reply = await http.get(f"{gateway.url}/access/token", headers=headers)
            body: dict[str, Any] = reply.json()
            return body

    bodies = await asyncio.gather(*(one() for _ in range(50)))
    tokens = [b["result"]["access_token"] for b in bodies]
    assert len(set(tokens)) == 50
    codes = [gateway.call("GET", "/v1/apps", t)["code"] for t in tokens]
    assert codes.count(0) == 1
    assert codes.count(606000001) == 49


def test_a_new_token_supersedes_the_old_one_at_once(gateway: Gateway, dev: Dev) -> None:
    first = gateway.access_token(dev)
    second = gateway.access_token(dev)
    assert gateway.call("GET", "/v1/apps", first) == EXPIRED
    assert gateway.call("GET", "/v1/apps", second)["code"] == 0


def test_tokens_of_different_developers_are_independent(gateway: Gateway, dev: Dev) -> None:
    mine = gateway.access_token(dev)
    gateway.access_token(gateway.new_dev())
    assert gateway.call("GET", "/v1/apps", mine)["code"] == 0


def test_bare_and_bearer_forms_are_both_accepted(gateway: Gateway, token: str) -> None:
    for form in (token, f"Bearer {token}", f"bearer {token}", f"Bearer  {token}"):
        assert gateway.call("GET", "/v1/apps", form)["code"] == 0, form


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "0" * 32, "not-a-token", "A" * 32, "Bearer " + "g" * 32, "x" * 5000],
)
def test_unknown_or_malformed_access_tokens_fail_authentication(
    gateway: Gateway, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    assert gateway.call("GET", "/v1/apps", headers=headers) == AUTH_FAILED


def test_every_business_route_requires_a_token(gateway: Gateway) -> None:
    for method, path in [
        ("GET", "/v1/apps"),
        ("GET", "/v1/app"),
        ("POST", "/v1/app"),
        ("PATCH", "/v1/app"),
        ("DELETE", "/v1/app"),
    ]:
        assert gateway.call(method, path, "0" * 32) == AUTH_FAILED, path


def test_expired_token_answers_606000001(fresh_gateway: Gateway) -> None:
    dev = fresh_gateway.new_dev()
    token = fresh_gateway.access_token(dev)
    fresh_gateway.clock.advance(7199)
    assert fresh_gateway.call("GET", "/v1/apps", token)["code"] == 0
    fresh_gateway.clock.advance(2)
    assert fresh_gateway.call("GET", "/v1/apps", token) == EXPIRED
    fresh_gateway.clock.advance(-7201)


def test_operator_revocations_take_effect_within_the_cache_ttl(fresh_gateway: Gateway) -> None:
    """`dev reset-secret` and `dev disable` act through the data dir, on a running server."""
    import asyncio

    from hstgw.developers import Developers
    from hstgw.store import SqliteStore

    dev = fresh_gateway.new_dev()
    token = fresh_gateway.access_token(dev)
    assert fresh_gateway.call("GET", "/v1/apps", token)["code"] == 0

    async def operate(action: str) -> None:
        store = SqliteStore(fresh_gateway.data_dir / "hstgw.sqlite3")
        await store.open()
        try:
            devs = Developers(store)
            if action == "reset":
                await devs.reset_secret(dev.dev_id)
            else:
                await devs.set_active(dev.dev_id, False)
        finally:
            await store.close()

    asyncio.run(operate("reset"))
    # once the default auth cache TTL (1 s) has passed, the running server sees the reset
    fresh_gateway.clock.advance(1)
    assert fresh_gateway.call("GET", "/v1/apps", token) == EXPIRED
    assert issue(fresh_gateway, fresh_gateway.dev_authorization(dev)) == AUTH_FAILED  # old secret

    asyncio.run(operate("disable"))
    assert issue(fresh_gateway, fresh_gateway.dev_authorization(dev)) == AUTH_FAILED
