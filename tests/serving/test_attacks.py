"""The REST port's server against what a hostile or clumsy client sends (review of
hstgw.serving, after it replaced uvicorn): heads that try to be held, framing errors
found after the headers, data after a request that closes, versions that are not
HTTP/1.x, clients that go mid-request, Expect, bodiless replies.

Raw sockets against a real ``HttpServer`` (tests/serving/test_server.py's echo app,
which records the requests it was called for).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from hstgw.serving import Deadlines
from tests.serving import test_server
from tests.serving.test_server import Served, app, read_all
from tests.waiting import eventually_sync

CALLED: list[str] = []
DISCONNECTED: list[str] = []


async def recording(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The echo app; also records each request it is called for, and answers bodiless
    statuses with the length of what the body would be (RFC 9110 8.6 allows it)."""
    if scope["type"] == "http":
        CALLED.append(scope["path"])
        if scope["path"] == "/wait":  # reads its body, then waits for the client to go
            while (await receive()).get("more_body"):
                pass
            DISCONNECTED.append((await receive())["type"])
            return
        if scope["path"] == "/large":  # 4 MiB in one send, as the gateway's replies go
            body = b"x" * (16 << 20)
            headers = [(b"content-length", b"%d" % len(body))]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        if scope["path"] in ("/204", "/304"):
            status = int(scope["path"][1:])
            headers = [(b"content-length", b"5")]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": b"hello"})
            return
    await app(scope, receive, send)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with Served(recording) as s:
        yield s


def reply_to(served: Served, data: bytes, *, half_close: bool = False) -> bytes:
    """All the server writes back to ``data`` until it closes (or 3 s pass)."""
    with served.connect() as sock:
        sock.settimeout(3)
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return out


def refusal(data: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), data[:200]
    assert b"\r\nconnection: close" in head
    return int(head.split()[1]), json.loads(body)


# -- heads --------------------------------------------------------------------------


def test_a_flood_of_small_headers_in_one_write_is_refused_at_once(served: Served) -> None:
    """150,000 bytes of tiny headers arrive in one or two reads: counted as they are
    parsed, not at the end of a head that never ends (they held ~5 MiB a connection
    until the header deadline)."""
    data = reply_to(served, b"GET /h HTTP/1.1\r\nHost: x\r\n" + b"a:b\r\n" * 30000)
    assert refusal(data) == (431, {"code": 606000003, "msg": "headers: more than 100"})


def test_a_head_over_its_bytes_in_one_write_is_refused_at_once(served: Served) -> None:
    """Headers are counted as they complete (a partial one, as the reads it fills)."""
    big = b"x" * 30000
    data = reply_to(served, b"GET /h HTTP/1.1\r\nHost: x\r\n" + b"X-A: %s\r\n" % big * 12)
    assert refusal(data) == (431, {"code": 606000003, "msg": "headers: larger than 65536 bytes"})


def test_a_url_over_the_head_bytes_is_refused(served: Served) -> None:
    data = reply_to(served, b"GET /" + b"u" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert refusal(data)[0] in (414, 431)


# -- framing errors after the headers -------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "named"),
    [
        (b"POST /noread HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", "transfer"),
        (
            b"POST /noread HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n",
            "chunk",
        ),
        (
            b"POST /noread HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"f" * 19
            + b"\r\n",
            "chunk",
        ),
    ],
)
def test_a_body_framing_error_gets_a_400_naming_it_and_the_app_never_runs(
    served: Served, request_: bytes, named: str
) -> None:
    CALLED.clear()
    status, body = refusal(reply_to(served, request_))
    assert status == 400 and body["code"] == 606000003
    assert named in body["msg"].lower(), body
    assert "/noread" not in CALLED  # not executed, even by a route that reads no body


# -- what follows a request that closes -------------------------------------------------


