"""Retries, back-off and token refresh, with a mock transport (no network)."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable

import httpx
import pytest

from hstgw.sdk import (
    APIConnectionError,
    APIStatusError,
    Client,
    SystemBusyError,
    TokenExpiredError,
)
from tests.clocks import ManualClock

DEV_ID, SECRET = "a" * 32, "0123456789abcdef"


def reply(code: int, result: object = None) -> httpx.Response:
    body: dict[str, object] = {"code": code, "msg": "x"}
    if result is not None:
        body["result"] = result
    return httpx.Response(200, json=body, headers={"X-Request-Id": "rid"})


class Script:
    """Answers the business calls from a list, and every token request with a new token."""

    def __init__(self, answers: list[Callable[[], httpx.Response]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str]] = []
        self.tokens = 0
        self.refuse_tokens = False  # token requests fail as a connection error

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/access/token":
            assert request.headers["authorization"].startswith(DEV_ID + ".001")
            if self.refuse_tokens:
                raise httpx.ConnectError("refused")
            self.tokens += 1
            return reply(0, {"access_token": f"{self.tokens:032x}", "timeout": 7200})
        self.calls.append((request.method, request.headers["authorization"]))
        return self.answers.pop(0)()


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:  # records, never sleeps
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    return slept


def client(script: Script, max_retries: int = 2) -> Client:
    return Client(
        "http://gw", DEV_ID, SECRET, transport=httpx.MockTransport(script), max_retries=max_retries
    )


APPS = {"total": 0, "page": 1, "page_size": 20, "apps": []}


def busy() -> httpx.Response:
    return reply(606000006)


def ok() -> httpx.Response:
    return reply(0, APPS)


def refused() -> httpx.Response:
    raise httpx.ConnectError("refused")


def test_idempotent_calls_retry_on_system_busy_with_back_off(no_sleep: list[float]) -> None:
    script = Script([busy, busy, ok])
    assert client(script).apps.list().total == 0
    assert len(script.calls) == 3
    assert len(no_sleep) == 2 and 0.375 <= no_sleep[0] <= 0.5 and 0.75 <= no_sleep[1] <= 1.0


def test_retries_stop_at_max_retries() -> None:
    script = Script([busy, busy, busy, ok])
    with pytest.raises(SystemBusyError) as err:
        client(script).apps.list()
    assert err.value.request_id == "rid" and len(script.calls) == 3


def test_connection_errors_are_retried_for_idempotent_calls() -> None:
    script = Script([refused, ok])
    assert client(script).apps.list().total == 0
    assert len(script.calls) == 2 and script.answers == []


def test_writes_are_retried_with_one_idempotency_key() -> None:
    """A POST carries an Idempotency-Key, the same on every try, so it is retried
    like a read (the gateway does its work once)."""
    keys: list[str | None] = []
    answers = [busy, ok]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/access/token":
            return reply(0, {"access_token": "f" * 32, "timeout": 7200})
        keys.append(request.headers.get("idempotency-key"))
        return answers.pop(0)()

    c = Client("http://gw", DEV_ID, SECRET, transport=httpx.MockTransport(handler))
    c.request("POST", "/v1/app", json={"app_name": "x"})
    assert len(keys) == 2 and keys[0] == keys[1] and keys[0] is not None and len(keys[0]) == 32
    # another call, another key
    answers.append(ok)
    c.request("POST", "/v1/app", json={"app_name": "y"})
    assert keys[2] != keys[0]
    # reads carry none
    answers.append(ok)
    c.request("GET", "/v1/apps")
    assert keys[3] is None


def test_token_expiry_means_one_refresh_and_one_retry() -> None:
    script = Script([lambda: reply(606000001), ok])
    c = client(script)
    assert c.apps.list().total == 0
    assert script.tokens == 2
    assert script.calls[0][1] != script.calls[1][1]  # the retry carried the new token

    script = Script([lambda: reply(606000001), lambda: reply(606000001), ok])
    with pytest.raises(TokenExpiredError):
        client(script).apps.list()
    assert script.tokens == 2 and len(script.calls) == 2


def test_a_reply_outside_the_protocol_is_an_api_status_error() -> None:
    script = Script([lambda: httpx.Response(502, text="bad gateway")] * 3)
    with pytest.raises(APIStatusError) as err:
        client(script).apps.list()
    assert err.value.status_code == 502 and len(script.calls) == 3


def test_requests_carry_the_bare_token_and_json() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/access/token":
            return reply(0, {"access_token": "f" * 32, "timeout": 7200})
        seen.append(request)
        return reply(
            0,
            {
                "app_id": "b" * 32,
                "app_secret": "s" * 16,
                "app_name": "n",
                "status": "offline",
                "consumption_limit": None,
                "service": [],
            },
        )

    c = Client("http://gw", DEV_ID, SECRET, transport=httpx.MockTransport(handler))
    c.apps.update("b" * 32, status="online")
    assert seen[0].headers["authorization"] == "f" * 32
    assert json.loads(seen[0].content) == {"app_id": "b" * 32, "status": "online"}


@pytest.mark.parametrize(
    ("jitter", "delays"),
    [
        (0.0, [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]),  # doubling from 0.5 s, capped at 8 s
        (1.0, [0.375, 0.75, 1.5, 3.0, 6.0, 6.0]),  # less a quarter at most
    ],
)
def test_back_off_table(
    no_sleep: list[float], monkeypatch: pytest.MonkeyPatch, jitter: float, delays: list[float]
) -> None:
    monkeypatch.setattr(random, "random", lambda: jitter)
    script = Script([busy] * len(delays) + [ok])
    assert client(script, max_retries=len(delays)).apps.list().total == 0
    assert no_sleep == pytest.approx(delays)


class TestAccessToken:
    """The client's one access token, on a clock the test moves."""

    def client(self, script: Script, clock: ManualClock) -> Client:
        return Client(
            "http://gw",
            DEV_ID,
            SECRET,
            transport=httpx.MockTransport(script),
            max_retries=0,
            clock=clock,
        )

    def test_refreshes_ahead_of_expiry(self) -> None:
        clock = ManualClock()
        c = self.client(Script([]), clock)
        first = c.get_access_token()
        clock.advance(7200 - 301)
        assert c.get_access_token() == first
        clock.advance(2)  # inside the last 300 s
        assert c.get_access_token() != first

    def test_falls_back_to_a_still_valid_token_when_an_early_refresh_fails(self) -> None:
        clock = ManualClock()
        script = Script([])
        c = self.client(script, clock)
        first = c.get_access_token()
        script.refuse_tokens = True
        clock.advance(7000)
        assert c.get_access_token() == first  # refresh failed; the token has 200 s left
        clock.advance(300)
        with pytest.raises(APIConnectionError):
            c.get_access_token()

    def test_an_expired_reply_drops_only_the_token_it_was_for(self) -> None:
        """A call refused as expired while another caller already refreshed the token:
        the newer token is kept and the call retried with it, not a third fetched."""
        clock = ManualClock()

        def expired_after_a_refresh_elsewhere() -> httpx.Response:
            clock.advance(7200 - 299)  # another thread refreshes meanwhile
            c.get_access_token()
            return reply(606000001)

        script = Script([expired_after_a_refresh_elsewhere, ok])
        c = self.client(script, clock)
        assert c.apps.list().total == 0
        assert script.tokens == 2
        assert script.calls[1][1] == f"{2:032x}"  # the retry carried the newer token
