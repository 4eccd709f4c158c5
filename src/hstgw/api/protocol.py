"""uvicorn's httptools protocol, guarded: admission, read deadlines, every body read.

What uvicorn's own protocol leaves open in front of hostile clients, and this adds:

- **Admission.** Each accepted socket takes a place in a ``ConnectionGate`` (per
  address, in all) or is closed at once.
- **Deadlines.** A connection that has sent nothing is closed after the keep-alive
  time, a request's headers must arrive within ``header_timeout`` of its first byte,
  its body within ``body_timeout`` of its headers. One sweep a second checks them all,
  so a request costs two stores of a float, not a timer of its own.
- **Bodies behind an Upgrade offer.** httptools stops at the headers of any request
  that offers ``Upgrade`` (Java's ``HttpClient`` offers ``h2c`` on every ``http://``
  request), and uvicorn then runs the app with an empty body (uvicorn#2722). The
  offer is ignored, as HTTP/1.1 allows, and the body is read here, by its
  Content-Length or chunked.

The class is made per server by ``guarded_protocol`` and handed to uvicorn as its
``http`` protocol; it depends on uvicorn's ``HttpToolsProtocol`` internals, which is
why uvicorn is pinned (requirements/constraints.txt) and tests/api/test_protocol.py
covers each of these behaviours.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from hstgw.connections import ConnectionGate

__all__ = ["Deadlines", "guarded_protocol"]

_SWEEP_S = 1.0


@dataclass(frozen=True, slots=True)
class Deadlines:
    keep_alive: float
    header: float
    body: float


class _Sweeper:
    """Closes the connections of one server whose deadline has passed."""

    __slots__ = ("_handle", "live")

    def __init__(self) -> None:
        self.live: set[GuardedHttpProtocol] = set()
        self._handle: asyncio.TimerHandle | None = None

    def add(self, conn: GuardedHttpProtocol) -> None:
        self.live.add(conn)
        if self._handle is None:
            self._handle = conn.loop.call_later(_SWEEP_S, self._sweep, conn.loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for conn in [c for c in self.live if 0 < c.deadline < now]:
            conn.expire()
        # Re-armed only while there is something to watch.
        self._handle = loop.call_later(_SWEEP_S, self._sweep, loop) if self.live else None


class GuardedHttpProtocol(HttpToolsProtocol):
    gate: ConnectionGate
    deadlines: Deadlines
    max_body: int
    sweeper: _Sweeper

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = 0.0  # loop time by which the awaited bytes must be in; 0: none
        self._address: str | None = None  # set once admitted
        self._raw: _Body | None = None  # a body read by hand after an ignored Upgrade offer

    # -- admission ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        address = self.client[0] if self.client else ""
        if not self.gate.admit(address):
            transport.abort()
            return
        self._address = address
        self.deadline = self.loop.time() + self.deadlines.keep_alive
        self.sweeper.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._address is not None:
            self.gate.release(self._address)
            self._address = None
            self.sweeper.live.discard(self)
        super().connection_lost(exc)

    def expire(self) -> None:
        """The awaited bytes did not come in time: close (the app, if any, sees a disconnect)."""
        self.deadline = 0.0
        self.transport.close()

    # -- deadlines ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.deadline = self.loop.time() + self.deadlines.header

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self.deadline = self.loop.time() + self.deadlines.body

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self._raw is None:
            self.deadline = 0.0  # the app has it; uvicorn's keep-alive timer follows

    # -- bodies behind an ignored Upgrade offer ----------------------------------

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if self._raw is not None:
            data = self._raw_body(data)
            if not data:
                return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
        except httptools.HttpParserUpgrade as exc:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._ignore_upgrade(data[int(exc.args[0]) :])

    def _ignore_upgrade(self, rest: bytes) -> None:
        """Serve an Upgrade-offering request as plain HTTP/1.1, reading its body here."""
        # httptools stopped after the headers; a new parser takes the next request.
        self.parser = httptools.HttpRequestParser(self)
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        headers = dict(self.headers)
        if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            body: _Body = _Chunked(self.max_body)
        else:
            try:
                length = int(headers.get(b"content-length", b"0"))
            except ValueError:
                length = -1
            if not 0 <= length <= self.max_body:
                # The app refuses the declared length without reading; the body stays
                # unread, so the connection cannot serve another request.
                self.cycle.keep_alive = False
                return
            if not length:
                if rest:
                    self.data_received(rest)
                return
            body = _Sized(length)
        # The request's task has not run yet (we are still in data_received): it will
        # read the body that follows, not the empty one httptools ended with.
        self.cycle.more_body = True
        self._raw = body
        self.deadline = self.loop.time() + self.deadlines.body
        rest = self._raw_body(rest)
        if rest:
            self.data_received(rest)

    def _raw_body(self, data: bytes) -> bytes:
        """Hand what belongs to the current body to its cycle; return what follows it."""
        assert self._raw is not None
        cycle = self.cycle
        try:
            chunk, rest = self._raw.feed(data)
        except ValueError as exc:
            # The request is not whole and never will be: its app sees a disconnect
            # (and so executes nothing), the client a 400, and the connection closes.
            self._raw = None
            cycle.disconnected = True
            cycle.message_event.set()
            self.send_400_response(str(exc))
            return b""
        if chunk and not cycle.response_complete:
            cycle.body += chunk
            if len(cycle.body) > HIGH_WATER_LIMIT:
                self.flow.pause_reading()
        if self._raw.done:
            self._raw = None
            cycle.more_body = False
            self.deadline = 0.0
        cycle.message_event.set()
        return rest


class _Body:
    """A request body read after httptools stopped: ``feed`` -> (its bytes, what follows)."""

    done = False

    def feed(self, data: bytes) -> tuple[bytes, bytes]:
        raise NotImplementedError


class _Sized(_Body):
    def __init__(self, length: int) -> None:
        self.left = length

    def feed(self, data: bytes) -> tuple[bytes, bytes]:
        take = data[: self.left]
        self.left -= len(take)
        self.done = not self.left
        return take, data[len(take) :]


class _Chunked(_Body):
    """``Transfer-Encoding: chunked`` (RFC 9112 7.1), strictly; ValueError when malformed."""

    _LINE_MAX = 4096

    def __init__(self, max_body: int) -> None:
        self.max_body = max_body
        self.size = 0  # body bytes so far
        self.left = 0  # of the current chunk
        self.state = "size"  # size -> data -> crlf -> size ... -> trailer -> done
        self.line = bytearray()

    def feed(self, data: bytes) -> tuple[bytes, bytes]:
        out = bytearray()
        i = 0
        while i < len(data) and not self.done:
            if self.state == "data":
                take = data[i : i + self.left]
                out += take
                i += len(take)
                self.left -= len(take)
                if not self.left:
                    self.state = "crlf"
                continue
            end = data.find(b"\n", i)
            if end < 0:
                self._line(data[i:])
                i = len(data)
                continue
            self._line(data[i : end + 1])
            i = end + 1
            line, self.line = bytes(self.line), bytearray()
            self._end_of_line(line)
        return bytes(out), data[i:]

    def _line(self, part: bytes) -> None:
        self.line += part
        if len(self.line) > self._LINE_MAX:
            raise ValueError("A chunk line is too long.")

    def _end_of_line(self, line: bytes) -> None:
        if not line.endswith(b"\r\n"):
            raise ValueError("Invalid chunked body.")
        line = line[:-2]
        if self.state == "crlf":
            if line:
                raise ValueError("Invalid chunked body.")
            self.state = "size"
        elif self.state == "size":
            size_text = line.split(b";", 1)[0]
            if not size_text or size_text.strip(b"0123456789abcdefABCDEF"):
                raise ValueError("Invalid chunk size.")
            size = int(size_text, 16)
            self.size += size
            if self.size > self.max_body:
                raise ValueError("Request body too large.")
            if size:
                self.left = size
                self.state = "data"
            else:
                self.state = "trailer"
        elif not line:  # the empty line that ends the trailer section
            self.done = True


def guarded_protocol(gate: ConnectionGate, deadlines: Deadlines, max_body: int) -> type:
    """A protocol class for one server (uvicorn's ``http=``), with its gate and deadlines."""
    return type(
        "GuardedHttpProtocol",
        (GuardedHttpProtocol,),
        {"gate": gate, "deadlines": deadlines, "max_body": max_body, "sweeper": _Sweeper()},
    )
