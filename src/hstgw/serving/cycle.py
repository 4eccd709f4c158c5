"""One request of a connection: its ASGI scope, ``receive`` and ``send``.

A reply leaves in one write where it can: the head waits for the body's first bytes
(a second write is a second system call and, on loopback or a virtual machine, a
second wake-up of the client, which cost more than the gateway's work on a small
reply). A reply to HEAD has no body: its head is written at once.
"""

from __future__ import annotations

import asyncio
import logging
import re
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hstgw.serving.connection import HttpConnection

__all__ = ["Cycle"]

log = logging.getLogger("hstgw.http")

_STATUS_LINES = {s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode()) for s in HTTPStatus}
# What a reply's header names and values may not hold (a CR or LF would split the reply).
_BAD_NAME = re.compile(rb'[\x00-\x20\x7f()<>@,;:\[\]={}\\"/?]')
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_DISCONNECT = {"type": "http.disconnect"}
_ERROR_REPLY = (
    b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 21\r\nconnection: close\r\n\r\nInternal Server Error"
)


class Cycle:
    """A request, from its headers to the end of its reply."""

    __slots__ = (
        "_bodiless",
        "_chunked",
        "_conn",
        "_continue",
        "_given",
        "_head",
        "_left",
        "_waiter",
        "body",
        "complete",
        "disconnected",
        "keep_alive",
        "more_body",
        "scope",
        "started",
    )

    def __init__(
        self, conn: HttpConnection, scope: dict[str, Any], keep_alive: bool, expect_continue: bool
    ) -> None:
        self._conn = conn
        self.scope = scope
        self.keep_alive = keep_alive
        self._continue = expect_continue  # "100 Continue" is due at the first receive
        self.body = bytearray()  # received, not yet handed to the app
        self.more_body = True  # the request's body is not over
        self._given = False  # its last part has been handed to the app
        self._waiter: asyncio.Future[None] | None = None
        self.started = False  # the reply's head is made
        self.complete = False  # the reply is whole
        self.disconnected = False
        self._head = b""  # the reply's head, until its body's first bytes
        self._chunked = False
        self._bodiless = False  # a reply to HEAD, a 204 or a 304: its body is not sent
        self._left = 0  # bytes still due by the reply's Content-Length

    def wake(self) -> None:
        """Something the app may be waiting for came: body bytes, its end, a disconnect."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def run(self, app: Any) -> None:
        conn = self._conn
        if self.disconnected:
            return  # refused while its headers were being read: never executed
        try:
            await app(self.scope, self.receive, self.send)
        except Exception:
            log.exception("unhandled error in the application")
            if not self.started and not self.disconnected:
                self.keep_alive = False
                conn.write(_ERROR_REPLY)
            conn.close()
            return
        if not self.complete and not self.disconnected:
            # An app that returned without a whole reply: the connection cannot go on.
            if not self.started:
                log.error("the application returned without a reply")
                conn.write(_ERROR_REPLY)
            conn.close()

    # -- ASGI ---------------------------------------------------------------------

    async def receive(self) -> dict[str, Any]:
        conn = self._conn
        if self._continue:
            self._continue = False
            conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        while True:
            if self.disconnected or self.complete:
                return _DISCONNECT
            if self.body or (not self.more_body and not self._given):
                body, self.body = bytes(self.body), bytearray()
                self._given = not self.more_body
                return {"type": "http.request", "body": body, "more_body": self.more_body}
            if self.more_body:
                conn.resume_reading()
            self._waiter = conn.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def send(self, message: dict[str, Any]) -> None:
        conn = self._conn
        if conn.write_paused and not self.disconnected:
            await conn.drain()
        if self.disconnected:
            return
        kind = message["type"]
        if not self.started:
            if kind != "http.response.start":
                raise RuntimeError(f"expected http.response.start, got {kind}")
            self._head = self._make_head(message["status"], message.get("headers", ()))
            self.started = True
            self._continue = False
            if self._bodiless:
                conn.write(self._head)
                self._head = b""
            return
        if self.complete or kind != "http.response.body":
            raise RuntimeError(f"unexpected {kind} after the reply's end or start")
        body: bytes = message.get("body", b"")
        more = message.get("more_body", False)
        if self._bodiless:
            # (a body written after it would be read by the client as the next reply)
            data = b""
        elif self._chunked:
            data = b"%x\r\n%s\r\n" % (len(body), body) if body else b""
            if not more:
                data += b"0\r\n\r\n"
        else:
            self._left -= len(body)
            if self._left < 0:
                raise RuntimeError("reply longer than its Content-Length")
            data = body
        if self._head:
            data, self._head = self._head + data, b""
        if data:
            conn.write(data)
        if not more:
            if self._left and not self._bodiless:
                raise RuntimeError("reply shorter than its Content-Length")
            self.complete = True
            self.wake()
            conn.reply_complete(self)

    def _make_head(self, status: int, headers: Any) -> bytes:
        if self._continue and self.more_body:
            # A reply before "100 Continue": the client may send its body after all,
            # or its next request; either, read as the other, would desync.
            self.keep_alive = False
        parts = [
            _STATUS_LINES.get(status) or b"HTTP/1.1 %d \r\n" % status,
            self._conn.site.date_line(),
        ]
        names = []
        values = []
        length = False
        for name, value in headers:
            name = name.lower()
            names.append(name)
            values.append(value)
            if name == b"content-length":
                self._left = int(value)
                length = True
            elif name == b"connection" and b"close" in [
                token.strip().lower() for token in value.split(b",")
            ]:
                self.keep_alive = False
            parts += (name, b": ", value, b"\r\n")
        if _BAD_NAME.search(b"".join(names)) or _BAD_VALUE.search(b"".join(values)):
            raise RuntimeError("a reply header holds a character it may not")
        if not self.keep_alive and b"connection" not in names:
            parts.append(b"connection: close\r\n")
        if b"transfer-encoding" in names:
            raise RuntimeError("the server sets transfer-encoding itself")
        self._bodiless = status in (204, 304) or self.scope["method"] == "HEAD"
        if not length and not self._bodiless:
            self._chunked = True
            parts.append(b"transfer-encoding: chunked\r\n")
        parts.append(b"\r\n")
        return b"".join(parts)
