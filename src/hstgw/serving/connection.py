"""One HTTP/1.1 connection: httptools parses, this bounds what it holds.

What it keeps from hostile clients, beyond what ``serving.link`` does (admission,
deadlines):

- **Bounds.** A request's head is at most ``MAX_HEAD_BYTES`` and ``MAX_HEADERS``
  headers (431), and at most ``MAX_PIPELINE`` requests wait behind the one being
  answered (503): what httptools would otherwise hold without limit.
- **Bodies behind an Upgrade offer.** httptools stops at the headers of any request
  that offers ``Upgrade`` (Java's ``HttpClient`` offers ``h2c`` on every ``http://``
  request). The offer is ignored, as HTTP/1.1 allows, and the body is read here, by
  its Content-Length or chunked (``serving.bodies``).
"""

from __future__ import annotations

import json
import urllib.parse
from collections import deque
from http import HTTPStatus
from typing import TYPE_CHECKING, NoReturn

import httptools

from hstgw.errors import Code
from hstgw.serving.bodies import BadCoding, BadLength, RawBody, upgrade_body
from hstgw.serving.cycle import Cycle
from hstgw.serving.link import Link

if TYPE_CHECKING:
    from hstgw.serving.server import Site

__all__ = ["HttpConnection"]

# A request's line and headers, in all (the app's 16 KiB limit on header bytes answers
# the same way; this one stops what is never passed on, before it is held).
MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 100
# Requests parsed ahead of the one being answered; past it the connection is closed.
MAX_PIPELINE = 32
# Body bytes held for an app that has not read them yet, before reading pauses.
HIGH_WATER = 64 * 1024


class _Refused(Exception):
    """Raised from a parser callback to stop parsing; the reply is on the connection."""


class HttpConnection(Link):
    __slots__ = (
        "_closing",
        "_expect_continue",
        "_has_body",
        "_head_bytes",
        "_headers",
        "_hosts",
        "_in_head",
        "_parsing",
        "_raw",
        "_refusal",
        "_url",
        "_whole",
        "current",
        "parser",
        "pipeline",
    )

    def __init__(self, site: Site) -> None:
        super().__init__(site)
        self.parser = httptools.HttpRequestParser(self)
        self.current: Cycle | None = None  # the request being answered
        self._parsing: Cycle | None = None  # the request whose body is being read
        self.pipeline: deque[Cycle] = deque()  # parsed, waiting for the current one
        self._raw: RawBody | None = None  # a body read by hand after an ignored Upgrade
        self._in_head = False  # between a request's first byte and the end of its headers
        self._head_bytes = 0  # bytes of the current head counted so far
        self._refusal: tuple[int, str] | None = None
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._expect_continue = False
        self._closing = False  # the last request parsed ends the connection
        self._has_body = False  # the request being parsed declares a body
        self._hosts = 0  # its Host headers
        self._whole: Cycle | None = None  # bodiless, to start when its message ends

    # -- the connection ---------------------------------------------------------------

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        for cycle in (self.current, self._parsing):
            if cycle is not None:
                cycle.disconnected = True
                cycle.wake()
        self.pipeline.clear()

    def shutdown(self) -> None:
        """The server stops: idle, closed now; busy, closed after its current reply."""
        if self.current is None:
            self.close()
        else:
            self.current.keep_alive = False
            self.pipeline.clear()

    def expire(self) -> None:
        if self.current is None and not self._in_head and self._raw is None:
            # Idle past the keep-alive time; but the app hands its reply over whole, so
            # a slow client may still be taking the last one. Closed after it (an
            # abort dropped its tail), within the time a slow reader has anyway.
            now = self.loop.time()
            if not self._flush_by and not 0 < self.write_deadline <= now:
                self.close_after_flush(self.write_deadline or now + self.site.deadlines.body)
                return
        super().expire()

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
        self._has_body = False
        self._hosts = 0
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
        elif name == b"content-length" or name == b"transfer-encoding":
            self._has_body = True
        elif name == b"host":
            self._hosts += 1
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._in_head = False
        parser = self.parser
        version = parser.get_http_version()
        if version != "1.1" and version != "1.0":  # (llhttp reads HTTP/0.9 and /2.0 lines)
            self._refuse(505, f"request: HTTP/{version} is not served, HTTP/1.1 is")
        if self._hosts > 1 or (self._hosts == 0 and version == "1.1"):
            # RFC 9112 3.2: two could be read as two different hosts by two parties
            self._refuse(400, "host: an HTTP/1.1 request has one Host header")
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
            if self._has_body or parser.should_upgrade():
                # Its app starts now, in a task (after this read), and reads the body as
                # it comes; a framing error found first disconnects it before it runs.
                # (An Upgrade offer's body is read by hand once httptools stops.)
                self.site.start(cycle, eager=False)
            else:
                self._whole = cycle  # started at once when its message ends (below)
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
            if cycle is self._whole:
                self._whole = None
                self.site.start(cycle)  # (eager on 3.12+: most are answered within this call)
        if self._raw is None:
            # The app has it (0: nothing awaited), or has answered it already (served
            # within the parse: idle now, until keep_alive).
            self.deadline = 0.0 if self.current is not None else self._idle_deadline()

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
            # (a task: run at once, a pipeline would nest each reply in the one before)
            self.site.start(self.current, eager=False)
            if not self.pipeline:
                self.resume_reading()
            return
        self.current = None
        self.resume_reading()
        if self._raw is None and self.deadline == 0.0:
            self.deadline = self._idle_deadline()

    def _idle_deadline(self) -> float:
        # Idle from now on: closed after keep_alive unless a request begins (blank lines
        # do not begin one).
        return self.loop.time() + self.site.deadlines.keep_alive

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
        try:
            body = upgrade_body(self._headers, self.site.max_body)
        except BadCoding as exc:
            self._send_refusal(400, str(exc), owns_cycle=True)
            return b""
        except BadLength:
            # The app refuses the declared length without reading; the body stays
            # unread, so the connection cannot serve another request.
            cycle.keep_alive = False
            self._closing = True  # (what follows is that body: never parsed)
            return b""
        if body is None:
            return rest
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