@pytest.mark.parametrize(
    "first",
    [b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"GET /a HTTP/1.0\r\n\r\n"],
)
def test_bytes_after_a_closing_request_do_not_cost_its_reply(served: Served, first: bytes) -> None:
    data = reply_to(served, first + b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 "), data[:200]
    assert json.loads(data.partition(b"\r\n\r\n")[2])["path"] == "/a"  # and only /a


# -- versions, Expect -----------------------------------------------------------------


@pytest.mark.parametrize("line", [b"GET /v HTTP/2.0\r\nHost: x\r\n\r\n", b"GET /v\r\n\r\n"])
def test_a_version_other_than_http_1_is_refused(served: Served, line: bytes) -> None:
    CALLED.clear()
    status, body = refusal(reply_to(served, line))
    assert status == 505 and body["code"] == 606000003
    assert "/v" not in CALLED


def test_an_http_1_0_expectation_is_ignored(served: Served) -> None:
    """RFC 9110 10.1.1: a 100-continue expectation in an HTTP/1.0 request MUST be ignored."""
    data = reply_to(
        served, b"POST /p HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"
    )
    assert data.startswith(b"HTTP/1.1 200 "), data[:100]


# -- clients that go ------------------------------------------------------------------


def test_a_client_that_goes_while_its_app_works_is_seen_gone(served: Served) -> None:
    """Its app learns it (and its task ends): a FIN after a whole request is taken as
    the client gone, as uvicorn did (a half-closing client gets no reply)."""
    DISCONNECTED.clear()
    socks = [served.connect() for _ in range(20)]
    for sock in socks:
        sock.sendall(b"POST /wait HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab")
    assert eventually_sync(lambda: CALLED.count("/wait") >= 20)
    for sock in socks:
        sock.close()
    assert eventually_sync(lambda: len(DISCONNECTED) == 20)
    assert set(DISCONNECTED) == {"http.disconnect"}


def test_a_client_that_half_closes_mid_body_is_not_executed(served: Served) -> None:
    CALLED.clear()
    data = reply_to(
        served, b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nab", half_close=True
    )
    assert data == b""
    assert CALLED in ([], ["/slow"])  # called, perhaps, but it saw a disconnect: no reply


# -- bodiless replies -----------------------------------------------------------------------


@pytest.mark.parametrize("status", [204, 304])
def test_a_bodiless_status_never_carries_a_body(served: Served, status: int) -> None:
    with served.connect() as sock:
        sock.sendall(
            b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n" % status
        )
        data = b""
        while data.count(b"HTTP/1.1 ") < 2 or not data.endswith(b"}"):
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
    first, _, rest = data.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 %d " % status)
    assert rest.startswith(b"HTTP/1.1 200 ")  # "hello" was not written: it would be read as a reply


# -- Expect: 100-continue ---------------------------------------------------------------


def test_a_reply_before_100_continue_closes_the_connection(served: Served) -> None:
    """The client was never told to send its body: what it sends next may be its next
    request, or the body after all; either read as the other would desync (Go's
    net/http closes the same way)."""
    with served.connect() as sock:
        sock.sendall(
            b"POST /204 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 31\r\n\r\n"
        )
        head = sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 204 ") and b"\r\nconnection: close\r\n" in head
        assert read_all(sock) == b""  # closed


# -- deadlines while the server holds reading back ---------------------------------------


def test_a_pipelined_body_is_not_timed_while_the_server_holds_it_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A request pipelined behind slow ones waits, unread, for them; its body deadline
    (2 s) counts from when the server reads again, not from its headers (3 s earlier)."""
    monkeypatch.setattr(test_server, "DEADLINES", Deadlines(keep_alive=5, header=5, body=2))
    with Served(recording) as s, s.connect() as sock:
        sock.sendall(
            b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n" * 6  # 0.5 s each
            + b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab"
        )
        time.sleep(4.4)  # the POST is read again at ~3 s; before, it was aborted then
        sock.sendall(b"cd")
        data = b""
        while data.count(b"HTTP/1.1 200 ") < 7 or not data.endswith(b"}"):
            chunk = sock.recv(65536)
            assert chunk, data[-300:]
            data += chunk
    assert json.loads(data.rpartition(b"\r\n\r\n")[2])["body"] == "abcd"


def test_a_slow_client_is_not_cut_off_mid_reply_by_the_keep_alive_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The app has handed over its whole reply, so the connection counts as idle; the
    keep-alive time (1 s) then closes it, but after what was written (it aborted,
    dropping the reply's tail: a slow link taking a large reply lost its end)."""
    monkeypatch.setattr(test_server, "DEADLINES", Deadlines(keep_alive=1, header=5, body=5))
    with Served(recording) as s:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sock.connect(("127.0.0.1", s.port))
        with sock:
            sock.settimeout(5)
            sock.sendall(b"GET /large HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            started = time.monotonic()
            try:
                while chunk := sock.recv(65536):
                    data += chunk
                    time.sleep(0.002)  # 2 s or more for the 16 MiB: past the keep-alive time
            except ConnectionResetError:
                pass
    assert len(data.partition(b"\r\n\r\n")[2]) == 16 << 20
    assert time.monotonic() - started > 1.5  # (the keep-alive time passed meanwhile)
