"""uvicorn's httptools protocol, guarded: admission, read deadlines, every body read.

What uvicorn's own protocol leaves open in front of hostile clients, and this adds:

- **Admission.** Each accepted socket takes a place in a ``ConnectionGate`` (per
  address, in all) or is closed at once.
- **Deadlines.** A connection that has sent nothing is closed after the keep-alive
  time (also between requests: blank lines do not count), a request's headers must
  arrive within ``header_timeout`` of its first byte, its body within
  ``body_timeout`` of its headers, and a client that stops reading its replies has
  ``body_timeout`` to take them. One sweep a second checks them all, so a request
  costs a few stores of a float, not a timer of its own; what is overdue is aborted.
- **Bounds.** A request's head is at most ``MAX_HEAD_BYTES`` and ``MAX_HEADERS``
  headers (431), and at most ``MAX_PIPELINE`` requests wait behind the one being
  answered (503): what httptools would otherwise hold without limit.
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
import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httptools
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from hstgw.api.bodies import ChunkedBody, RawBody, SizedBody
from hstgw.connections import ConnectionGate
from hstgw.errors import Code

__all__ = ["Deadlines", "guarded_protocol"]

_SWEEP_S = 1.0
# A request's line and headers, in all (the ASGI layer's 16 KiB limit on header bytes
# answers the same way; this one stops what is never passed on, before it is held).
MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 100
# Requests parsed ahead of the one being answered; past it the connection is closed.
MAX_PIPELINE = 32


@dataclass(frozen=True, slots=True)
class Deadlines:
    keep_alive: float
    header: float
    body: float  # also: how long a response may wait for a client that stopped reading


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
        for conn in [c for c in self.live if c.overdue(now)]:
            conn.expire()
        # Re-armed only while there is something to watch.
        self._handle = loop.call_later(_SWEEP_S, self._sweep, loop) if self.live else None


class _Refused(Exception):
    """Raised from a parser callback to stop parsing; the reply is on the protocol."""


class GuardedHttpProtocol(HttpToolsProtocol):
    gate: ConnectionGate
    deadlines: Deadlines
    max_body: int
    sweeper: _Sweeper

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Loop times by which the awaited bytes must have come in (0: none awaited) and
        # by which a client must have taken what is written to it (0: nothing waits).
        self.deadline = 0.0
        self.write_deadline = 0.0
        self._address: str | None = None  # set once admitted
        self._raw: RawBody | None = None  # a body read by hand after an ignored Upgrade offer
        self._in_head = False  # between a request's first byte and the end of its headers
        self._head_bytes = 0  # bytes of the current head seen in whole chunks
        self._refusal: tuple[int, str] | None = None

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

    # -- deadlines ---------------------------------------------------------------

    def overdue(self, now: float) -> bool:
        # A read deadline does not run while the gateway itself holds reading back
        # (pipelined requests wait for the one being answered).
        return (0 < self.deadline < now and not self.flow.read_paused) or (
            0 < self.write_deadline < now
        )

    def expire(self) -> None:
        """What was awaited did not come in time. Aborted, not closed: a close would wait
        for a client that does not read; the app, if any, sees a disconnect."""
        self.deadline = self.write_deadline = 0.0
        self.transport.abort()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.deadline = self.loop.time() + self.deadlines.header
        self._in_head = True
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        if len(self.headers) > MAX_HEADERS:  # (their bytes are bounded as they come)
            self._refuse(431, f"headers: more than {MAX_HEADERS}")
        super().on_headers_complete()
        self.deadline = self.loop.time() + self.deadlines.body
        if len(self.pipeline) > MAX_PIPELINE:
            # (with replies still due ahead of it, the refusal is an abort)
            self._refuse(503, f"more than {MAX_PIPELINE} requests pipelined")

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self._raw is None:
            self.deadline = 0.0  # the app has it

    def on_response_complete(self) -> None:
        idle = not self.pipeline and self._raw is None
        super().on_response_complete()
        if idle and self.deadline == 0.0:
            # Idle from now on: closed after keep_alive unless a request begins (blank
            # lines do not begin one), whatever uvicorn's own timer does.
            self.deadline = self.loop.time() + self.deadlines.keep_alive

    def pause_writing(self) -> None:
        super().pause_writing()
        self.write_deadline = self.loop.time() + self.deadlines.body

    def resume_writing(self) -> None:
        super().resume_writing()
        self.write_deadline = 0.0

    # -- refusals ----------------------------------------------------------------

    def _refuse(self, status: int, msg: str) -> None:
        self._refusal = (status, msg)
        raise _Refused(msg)

    def _send_refusal(self, status: int, msg: str, *, owns_cycle: bool = False) -> None:
        """An error reply in the gateway's envelope, then the connection closed.

        ``owns_cycle``: the current cycle is the refused request's own (its app must
        not run). Where replies to earlier requests are still due, a reply now would
        be read as theirs: the connection is aborted instead.
        """
        cycle = self.cycle
        if self.pipeline or (
            cycle is not None
            and not cycle.response_complete
            and (not owns_cycle or cycle.response_started)  # its app already answers
        ):
            self.transport.abort()
            return
        if owns_cycle:
            cycle.disconnected = True  # the app sees a disconnect and does nothing
            cycle.message_event.set()
        body = json.dumps({"code": Code.PARAMETER_INVALID.value, "msg": msg}).encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json;charset=UTF-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, HTTPStatus(status).phrase.encode(), len(body), body)
        )
        self.transport.close()

    # -- reading -----------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        # A loop, not recursion: one packet may hold many requests offering an upgrade.
        while data:
            if self._raw is not None:
                data = self._raw_body(data)
                if not data:
                    return
            whole_chunk_of_head = self._in_head
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserUpgrade as exc:
                data = self._ignore_upgrade(data[int(exc.args[0]) :])
                continue
            except httptools.HttpParserError:
                if self._refusal is not None:
                    self._send_refusal(*self._refusal)
                    return
                msg = "Invalid HTTP request received."
                self.logger.warning(msg)
                self.send_400_response(msg)
                return
            if whole_chunk_of_head and self._in_head:
                # The head began before this chunk and is not over after it: the whole
                # chunk was head. (httptools holds a head until it is whole, and grows
                # it by concatenation: it must not be let grow without bound.)
                self._head_bytes += len(data)
                if self._head_bytes > MAX_HEAD_BYTES:
                    self._send_refusal(431, f"headers: larger than {MAX_HEAD_BYTES} bytes")
            return

    def _ignore_upgrade(self, rest: bytes) -> bytes:
        """Serve an Upgrade-offering request as plain HTTP/1.1, reading its body here.

        Returns what follows the body in ``rest`` (the next requests), to be parsed.
        """
        # httptools stopped after the headers; a new parser takes the next request.
        self.parser = httptools.HttpRequestParser(self)
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self._in_head = False
        codings = [v for k, v in self.headers if k == b"transfer-encoding"]
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
            body = ChunkedBody(self.max_body)
        else:
            try:
                length = int(dict(self.headers).get(b"content-length", b"0"))
            except ValueError:
                length = -1
            if not 0 <= length <= self.max_body:
                # The app refuses the declared length without reading; the body stays
                # unread, so the connection cannot serve another request.
                self.cycle.keep_alive = False
                return b""
            if not length:
                return rest
            body = SizedBody(length)
        # The request's task has not run yet (we are still in data_received): it will
        # read the body that follows, not the empty one httptools ended with.
        self.cycle.more_body = True
        self._raw = body
        self.deadline = self.loop.time() + self.deadlines.body
        return self._raw_body(rest)

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
            self._send_refusal(400, str(exc), owns_cycle=True)
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


def guarded_protocol(gate: ConnectionGate, deadlines: Deadlines, max_body: int) -> type:
    """A protocol class for one server (uvicorn's ``http=``), with its gate and deadlines."""
    return type(
        "GuardedHttpProtocol",
        (GuardedHttpProtocol,),
        {"gate": gate, "deadlines": deadlines, "max_body": max_body, "sweeper": _Sweeper()},
    )
