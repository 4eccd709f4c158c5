"""The REST port in front of hostile clients: connection caps, read deadlines, bodies.

Each test talks raw TCP to a real server (the one `hstgw serve` runs), because what is
tested lives below HTTP libraries: sockets that never finish their headers, floods of
connections from one address, bodies shorter than declared, Upgrade offers.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Gateway, start_gateway
from tests.waiting import eventually_sync

PER_ADDRESS = 20


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    yield from start_gateway(
        tmp_path_factory.mktemp("guarded"),
        http_max_connections=60,
        http_max_connections_per_address=PER_ADDRESS,
        terminal_max_connections_per_address=PER_ADDRESS,
        http_keep_alive=0.5,
        http_header_timeout=0.5,
        http_body_timeout=0.5,
    )


def connect(gateway: Gateway, source: str = "127.0.0.1", port: int | None = None) -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port or gateway.settings.port))
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed ``sock`` (FIN or RST); never blocks."""
    sock.setblocking(False)
    try:
        return sock.recv(65536) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def read_reply(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One reply from ``sock``, reading no byte past it (replies may be pipelined)."""
    sock.settimeout(5)
    with sock.makefile("rb", buffering=0) as stream:
        status_line = stream.readline()
        assert status_line, "closed before a reply"
        headers: dict[str, str] = {}
        while (line := stream.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = b""
        while len(body) < length:
            chunk = stream.read(length - len(body))
            assert chunk, "closed mid-body"
            body += chunk
    return int(status_line.split()[1]), headers, body


def healthz_from(gateway: Gateway, source: str) -> int:
    sock = connect(gateway, source)
    with sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        return read_reply(sock)[0]


def test_one_address_holds_at_most_its_share_and_others_are_served(guarded: Gateway) -> None:
    flood = [connect(guarded) for _ in range(PER_ADDRESS + 15)]
    try:
        # The server closes what is over the cap at once (and the rest after keep-alive).
        assert eventually_sync(lambda: sum(closed_by_server(s) for s in flood) >= 15)
        assert healthz_from(guarded, "127.0.0.2") == 200
    finally:
        for sock in flood:
            sock.close()


def test_idle_connections_are_closed(guarded: Gateway) -> None:
    sock = connect(guarded)
    with sock:
        assert eventually_sync(lambda: closed_by_server(sock), seconds=5)


def test_half_sent_headers_are_cut_off(guarded: Gateway) -> None:
    sock = connect(guarded)
    with sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        assert eventually_sync(lambda: closed_by_server(sock), seconds=5)


def test_total_cap_holds_over_many_addresses(tmp_path: Path) -> None:
    for gateway in start_gateway(tmp_path, http_max_connections=12):
        assert gateway.app.state["connections"].http.total == 12
        socks = [connect(gateway, f"127.0.0.{2 + i % 4}") for i in range(20)]
        try:
            assert eventually_sync(lambda s=socks: sum(map(closed_by_server, s)) >= 8)
        finally:
            for sock in socks:
                sock.close()


def app_count(gateway: Gateway, token: str) -> int:
    total: int = gateway.call("GET", "/v1/apps", token)["result"]["total"]
    return total


def create_request(token: str, body: bytes, length: int, extra: bytes = b"") -> bytes:
    return (
        b"POST /v1/app HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: {token}\r\nContent-Length: {length}\r\n".encode()
        + extra
        + b"\r\n"
        + body
    )


APP = json.dumps({"app_name": "cut", "service": [{"service_id": 3}]}).encode()


def test_a_body_shorter_than_declared_is_not_executed(guarded: Gateway) -> None:
    token = guarded.access_token(guarded.new_dev())
    sock = connect(guarded)
    with sock:
        sock.sendall(create_request(token, APP, len(APP) + 200))
        sock.shutdown(socket.SHUT_WR)  # ... and gone
        assert eventually_sync(lambda: closed_by_server(sock))
    # A complete request afterwards is served: the server saw the first, and dropped it.
    assert guarded.call("GET", "/healthz")["status"] == "ok"
    assert app_count(guarded, token) == 0


def test_a_body_cut_by_the_deadline_is_not_executed(guarded: Gateway) -> None:
    token = guarded.access_token(guarded.new_dev())
    sock = connect(guarded)
    with sock:
        sock.sendall(create_request(token, APP[:20], len(APP)))
        assert eventually_sync(lambda: closed_by_server(sock), seconds=5)
    assert app_count(guarded, token) == 0


H2C = (
    b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
    b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
)


@pytest.mark.parametrize("split", [0, 7, len(APP)])
def test_a_body_behind_an_h2c_offer_is_read(guarded: Gateway, split: int) -> None:
    """Java's HttpClient offers h2c on every http:// request (uvicorn#2722 lost the body)."""
    token = guarded.access_token(guarded.new_dev())
    request = create_request(token, APP, len(APP), H2C)
    sock = connect(guarded)
    with sock:
        cut = len(request) - len(APP) + split
        sock.sendall(request[:cut])
        sock.sendall(request[cut:])
        status, _, body = read_reply(sock)
        assert status == 200
        reply = json.loads(body)
        assert reply["code"] == 0, reply
        assert reply["result"]["app_name"] == "cut"
        # The connection goes on as HTTP/1.1 (the offer was ignored, as HTTP/1.1 allows).
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_reply(sock)[0] == 200
    assert app_count(guarded, token) == 1


def test_a_request_pipelined_after_an_h2c_body_is_served(guarded: Gateway) -> None:
    token = guarded.access_token(guarded.new_dev())
    sock = connect(guarded)
    with sock:
        sock.sendall(
            create_request(token, APP, len(APP), H2C) + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        assert json.loads(read_reply(sock)[2])["code"] == 0
        assert read_reply(sock)[0] == 200


def test_an_oversized_body_behind_an_h2c_offer_is_refused(guarded: Gateway) -> None:
    token = guarded.access_token(guarded.new_dev())
    sock = connect(guarded)
    with sock:
        sock.sendall(create_request(token, b"{", 10**9, H2C))
        reply = json.loads(read_reply(sock)[2])
        assert reply["code"] == 606000003
        assert reply["msg"].startswith("body: larger than")


def test_stock_httpx_still_keeps_its_connection(guarded: Gateway) -> None:
    with httpx.Client() as client:
        for _ in range(3):
            assert client.get(f"{guarded.url}/healthz").status_code == 200


def test_refusals_are_counted_in_metrics(guarded: Gateway) -> None:
    flood = [connect(guarded) for _ in range(PER_ADDRESS + 5)]
    try:
        assert eventually_sync(lambda: sum(map(closed_by_server, flood)) >= 5)
        other = httpx.HTTPTransport(local_address="127.0.0.2")  # 127.0.0.1 is flooding
        with httpx.Client(transport=other) as client:
            text = client.get(f"{guarded.url}/metrics").text
    finally:
        for sock in flood:
            sock.close()
    refused = next(
        line
        for line in text.splitlines()
        if line.startswith('hstgw_connections_refused_total{port="rest"}')
    )
    assert float(refused.split()[-1]) >= 5
    assert 'hstgw_connections_open{port="terminal"} 0.0' in text


# -- what a hostile client tried next (review of the guards) --------------------------


def gate_holds(gateway: Gateway, address: str) -> int:
    held: int = gateway.app.state["connections"].http.held(address)
    return held


def test_blank_lines_after_a_reply_do_not_keep_a_connection_idle(guarded: Gateway) -> None:
    sock = connect(guarded, "127.0.0.6")
    with sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_reply(sock)[0] == 200
        sock.sendall(b"\r\n")  # httptools skips it: no request begins
        assert eventually_sync(lambda: closed_by_server(sock), seconds=5)


def test_a_head_that_never_ends_is_refused_before_it_is_held(guarded: Gateway) -> None:
    sock = connect(guarded, "127.0.0.6")
    with sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        reply = b""
        try:
            for _ in range(64):  # 2 MiB at most, in whole chunks of head
                sock.sendall(b"a" * 32768)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused and closed while we were still sending
        sock.settimeout(5)
        try:
            while chunk := sock.recv(65536):
                reply += chunk
        except ConnectionResetError:
            pass
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:100]
    body = json.loads(reply.partition(b"\r\n\r\n")[2])
    assert body == {"code": 606000003, "msg": "headers: larger than 65536 bytes"}
    assert healthz_from(guarded, "127.0.0.2") == 200


def test_too_many_headers_are_refused(guarded: Gateway) -> None:
    sock = connect(guarded, "127.0.0.6")
    with sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 150 + b"\r\n")
        status, _, body = read_reply(sock)
    assert status == 431
    assert json.loads(body) == {"code": 606000003, "msg": "headers: more than 100"}


