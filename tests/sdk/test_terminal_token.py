"""``terminal_token``: what a backend hands a browser, checked by a real gateway."""

from __future__ import annotations

import time

import pytest

from hstgw.sdk import Client, ConfigurationError, TerminalClient, TerminalLoginError, terminal_token
from hstgw.tokens.fsp import decode
from tests.conftest import Gateway

pytestmark = pytest.mark.anyio

SECRET = "abcdefghijklmnop"


def test_the_token_names_the_user_the_company_and_a_near_expiry() -> None:
    now = 1_764_300_000.5
    token = terminal_token("a" * 32, SECRET, "alice", company_id="acme", ttl_s=60, now=now)
    claims = decode(token, SECRET)
    assert (claims.aid, claims.uid, claims.cid) == ("a" * 32, "alice", "acme")
    assert (claims.et, claims.ts) == (1_764_300_060, 1_764_300_000_500)
    assert decode(terminal_token("a" * 32, SECRET, "bob"), SECRET).cid is None


@pytest.mark.parametrize(
    ("kwargs", "msg"),
    [
        ({"app_secret": "short"}, "app_secret: secret is 5 bytes, not 16"),
        ({"user_id": ""}, "user_id: required"),
        ({"ttl_s": 0}, "ttl_s: must be positive"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, object], msg: str) -> None:
    args: dict[str, object] = {"app_id": "a" * 32, "app_secret": SECRET, "user_id": "u"}
    with pytest.raises(ConfigurationError, match=f"^{msg}$"):
        terminal_token(**{**args, **kwargs})  # type: ignore[arg-type]


async def test_a_terminal_logs_in_once_with_it_in_its_company_only(gateway: Gateway) -> None:
    dev = gateway.new_dev()
    with Client(gateway.url, dev.dev_id, dev.dev_secret) as client:
        app = client.apps.create("browser_tokens", [7], status="online")
    token = terminal_token(app.app_id, app.app_secret, "alice", company_id="acme")
    elsewhere = TerminalClient(gateway.url, app.app_id, "alice", token=token, company_id="other")
    with pytest.raises(TerminalLoginError) as refused:
        await elsewhere.connect()
    assert refused.value.code == 1000000
    term = TerminalClient(gateway.url, app.app_id, "alice", token=token, company_id="acme")
    reply = await term.connect()
    assert reply["code"] == 0 and reply["resume"]
    await term.close()
    assert time.time() < decode(token, app.app_secret).et  # type: ignore[operator]
