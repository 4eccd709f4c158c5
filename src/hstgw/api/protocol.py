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
  offer is ignored, as HTTP/1.1 allows, and the body is read by its Content-Length.

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
        self._raw_left = 0  # body bytes still to come after an ignored Upgrade offer

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
        if not self._raw_left:
            self.deadline = 0.0  # the app has it; uvicorn's keep-alive timer follows

    # -- bodies behind an ignored Upgrade offer ----------------------------------

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if self._raw_left:
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
        """Serve an Upgrade-offering request as plain HTTP/1.1, its body read by length."""
        # httptools stopped after the headers; a new parser takes the next request.
        self.parser = httptools.HttpRequestParser(self)
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        cycle = self.cycle
        headers = dict(self.headers)
        if b"transfer-encoding" in headers:
            self.send_400_response("A chunked body with an Upgrade offer is not supported.")
            return
        try:
            length = int(headers.get(b"content-length", b"0"))
        except ValueError:
            length = -1
        if not 0 <= length <= self.max_body:
            # The app refuses the declared length without reading; the body stays unread,
            # so the connection cannot serve another request.
            cycle.keep_alive = False
            return
        if length:
            # The request's task has not run yet (we are still in data_received): it
            # will read the body that follows, not the empty one httptools ended with.
            cycle.more_body = True
            self._raw_left = length
            self.deadline = self.loop.time() + self.deadlines.body
            rest = self._raw_body(rest)
        if rest:
            self.data_received(rest)

    def _raw_body(self, data: bytes) -> bytes:
        """Hand what belongs to the current body to its cycle; return what follows it."""
        take, rest = data[: self._raw_left], data[self._raw_left :]
        self._raw_left -= len(take)
        cycle = self.cycle
        if not cycle.response_complete:
            cycle.body += take
            if len(cycle.body) > HIGH_WATER_LIMIT:
                self.flow.pause_reading()
        if not self._raw_left:
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
