"""The REST port's server as HTTP/1.1: replies, HEAD, 100-continue, HTTP/1.0, errors, stop.

A small ASGI app is served by ``HttpServer`` on a free port, in a thread, and spoken
to over raw sockets (what is checked is below what HTTP libraries show); one test
drives a connection with a transport that counts writes.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hstgw.connections import ConnectionGate
from hstgw.serving import Deadlines, HttpServer
from hstgw.serving.connection import HttpConnection
from hstgw.serving.server import Site
from tests.conftest import free_port
from tests.waiting import eventually, eventually_sync

DEADLINES = Deadlines(keep_alive=5, header=5, body=5)
HUNG: list[str] = []  # what the app awaiting for ever saw (a stop's cancellation)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Echoes the request (path, query, body) as JSON; some paths misbehave on purpose."""
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path = scope["path"]
    if path == "/fail-before":
        raise RuntimeError("before the reply")
    if path == "/bad-header":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x", b"a\r\nb")]})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if path == "/slow":
        await asyncio.sleep(0.5)
    if path == "/fails-later":  # an error out of a future it waited on (a store's, say)
        future = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.05, future.set_exception, ValueError("x"))
        try:
            await future
        except ValueError:
            path = "/caught"
    if path == "/timeout":  # (needs a current task: asyncpg's connect does this)
        async with asyncio.timeout(1):
            await asyncio.sleep(0)
    if path == "/hang":
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            HUNG.append("cancelled")
            raise
    if path == "/stream":  # no Content-Length: the server chunks it
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"one,", b"two,", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    echo = {
        "path": path,
        "raw_path": scope["raw_path"].decode(),
        "query": scope["query_string"].decode(),
        "body": body.decode(),
        "version": scope["http_version"],
    }
    reply = json.dumps(echo).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(reply)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": reply})


class Served:
    def __init__(self, asgi: Any = app, grace: float = 5) -> None:
        self.port = free_port()
        self.server = HttpServer(
            asgi,
            host="127.0.0.1",
            port=self.port,
            gate=ConnectionGate(total=100, per_address=100),
            deadlines=DEADLINES,
            max_body=1 << 20,
            grace=grace,
        )
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        assert eventually_sync(lambda: self.server.started or not self.thread.is_alive(), 10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
        self.thread.join(10)
        assert not self.thread.is_alive()

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port))
        sock.settimeout(5)
        return sock


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with Served() as s:
        yield s


def read_all(sock: socket.socket) -> bytes:
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def test_a_reply_has_a_date_a_length_and_the_decoded_path(served: Served) -> None:
    r = httpx.get(f"http://127.0.0.1:{served.port}/a%20b/c?x=1&y=%41")
    assert r.status_code == 200 and "date" in r.headers
    assert r.json() == {
        "path": "/a b/c",
        "raw_path": "/a%20b/c",
        "query": "x=1&y=%41",
        "body": "",
        "version": "1.1",
    }


