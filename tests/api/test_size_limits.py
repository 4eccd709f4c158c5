"""Oversized input gets a clear error, read no further than needed, and the server
stays well: bodies, headers, lists in bodies, terminal frames."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from tests.conftest import Gateway


def read_reply(s: socket.socket) -> bytes:
    """A whole reply (head and body may come in two writes)."""
    s.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_a_body_past_the_limit_is_refused_without_being_read(gateway: Gateway, token: str) -> None:
    size = gateway.settings.max_body_bytes
    reply = gateway.call("POST", "/v1/app", token, content=b"{" + b" " * size + b"}")
    assert reply == {"code": 606000003, "msg": f"body: larger than {size} bytes"}
    # announced larger than allowed: refused before a byte of it is read
    with socket.create_connection(("127.0.0.1", gateway.settings.port)) as s:
        s.sendall(
            b"POST /v1/app HTTP/1.1\r\nHost: x\r\nAuthorization: " + token.encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: 999999999\r\n\r\n{"
        )  # fmt: skip
        answer = read_reply(s)
    assert b"body: larger than" in answer


def test_headers_past_the_limit(gateway: Gateway, token: str) -> None:
    r = gateway.http.get(
        f"{gateway.url}/v1/apps", headers={"Authorization": token, "X-Big": "x" * 20_000}
    )
    assert r.status_code == 431
    assert r.json() == {"code": 606000003, "msg": "headers: larger than 16384 bytes in all"}
    # megabytes of headers: refused or cut off by the HTTP parser, never held whole
    with socket.create_connection(("127.0.0.1", gateway.settings.port)) as s:
        s.settimeout(10)
        try:
            s.sendall(
                b"GET /v1/apps HTTP/1.1\r\nHost: x\r\nX-Big: " + b"x" * (4 << 20) + b"\r\n\r\n"
            )
            answer = s.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            answer = b""
    assert answer == b"" or answer.split(b" ", 2)[1] in (b"400", b"413", b"431")
    assert gateway.http.get(f"{gateway.url}/healthz").status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/v1/online/trans-cmd",
            {
                "app_id": "0" * 32,
                "msg_id": 1,
                "trans_mess": {},
                "user_list": [{"user_id": "u", "mutex_type": "web", "client_guid": ""}] * 501,
            },
            "user_list",
        ),
        (
            "/v1/online/invite",
            {"app_id": "0" * 32, "group_id": "g", "user_id_list": ["u"] * 501, "seq_id": 1},
            "user_id_list",
        ),
        (
            "/v1/app",
            {"app_name": "many", "service": [{"service_id": 3}] * 8},
            "service",
        ),
    ],
)
def test_lists_past_their_length(
    gateway: Gateway, token: str, path: str, body: dict[str, Any], field: str
) -> None:
    reply = gateway.call("POST", path, token, json=body)
    assert reply["code"] == 606000003 and reply["msg"].startswith(f"{field}: must have at most")


def test_usage_batches_past_their_length(gateway: Gateway) -> None:
    key = gateway.new_node("sizes")
    event = {"event_id": "e", "app_id": "0" * 32, "charge_term": 6, "start_time": 1,
             "end_time": 1, "total_sig_num": 1}  # fmt: skip
    reply = gateway.call(
        "POST",
        "/internal/v1/usage",
        json={"events": [event] * 1001},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert reply == {"code": 606000003, "msg": "events: must have at most 1000 items"}


# WebSocket frames past 64 KiB (close 1009) and terminal bodies past 8 KiB (1000103):
# tests/online/test_terminal_requests.py.
