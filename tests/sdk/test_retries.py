"""Retries, back-off and token refresh, with a mock transport (no network)."""

from __future__ import annotations

import json
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
from hstgw.sdk import _client as client_module
from hstgw.sdk._base import retry_delay
from hstgw.sdk._models import AccessToken
from hstgw.sdk._tokens import SyncTokenManager

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

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/access/token":
            assert request.headers["authorization"].startswith(DEV_ID + ".001")
            self.tokens += 1
            return reply(0, {"access_token": f"{self.tokens:032x}", "timeout": 7200})
        self.calls.append((request.method, request.headers["authorization"]))
        return self.answers.pop(0)()


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:  # records, never sleeps
    slept: list[float] = []
    monkeypatch.setattr(client_module.time, "sleep", slept.append)
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
    ("retries_done", "jitter", "delay"),
    [
        (0, 0.0, 0.5),
        (1, 0.0, 1.0),
        (2, 0.0, 2.0),
        (3, 0.0, 4.0),
        (4, 0.0, 8.0),
        (9, 0.0, 8.0),
        (0, 1.0, 0.375),
        (4, 1.0, 6.0),
    ],
)
def test_back_off_table(retries_done: int, jitter: float, delay: float) -> None:
    assert retry_delay(retries_done, jitter) == pytest.approx(delay)


class TestTokenManager:
    def manager(self, fetch: Callable[[], AccessToken]) -> tuple[SyncTokenManager, list[float]]:
        now = [1000.0]
        return SyncTokenManager(fetch, clock=lambda: now[0]), now

    def test_refreshes_ahead_of_expiry(self) -> None:
        issued = iter(["t1", "t2"])
        m, now = self.manager(lambda: AccessToken(next(issued), 7200))
        assert m.get() == "t1"
        now[0] += 7200 - 301
        assert m.get() == "t1"
        now[0] += 2  # inside the last 300 s
        assert m.get() == "t2"

    def test_falls_back_to_a_still_valid_token_when_an_early_refresh_fails(self) -> None:
        answers: list[Callable[[], AccessToken]] = [
            lambda: AccessToken("t1", 7200),
            lambda: (_ for _ in ()).throw(APIConnectionError()),
            lambda: (_ for _ in ()).throw(APIConnectionError()),
        ]
        m, now = self.manager(lambda: answers.pop(0)())
        assert m.get() == "t1"
        now[0] += 7000
        assert m.get() == "t1"  # refresh failed; the token has 200 s left
        now[0] += 300
        with pytest.raises(APIConnectionError):
            m.get()

    def test_invalidate_drops_only_the_named_token(self) -> None:
        issued = iter(["t1", "t2"])
        m, _ = self.manager(lambda: AccessToken(next(issued), 7200))
        assert m.get() == "t1"
        m.invalidate("other")
        assert m.get() == "t1"
        m.invalidate("t1")
        assert m.get() == "t2"
