"""A request that offers an upgrade is still an HTTP/1.1 request: its body is read.

Java's ``HttpClient`` (HTTP/2 preferred) sends ``Connection: Upgrade, HTTP2-Settings``,
``Upgrade: h2c`` and ``HTTP2-Settings`` on http://; the gateway answered such a POST
as if it had no body (issue 11, item 1). Here on a raw socket, byte for byte.
"""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import Gateway

H2C_OFFER = (
    b"Connection: Upgrade, HTTP2-Settings\r\n"
    b"Upgrade: h2c\r\n"
    b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
)


class Connection:
    """One keep-alive HTTP/1.1 connection, spoken by hand."""

    def __init__(self, url: str) -> None:
        where = urlsplit(url)
        self.host = where.netloc
        self.sock = socket.create_connection((where.hostname, where.port), timeout=10)
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        assert chunk, "the gateway closed the connection"
        self.buffer += chunk

    def exchange(
        self,
        head: str,
        extra: bytes,
        token: str,
        body: dict[str, Any] | None,
        *,
        chunked: bool = False,
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request; its reply's status, headers (lower-case names) and body."""
        data = b"" if body is None else json.dumps(body).encode()
        message = f"{head} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: {token}\r\n".encode()
        message += extra
        if body is not None:
            message += b"Content-Type: application/json\r\n"
            if chunked:  # two chunks, as a streaming client sends them
                half = len(data) // 2
                message += b"Transfer-Encoding: chunked\r\n\r\n"
                for part in (data[:half], data[half:]):
                    message += b"%x\r\n%s\r\n" % (len(part), part)
                message += b"0\r\n\r\n"
            else:
                message += b"Content-Length: %d\r\n\r\n%s" % (len(data), data)
        else:
            message += b"\r\n"
        self.sock.sendall(message)
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        raw_head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = raw_head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
        length = int(headers["content-length"])
        while len(self.buffer) < length:
            self._fill()
        reply, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(status_line.split()[1]), headers, reply

    def request(
        self, head: str, extra: bytes, token: str, body: dict[str, Any] | None
    ) -> tuple[int, dict[str, Any]]:
        status, _, reply = self.exchange(head, extra, token, body)
        return status, json.loads(reply)

    def closed(self) -> bool:
        """The gateway closed its side (and sent nothing more)."""
        return self.buffer == b"" and self.sock.recv(1) == b""


OFFERS = pytest.mark.parametrize(
    "offer", [H2C_OFFER, b"Connection: Upgrade\r\nUpgrade: TLS/1.0\r\n"], ids=["h2c", "tls"]
)


@OFFERS
def test_a_body_is_read_whatever_upgrade_is_offered(
    gateway: Gateway, token: str, offer: bytes
) -> None:
    conn = Connection(gateway.url)
    try:
        body = {"app_name": "offered", "service": [{"service_id": 3}]}
        status, created = conn.request("POST /v1/app", offer, token, body)
        assert status == 200 and created["code"] == 0, created
        app_id = created["result"]["app_id"]
        assert created["result"]["app_name"] == "offered"

        # the same connection carries on in HTTP/1.1, upgrade offers and all
        patch = {"app_id": app_id, "app_name": "patched"}
        status, patched = conn.request("PATCH /v1/app", offer, token, patch)
        assert status == 200 and patched == {
            "code": 0,
            "msg": "OK",
            "result": {**created["result"], "app_name": "patched"},
        }
        status, read = conn.request(f"GET /v1/app?app_id={app_id}", b"", token, None)
        assert (status, read) == (200, patched)
    finally:
        conn.close()


@OFFERS
def test_a_chunked_body_behind_an_upgrade_offer_is_read(
    gateway: Gateway, token: str, offer: bytes
) -> None:
    """Java's ``HttpClient`` sends this for a body of unknown length
    (``BodyPublishers.ofInputStream``): ``Transfer-Encoding: chunked`` with ``Upgrade: h2c``."""
    conn = Connection(gateway.url)
    try:
        body = {"app_name": "chunked", "service": [{"service_id": 3}]}
        status, _, raw = conn.exchange("POST /v1/app", offer, token, body, chunked=True)
        reply = json.loads(raw)
        assert status == 200 and reply["code"] == 0, reply
        assert reply["result"]["app_name"] == "chunked"
        # ... and the connection goes on
        status, listed = conn.request("GET /v1/apps", b"", token, None)
        assert status == 200 and listed["result"]["total"] == 1
    finally:
        conn.close()


def raw_exchange(gateway: Gateway, request: bytes) -> bytes:
    """Send ``request`` as it is; everything the gateway answers until it closes."""
    where = urlsplit(gateway.url)
    with socket.create_connection((where.hostname, where.port), timeout=10) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


@pytest.mark.parametrize(
    "chunks",
    [
        b"zz\r\n{}\r\n0\r\n\r\n",  # not a size
        b"2\r\n{}XX0\r\n\r\n",  # no CRLF after the data
        b"2\n{}\r\n0\r\n\r\n",  # a bare LF
        b"200000\r\n",  # 2 MiB: past HSTGW_MAX_BODY_BYTES
    ],
    ids=["size", "crlf", "bare-lf", "too-large"],
)
def test_a_malformed_chunked_body_is_refused_and_never_run(
    gateway: Gateway, token: str, chunks: bytes
) -> None:
    request = (
        b"POST /v1/app HTTP/1.1\r\nHost: x\r\n"
        + f"Authorization: {token}\r\n".encode()
        + H2C_OFFER
        + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunks
    )
    reply = raw_exchange(gateway, request)
    assert reply.startswith(b"HTTP/1.1 400 "), reply
    apps = gateway.call("GET", "/v1/apps", token)
    assert apps["result"]["total"] == 0, apps