def test_a_deep_pipeline_is_cut_off(guarded: Gateway) -> None:
    sock = connect(guarded, "127.0.0.6")
    with sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 500)
        assert eventually_sync(lambda: gate_holds(guarded, "127.0.0.6") == 0)
    assert healthz_from(guarded, "127.0.0.2") == 200


def test_a_shallow_pipeline_of_upgrade_offers_is_served_in_order(guarded: Gateway) -> None:
    sock = connect(guarded, "127.0.0.6")
    with sock:
        request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
        sock.sendall(request * 30)
        assert [read_reply(sock)[0] for _ in range(30)] == [200] * 30


def test_a_client_that_stops_reading_its_replies_is_let_go(guarded: Gateway) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.bind(("127.0.0.7", 0))
    sock.connect(("127.0.0.1", guarded.settings.port))
    with sock:
        sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n" * 30)  # never read
        assert eventually_sync(lambda: gate_holds(guarded, "127.0.0.7") == 0, seconds=8)


def test_a_coding_other_than_chunked_behind_an_upgrade_is_refused(guarded: Gateway) -> None:
    token = guarded.access_token(guarded.new_dev())
    inner = f"GET /v1/apps HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n\r\n".encode()
    sock = connect(guarded, "127.0.0.6")
    with sock:
        sock.sendall(
            b"POST /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
            b"Transfer-Encoding: gzip\r\n\r\n" + inner
        )
        status, _, body = read_reply(sock)
        assert status == 400
        assert json.loads(body)["msg"] == "transfer-encoding: only chunked is supported"
        # ... and nothing after it was read as a request of its own
        assert eventually_sync(lambda: closed_by_server(sock))


@pytest.mark.parametrize(
    "head",
    [
        b"GET /healthz HTTP/1.1\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET /healthz HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n",
    ],
    ids=["none", "two", "two-1.0"],
)
def test_a_request_without_one_host_is_refused(guarded: Gateway, head: bytes) -> None:
    """RFC 9112 3.2: a proxy and the server could each take another of two hosts."""
    sock = connect(guarded, "127.0.0.7")
    with sock:
        sock.sendall(head)
        status, headers, body = read_reply(sock)
        assert status == 400
        assert json.loads(body) == {
            "code": 606000003,
            "msg": "host: an HTTP/1.1 request has one Host header",
        }
        assert headers["connection"] == "close"


def test_http_1_0_needs_no_host(guarded: Gateway) -> None:
    sock = connect(guarded, "127.0.0.7")
    with sock:
        sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        assert read_reply(sock)[0] == 200
