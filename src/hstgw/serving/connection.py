"""One HTTP/1.1 connection: httptools parses, this admits, bounds and times it.

What it keeps from hostile clients:

- **Admission.** Each accepted socket takes a place in a ``ConnectionGate`` (per
  address, in all) or is closed at once.
- **Deadlines.** A connection that has sent nothing is closed after the keep-alive
  time (also between requests: blank lines do not count), a request's headers must
  arrive within ``header`` of its first byte, its body within ``body`` of its headers,
  and a client that stops reading its replies has ``body`` to take them. One sweep a
  second checks them all (``serving.server``), so a request costs a few stores of a
  float, not a timer of its own; what is overdue is aborted.
- **Bounds.** A request's head is at most ``MAX_HEAD_BYTES`` and ``MAX_HEADERS``
  headers (431), and at most ``MAX_PIPELINE`` requests wait behind the one being
  answered (503): what httptools would otherwise hold without limit.
- **Bodies behind an Upgrade offer.** httptools stops at the headers of any request
  that offers ``Upgrade`` (Java's ``HttpClient`` offers ``h2c`` on every ``http://``
  request). The offer is ignored, as HTTP/1.1 allows, and the body is read here, by
  its Content-Length or chunked (``serving.bodies``).
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, NoReturn, cast

import httptools

from hstgw.errors import Code
from hstgw.serving.bodies import ChunkedBody, RawBody, SizedBody
from hstgw.serving.cycle import Cycle

if TYPE_CHECKING:
    from hstgw.serving.server import Site

__all__ = ["Deadlines", "HttpConnection"]

# A request's line and headers, in all (the app's 16 KiB limit on header bytes answers
# the same way; this one stops what is never passed on, before it is held).
MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 100
# Requests parsed ahead of the one being answered; past it the connection is closed.
MAX_PIPELINE = 32
# Body bytes held for an app that has not read them yet, before reading pauses.
HIGH_WATER = 64 * 1024


@dataclass(frozen=True, slots=True)
class Deadlines:
    keep_alive: float
    header: float
    body: float  # also: how long a reply may wait for a client that stopped reading


class _Refused(Exception):
    """Raised from a parser callback to stop parsing; the reply is on the connection."""


class HttpConnection(asyncio.Protocol):
    __slots__ = (
        "_address",
        "_closing",
        "_drained",
        "_expect_continue",
        "_head_bytes",
        "_headers",
        "_in_head",
        "_parsing",
        "_raw",
        "_read_paused",
        "_refusal",
        "_url",
        "client",
        "current",
        "deadline",
        "loop",
        "parser",
        "pipeline",
        "server",
        "site",
        "transport",
        "write_deadline",
        "write_paused",
    )

    def __init__(self, site: Site) -> None:
        self.site = site
        self.loop = site.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        # Loop times by which the awaited bytes must have come in (0: none awaited) and
        # by which a client must have taken what is written to it (0: nothing waits).
        self.deadline = 0.0
        self.write_deadline = 0.0
        self.write_paused = False
        self._drained: list[asyncio.Future[None]] = []
        self._read_paused = False
        self._address: str | None = None  # set once admitted
        self.client: tuple[str, int] | None = None
        self.server: tuple[str, int] | None = None
        self.current: Cycle | None = None  # the request being answered
        self._parsing: Cycle | None = None  # the request whose body is being read
        self.pipeline: deque[Cycle] = deque()  # parsed, waiting for the current one
        self._raw: RawBody | None = None  # a body read by hand after an ignored Upgrade
        self._in_head = False  # between a request's first byte and the end of its headers
        self._head_bytes = 0  # bytes of the current head seen in whole chunks
        self._refusal: tuple[int, str] | None = None
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._expect_continue = False
        self._closing = False  # the last request parsed ends the connection

    # -- the connection ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports are not subclasses of asyncio.Transport, only alike)
        transport = self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        own = transport.get_extra_info("sockname")
        if isinstance(peer, tuple):
            self.client = (str(peer[0]), int(peer[1]))
        if isinstance(own, tuple):
            self.server = (str(own[0]), int(own[1]))
        address = self.client[0] if self.client else ""
        if not self.site.gate.admit(address):
            transport.abort()
            return
        self._address = address
        self.deadline = self.loop.time() + self.site.deadlines.keep_alive
        self.site.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._address is not None:
            self.site.gate.release(self._address)
            self._address = None
            self.site.discard(self)
        for cycle in (self.current, self._parsing):
            if cycle is not None:
                cycle.disconnected = True
                cycle.wake()
        self.pipeline.clear()
        self._wake_drained()

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        if not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def shutdown(self) -> None:
        """The server stops: idle, closed now; busy, closed after its current reply."""
        if self.current is None:
            self.close()
        else:
            self.current.keep_alive = False
            self.pipeline.clear()

    # -- deadlines ---------------------------------------------------------------------

    def overdue(self, now: float) -> bool:
        # A read deadline does not run while the server itself holds reading back
        # (pipelined requests wait for the one being answered).
        return (0 < self.deadline < now and not self._read_paused) or (
            0 < self.write_deadline < now
        )

    def expire(self) -> None:
        """What was awaited did not come in time. Aborted, not closed: a close would wait
        for a client that does not read; the app, if any, sees a disconnect."""
        self.deadline = self.write_deadline = 0.0
        if self.transport is not None:
            self.transport.abort()

    # -- flow control ------------------------------------------------------------------

    def pause_reading(self) -> None:
        if not self._read_paused and self.transport is not None:
            self._read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._read_paused and self.transport is not None:
            self._read_paused = False
            self.transport.resume_reading()

    def pause_writing(self) -> None:
        self.write_paused = True
        self.write_deadline = self.loop.time() + self.site.deadlines.body

    def resume_writing(self) -> None:
        self.write_paused = False
        self.write_deadline = 0.0
        self._wake_drained()

    async def drain(self) -> None:
        waiter = self.loop.create_future()
        self._drained.append(waiter)
        await waiter

    def _wake_drained(self) -> None:
        drained, self._drained = self._drained, []
        for waiter in drained:
            if not waiter.done():
                waiter.set_result(None)

    # -- reading -----------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        # A loop, not recursion: one packet may hold many requests offering an upgrade.
        while data:
            if self._raw is not None:
                data = self._raw_body(data)
                if not data:
                    return
            if self._closing:
                self._ignore_the_rest()
                return
            whole_chunk_of_head = self._in_head
            head_bytes = self._head_bytes
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserUpgrade as exc:
                data = self._ignore_upgrade(data[int(exc.args[0]) :])
                continue
            except httptools.HttpParserError as exc:
                self._parse_error(exc)
                return
            if whole_chunk_of_head and self._in_head:
                # The head began before this chunk and is not over after it: the whole
                # chunk was head (httptools holds a partial header, and grows it by
                # concatenation). The headers it completed are in it: not added twice.
                self._head_bytes = max(self._head_bytes, head_bytes + len(data))
                if self._head_bytes > MAX_HEAD_BYTES:
                    self._send_refusal(431, f"headers: larger than {MAX_HEAD_BYTES} bytes")
            return

    def _parse_error(self, exc: httptools.HttpParserError) -> None:
        if self._closing:
            # Bytes after a request that closes the connection: llhttp refuses them,
            # but that request is whole and its reply is due.
            self._ignore_the_rest()
            return
        cycle = self._parsing
        self._send_refusal(
            *(self._refusal or (400, f"request: not valid HTTP/1.1 ({exc.args[0]})")),
            # The error is in the body of the request being answered (chunk framing,
            # a Transfer-Encoding found wrong after its headers): that request's own.
            owns_cycle=cycle is not None and cycle is self.current and cycle.more_body,
        )

    def _ignore_the_rest(self) -> None:
        self.pause_reading()  # (the reply due closes the connection)

    # httptools' callbacks

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._expect_continue = False
        self.deadline = self.loop.time() + self.site.deadlines.header
        self._in_head = True
        self._head_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_bytes += len(url)
        if self._head_bytes > MAX_HEAD_BYTES:
            self._refuse(431, f"headers: larger than {MAX_HEAD_BYTES} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        # Bounded as they come: a head read in one chunk (up to 256 KiB from uvloop)
        # was otherwise held whole, as thousands of tuples, until its deadline.
        self._head_bytes += len(name) + len(value)
        if self._head_bytes > MAX_HEAD_BYTES:
            self._refuse(431, f"headers: larger than {MAX_HEAD_BYTES} bytes")
        if len(self._headers) == MAX_HEADERS:
            self._refuse(431, f"headers: more than {MAX_HEADERS}")
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self._expect_continue = True
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._in_head = False
        parser = self.parser
        version = parser.get_http_version()
        if version != "1.1" and version != "1.0":  # (llhttp reads HTTP/0.9 and /2.0 lines)
            self._refuse(505, f"request: HTTP/{version} is not served, HTTP/1.1 is")
        try:
            url = httptools.parse_url(self._url)
            raw_path = url.path or b"/"
            path = raw_path.decode("ascii")
        except (httptools.HttpParserInvalidURLError, UnicodeDecodeError):
            self._refuse(400, "request: not a valid request target")
        if "%" in path:
            path = urllib.parse.unquote(path)
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": version,
            "server": self.server,
            "client": self.client,
            "scheme": "http",
            "method": parser.get_method().decode("ascii"),
            "root_path": "",
            "path": path,
            "raw_path": raw_path,
            "query_string": url.query or b"",
            "headers": self._headers,
        }
        keep_alive = version == "1.1" and parser.should_keep_alive()
        # (an HTTP/1.0 client's expectation is ignored: RFC 9110 10.1.1)
        expect_continue = self._expect_continue and version == "1.1"
        cycle = self._parsing = Cycle(self, scope, keep_alive, expect_continue)
        self.deadline = self.loop.time() + self.site.deadlines.body
        if self.current is None:
            self.current = cycle
            self.site.start(cycle)
        else:
            # Pipelined: it waits for the replies before it, and reading waits with it.
            self.pause_reading()
            self.pipeline.append(cycle)
            if len(self.pipeline) > MAX_PIPELINE:
                # (with replies still due ahead of it, the refusal is an abort)
                self._refuse(503, f"more than {MAX_PIPELINE} requests pipelined")

    def on_body(self, body: bytes) -> None:
        cycle = self._parsing
        if cycle is None or cycle.complete:
            return
        cycle.body += body
        if len(cycle.body) > HIGH_WATER:
            self.pause_reading()
        cycle.wake()

    def on_message_complete(self) -> None:
        cycle = self._parsing
        if cycle is not None:
            cycle.more_body = False
            cycle.wake()
            self._closing = not cycle.keep_alive
        if self._raw is None:
            self.deadline = 0.0  # the app has it

    # -- replies -----------------------------------------------------------------------

    def reply_complete(self, cycle: Cycle) -> None:
        """``cycle``'s reply is whole: close, or start the next request."""
        if not cycle.keep_alive:
            self.close()
            return
        if cycle is not self.current:
            return
        if self.pipeline:
            self.current = self.pipeline.popleft()
            self.site.start(self.current)
            if not self.pipeline:
                self.resume_reading()
            return
        self.current = None
        self.resume_reading()
        if self._raw is None and self.deadline == 0.0:
            # Idle from now on: closed after keep_alive unless a request begins (blank
            # lines do not begin one).
            self.deadline = self.loop.time() + self.site.deadlines.keep_alive

    # -- refusals ----------------------------------------------------------------------

    def _refuse(self, status: int, msg: str) -> NoReturn:
        self._refusal = (status, msg)
        raise _Refused(msg)

    def _send_refusal(self, status: int, msg: str, *, owns_cycle: bool = False) -> None:
        """An error reply in the gateway's envelope, then the connection closed.

        ``owns_cycle``: the current cycle is the refused request's own (its app must
        not run). Where replies to earlier requests are still due, a reply now would
        be read as theirs: the connection is aborted instead.
        """
        assert self.transport is not None
        cycle = self.current
        if self.pipeline or (
            cycle is not None
            and not cycle.complete
            and (not owns_cycle or cycle.started)  # its app already answers
        ):
            self.transport.abort()
            return
        if owns_cycle and self._parsing is not None:
            self._parsing.disconnected = True  # the app sees a disconnect and does nothing
            self._parsing.wake()
        body = json.dumps({"code": Code.PARAMETER_INVALID.value, "msg": msg}).encode()
        self.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json;charset=UTF-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, HTTPStatus(status).phrase.encode(), len(body), body)
        )
        self.transport.close()

    # -- bodies behind an Upgrade offer --------------------------------------------------

    def _ignore_upgrade(self, rest: bytes) -> bytes:
        """Serve an Upgrade-offering request as plain HTTP/1.1, reading its body here.

        Returns what follows the body in ``rest`` (the next requests), to be parsed.
        """
        # httptools stopped after the headers; a new parser takes the next request.
        self.parser = httptools.HttpRequestParser(self)
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self._in_head = False
        cycle = self._parsing
        assert cycle is not None
        codings = [v for k, v in self._headers if k == b"transfer-encoding"]
        body: RawBody
        if codings:
            # Only "chunked", exactly, once: a coding we cannot undo, or one httptools
            # did not check (it skips the body of an upgrade), would let the body be
            # read as the next request.
            if len(codings) != 1 or codings[0].strip().lower() != b"chunked":
                self._send_refusal(
                    400, "transfer-encoding: only chunked is supported", owns_cycle=True
                )
                return b""
            body = ChunkedBody(self.site.max_body)
        else:
            try:
                length = int(dict(self._headers).get(b"content-length", b"0"))
            except ValueError:
                length = -1
            if not 0 <= length <= self.site.max_body:
                # The app refuses the declared length without reading; the body stays
                # unread, so the connection cannot serve another request.
                cycle.keep_alive = False
                return b""
            if not length:
                return rest
            body = SizedBody(length)
        # httptools ended the request with an empty body; the app, which has not run
        # yet (we are still in data_received), reads the body that follows instead.
        cycle.more_body = True
        self._raw = body
        self.deadline = self.loop.time() + self.site.deadlines.body
        return self._raw_body(rest)

    def _raw_body(self, data: bytes) -> bytes:
        """Hand what belongs to the current body to its cycle; return what follows it."""
        assert self._raw is not None
        cycle = self._parsing
        assert cycle is not None
        try:
            chunk, rest = self._raw.feed(data)
        except ValueError as exc:
            # The request is not whole and never will be: its app sees a disconnect
            # (and so executes nothing), the client a 400, and the connection closes.
            self._raw = None
            self._send_refusal(400, str(exc), owns_cycle=True)
            return b""
        if chunk and not cycle.complete:
            cycle.body += chunk
            if len(cycle.body) > HIGH_WATER:
                self.pause_reading()
        if self._raw.done:
            self._raw = None
            cycle.more_body = False
            self.deadline = 0.0
        cycle.wake()
        return rest