def test_head_gets_the_head_only_and_the_connection_goes_on(served: Served) -> None:
    with served.connect() as sock:
        sock.sendall(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /g HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while data.count(b"HTTP/1.1 200") < 2 or not data.endswith(b"}"):
            data += sock.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    assert b"content-length: " in head
    assert rest.startswith(b"HTTP/1.1 200 OK")  # no body came after the HEAD's head
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["path"] == "/g"


def test_a_body_waits_for_100_continue(served: Served) -> None:
    with served.connect() as sock:
        sock.sendall(
            b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        assert sock.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        data = sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 200 OK")
    assert json.loads(data.partition(b"\r\n\r\n")[2])["body"] == "hello"


def test_http_1_0_is_answered_and_closed(served: Served) -> None:
    with served.connect() as sock:
        sock.sendall(b"GET /old HTTP/1.0\r\n\r\n")
        data = read_all(sock)  # ends: the server closed
    assert b"\r\nconnection: close" in data.partition(b"\r\n\r\n")[0]
    assert json.loads(data.partition(b"\r\n\r\n")[2])["version"] == "1.0"


def test_a_reply_without_a_length_is_chunked(served: Served) -> None:
    r = httpx.get(f"http://127.0.0.1:{served.port}/stream")
    assert r.headers["transfer-encoding"] == "chunked"
    assert r.text == "one,two,three"


def test_a_chunked_request_body_is_read(served: Served) -> None:
    r = httpx.post(f"http://127.0.0.1:{served.port}/c", content=iter([b"ab", b"cd"]))
    assert r.json()["body"] == "abcd"


@pytest.mark.parametrize("path", ["/fail-before", "/bad-header"])
def test_an_app_that_fails_before_its_reply_gets_a_500_and_a_close(
    served: Served, path: str
) -> None:
    with served.connect() as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = read_all(sock)
    assert data.startswith(b"HTTP/1.1 500 ")
    assert b"\r\nb" not in data  # a header value never splits a reply


def test_garbage_gets_a_400_in_the_envelope(served: Served) -> None:
    with served.connect() as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        data = read_all(sock)
    assert data.startswith(b"HTTP/1.1 400 ")
    assert json.loads(data.partition(b"\r\n\r\n")[2])["code"] == 606000003


def test_a_stop_lets_a_request_in_flight_finish_and_refuses_new_ones() -> None:
    with Served() as s:
        sock = s.connect()
        with sock:
            sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.1)  # (the request has begun)
            s.server.stop()
            data = read_all(sock)  # the reply, then the close
            assert data.startswith(b"HTTP/1.1 200 ")
        with pytest.raises(OSError):
            s.connect()


def test_an_error_a_request_waited_for_reaches_it(served: Served) -> None:
    """(Eager on 3.12+: run at once until it waits.) What it waited on fails in it."""
    assert httpx.get(f"http://127.0.0.1:{served.port}/fails-later").json()["path"] == "/caught"


def test_a_request_runs_in_a_task(served: Served) -> None:
    assert httpx.get(f"http://127.0.0.1:{served.port}/timeout").status_code == 200


def test_a_stop_cancels_what_outlives_the_grace() -> None:
    with Served(grace=0.2) as s:
        sock = s.connect()
        with sock:
            sock.sendall(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.1)
            s.server.stop()
            assert read_all(sock) == b""  # no reply: cut at the end of the grace
    assert HUNG == ["cancelled"]  # ... and the app heard why, in its own code


def test_a_failed_start_up_does_not_listen() -> None:
    async def failing(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no store"})

    s = Served(failing)
    s.thread.start()
    s.thread.join(10)
    assert not s.thread.is_alive() and not s.server.started
    with pytest.raises(OSError):
        s.connect()


def test_a_failed_start_up_hook_shuts_the_app_down_and_does_not_listen() -> None:
    events: list[str] = []

    async def recording(scope: dict[str, Any], receive: Any, send: Any) -> None:
        while (await receive())["type"] != "lifespan.shutdown":
            events.append("startup")
            await send({"type": "lifespan.startup.complete"})
        events.append("shutdown")
        await send({"type": "lifespan.shutdown.complete"})

    def hook() -> None:
        events.append("hook")
        raise RuntimeError("hook failed")

    s = Served(recording)
    s.server.on_started = hook
    s.thread.start()
    s.thread.join(10)
    assert not s.thread.is_alive() and not s.server.started
    assert events == ["startup", "hook", "shutdown"]
    with pytest.raises(OSError):
        s.connect()


class CountingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 1234)

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


@pytest.mark.anyio
async def test_a_reply_is_one_write() -> None:
    """Head and body go out together: one system call (and one wake-up of the client)."""
    site = Site(app, asyncio.get_running_loop(), ConnectionGate(10, 10), DEADLINES, 1024)
    conn = HttpConnection(site)
    transport = CountingTransport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    conn.data_received(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await eventually(lambda: len(transport.writes) >= 2)
    assert [
        w.startswith(b"HTTP/1.1 200 OK\r\n") and w.endswith(b"}") for w in transport.writes
    ] == [
        True,
        True,
    ]
    conn.connection_lost(None)
    site.close()
