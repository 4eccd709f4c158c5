"""A lean HTTP/1.1 client for webhook attempts: POST one body, read the status, drop
the rest of the response (up to a limit).

Why not httpx: an attempt through httpx (anyio, httpcore, h11) cost ~0.5 ms of the
event loop, more than the rest of a delivery together, and deliveries to an endpoint
are sequential (one in flight per app), so it bounded an endpoint below 1,000
events/s (bench/events.py, docs/performance.md). This does only what an attempt needs:
a connection to one given address (the caller checked it), TLS with the URL's host as
server name (certificates verified for the host), keep-alive for plain http, and a
response read as Content-Length, chunked or until close says.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Mapping

__all__ = ["ConnectError", "Http1", "ResponseError"]

_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]
_HEAD_LIMIT = 64 * 1024
_MAX_IDLE = 200


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
        reusable = False
        try:
            writer.write(request)
            await writer.drain()
            status, fields = await _head(reader)
            reusable = await _drop_body(reader, status, fields, read_limit)
            reusable = reusable and tls_host is None
            return status
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            if isinstance(exc, asyncio.IncompleteReadError) and exc.partial:
                raise ResponseError("the response was cut short") from None
            raise _Stale from None
        except (asyncio.LimitOverrunError, ValueError, IndexError, UnicodeError) as exc:
            raise ResponseError(f"not an HTTP/1.x response ({type(exc).__name__})") from None
        finally:
            if reusable:
                conns = self._idle.setdefault(key, [])
                if len(conns) < _MAX_IDLE:
                    conns.append(conn)
                else:
                    writer.close()
            else:
                writer.close()


class _Stale(Exception):
    """The connection ended before any byte of a response."""


async def _head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    while True:  # (1xx answers come before the real one)
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        version, code = lines[0].split(" ", 2)[:2]
        if not version.startswith("HTTP/1."):
            raise ValueError(version)
        status = int(code)
        if not 100 <= status < 200:
            break
    fields: dict[str, str] = {"": version}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip().lower()
    return status, fields


async def _drop_body(
    reader: asyncio.StreamReader, status: int, fields: dict[str, str], limit: int
) -> bool:
    """Read the body up to ``limit`` bytes and drop it; True when all of it was read
    and the connection may carry another request."""
    keep = fields[""] == "HTTP/1.1" and fields.get("connection") != "close"
    if status in (204, 304):
        return keep
    if "chunked" in fields.get("transfer-encoding", ""):
        read = 0
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                with contextlib.suppress(asyncio.IncompleteReadError):
                    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                        pass
                return keep
            read += size
            if read > limit:
                return False
            await reader.readexactly(size + 2)
    if "content-length" in fields:
        length = int(fields["content-length"])
        if length > limit:
            return False
        await reader.readexactly(length)
        return keep
    await reader.read(limit)  # until the peer closes (or the limit)
    return False
