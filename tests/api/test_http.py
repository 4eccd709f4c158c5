"""The envelope, status codes, request ids and error containment of the HTTP layer."""

from __future__ import annotations

import pytest

from hstgw.api.http import Call, HttpApi, Route
from tests.conftest import Gateway


def test_unknown_path_is_404_with_the_envelope(gateway: Gateway) -> None:
    r = gateway.http.get(f"{gateway.url}/v1/nothing")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/json;charset=UTF-8"
    assert r.json() == {"code": 606000003, "msg": "path: no such path for /v1/nothing"}


def test_wrong_method_is_405_with_the_envelope(gateway: Gateway) -> None:
    r = gateway.http.put(f"{gateway.url}/v1/app")
    assert r.status_code == 405
    assert r.json() == {"code": 606000003, "msg": "method: no such method for /v1/app"}


def test_request_id_is_echoed_or_made(gateway: Gateway) -> None:
    r = gateway.http.get(f"{gateway.url}/v1/apps", headers={"X-Request-Id": "trace-42"})
    assert r.headers["x-request-id"] == "trace-42"
    made = {gateway.http.get(f"{gateway.url}/v1/apps").headers["x-request-id"] for _ in range(3)}
    assert len(made) == 3 and all(len(m) == 32 for m in made)
    r = gateway.http.get(f"{gateway.url}/healthz", headers={"X-Request-Id": "x" * 200})
    assert r.headers["x-request-id"] != "x" * 200  # too long: replaced


def test_healthz(gateway: Gateway) -> None:
    r = gateway.http.get(f"{gateway.url}/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"


@pytest.mark.anyio
async def test_an_unexpected_error_is_contained() -> None:
    """A bug answers 606000005 with the request id, never a 500 or a trace."""

    async def broken(call: Call) -> None:
        raise ZeroDivisionError("secret detail")

    async def nobody(header: str | None) -> str:
        return "dev"

    api = HttpApi(
        [Route("GET", "/boom", broken, "boom", "t", auth=None)],
        {"access": nobody},
        max_body_bytes=1024,
    )
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/boom", "headers": [], "query_string": b""}
    await api(scope, receive, send)
    assert sent[0]["status"] == 200
    body = sent[1]["body"].decode()
    assert '"code":606000005' in body and "internal error, request id" in body
    assert "secret detail" not in body and "Traceback" not in body
