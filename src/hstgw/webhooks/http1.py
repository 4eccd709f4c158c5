"""A lean HTTP/1.1 client for webhook attempts: POST one body, read the status, drop
the rest of the response (up to a limit).

Why not httpx: an attempt through httpx (anyio, httpcore, h11) cost ~0.5 ms of the
event loop, more than the rest of a delivery together, and deliveries to an endpoint
are sequential (one in flight per app), so it bounded an endpoint below 1,000
events/s (bench/events.py, docs/performance.md). This does only what an attempt needs:
a connection to one given address (the caller checked it), TLS with the URL's host as
server name (certificates verified for the host), keep-alive for plain http.

Receivers may be hostile, so the response is parsed by httptools: llhttp, Node.js's C
parser, the one the REST server's protocol uses too. Kept here: the limits (64 KiB of
head; past ``read_limit`` bytes of body the connection is dropped), keep-alive only
when llhttp allows it after the whole response, and a body with no length ends at EOF.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from typing import Any

import httptools

__all__ = ["ConnectError", "Http1", "ResponseError"]

_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]
_HEAD_LIMIT = 64 * 1024
_MAX_IDLE = 200
_READ = 64 * 1024


class ConnectError(OSError):
    """No connection to the address (refused, unreachable, TLS handshake failed)."""


class ResponseError(Exception):
    """The peer's answer is not HTTP/1.x, or it closed before answering."""


class Http1:
    def __init__(self) -> None:
        self._idle: dict[tuple[str, int, str], list[_Conn]] = {}
        self._tls: ssl.SSLContext | None = None

    async def post(
        self,
        address: str,
        port: int,
        tls_host: str | None,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        read_limit: int,
    ) -> int:
        """POST ``body`` to ``target`` at ``address``; the response's status.
        ``tls_host``: https, with this server name (one connection per request, as
        pooled TLS sessions would be keyed by the address alone); None: plain http."""
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        request = (f"POST {target} HTTP/1.1\r\n{head}Content-Length: {len(body)}\r\n\r\n").encode(
            "latin-1"
        ) + body
        key = (address, port, headers.get("Host", ""))
        pooled = self._take(key) if tls_host is None else None
        if pooled is not None:
            try:
                return await self._exchange(pooled, key, request, read_limit, tls_host)
            except _Stale:
                pass  # closed by the peer while idle: once more on a new connection
        conn = await self._open(address, port, tls_host)
        try:
            return await self._exchange(conn, key, request, read_limit, tls_host)
        except _Stale:
            raise ResponseError("the connection closed before a response") from None

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for _, writer in conns:
                writer.close()
        self._idle.clear()

    def _take(self, key: tuple[str, int, str]) -> _Conn | None:
        conns = self._idle.get(key)
        while conns:
            reader, writer = conns.pop()
            if not reader.at_eof() and not writer.is_closing():
                return reader, writer
            writer.close()
        return None

    async def _open(self, address: str, port: int, tls_host: str | None) -> _Conn:
        tls: dict[str, object] = {}
        if tls_host is not None:
            if self._tls is None:
                self._tls = ssl.create_default_context()
            tls = {"ssl": self._tls, "server_hostname": tls_host}
        try:
            return await asyncio.open_connection(address, port, limit=_HEAD_LIMIT, **tls)  # type: ignore[arg-type]
        except (OSError, ssl.SSLError) as exc:
            raise ConnectError(str(exc) or type(exc).__name__) from None

    async def _exchange(
        self,
        conn: _Conn,
        key: tuple[str, int, str],
        request: bytes,
        read_limit: int,
        tls_host: str | None,
    ) -> int:
        reader, writer = conn
        reply = _Reply()
        reusable = False
        got = 0  # bytes of response read
        try:
            writer.write(request)
            await writer.drain()
            while not reply.done:
                data = await reader.read(_READ if reply.status else _HEAD_LIMIT - got)
                if not data:
                    if not got:
                        raise _Stale
                    if reply.status and not reply.framed:
                        break  # neither Content-Length nor chunked: the body ends here
                    raise ResponseError("the response was cut short")
                got += len(data)
                reply.parser.feed_data(data)
                if not reply.status and got >= _HEAD_LIMIT:
                    raise ResponseError("the response's head is over 64 KiB")
                if reply.body > read_limit:
                    break  # the rest is dropped with the connection
            reusable = reply.done and reply.keep and reply.body <= read_limit and not tls_host
            return reply.status
        except ConnectionError:
            if got:
                raise ResponseError("the response was cut short") from None
            raise _Stale from None
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            if reply.done:  # bytes after the response, which nobody asked for
                return reply.status
            why = exc.__context__ or exc  # (a callback's own error, when it was one)
            raise ResponseError(f"not an HTTP/1.x response ({why})") from None
        finally:
            reply.parser = None  # (the parser holds the reply's methods: a cycle)
            if reusable and len(conns := self._idle.setdefault(key, [])) < _MAX_IDLE:
                conns.append(conn)
            else:
                writer.close()


class _Stale(Exception):
    """The connection ended before any byte of a response."""


class _Reply:
    """llhttp's callbacks for one response: the final status, whether the body has a
    length of its own, how much of it came, and whether the connection may be kept."""

    __slots__ = ("body", "done", "framed", "keep", "parser", "status")

    def __init__(self) -> None:
        self.parser: Any = httptools.HttpResponseParser(self)
        self.status = self.body = 0  # status: once the final (not 1xx) head is complete
        self.framed = self.done = self.keep = False

    def on_message_begin(self) -> None:
        if self.done:  # a second response to one request: the connection is not reused
            raise ResponseError("bytes after the response")
        self.framed = False

    def on_header(self, name: bytes, value: bytes) -> None:
        name, value = name.lower(), value.rstrip().lower()
        if name == b"content-length" or (name, value[-7:]) == (b"transfer-encoding", b"chunked"):
            self.framed = True

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status >= 200:  # (1xx answers come before the real one)
            if (version := self.parser.get_http_version()) not in ("1.0", "1.1"):
                raise ResponseError(f"HTTP/{version}")
            self.status = status

    def on_body(self, body: bytes) -> None:
        self.body += len(body)

    def on_message_complete(self) -> None:
        if self.status:
            self.done = True
            self.keep = self.parser.should_keep_alive()
