"""The socket side of a REST connection: admission, deadlines, flow control.

``HttpConnection`` (``serving.connection``) parses HTTP on top of it. What it keeps
from hostile clients:

- **Admission.** Each accepted socket takes a place in a ``ConnectionGate`` (per
  address, in all) or is closed at once.
- **Deadlines.** A connection that has sent nothing is closed after the keep-alive
  time (also between requests: blank lines do not count), a request's headers must
  arrive within ``header`` of its first byte, its body within ``body`` of its headers,
  and a client that stops reading its replies has ``body`` to take them. One sweep a
  second checks them all (``serving.server``), so a request costs a few stores of a
  float, not a timer of its own; what is overdue is aborted.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from hstgw.serving.server import Site

__all__ = ["Deadlines", "Link"]


@dataclass(frozen=True, slots=True)
class Deadlines:
    keep_alive: float
    header: float
    body: float  # also: how long a reply may wait for a client that stopped reading


class Link(asyncio.Protocol):
    __slots__ = (
        "_address",
        "_drained",
        "_flush_by",
        "_paused_at",
        "_read_paused",
        "client",
        "deadline",
        "loop",
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
        # Loop times by which the awaited bytes must have come in (0: none awaited) and
        # by which a client must have taken what is written to it (0: nothing waits).
        self.deadline = 0.0
        self.write_deadline = 0.0
        self.write_paused = False
        self._drained: list[asyncio.Future[None]] = []
        self._read_paused = False
        self._paused_at = 0.0
        self._flush_by = 0.0  # closing: by then what is written must have been taken
        self._address: str | None = None  # set once admitted
        self.client: tuple[str, int] | None = None
        self.server: tuple[str, int] | None = None

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
        self._wake_drained()

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        if not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def shutdown(self) -> None:
        """The server stops (``HttpConnection`` lets a reply in progress end first)."""
        self.close()

    # -- deadlines ---------------------------------------------------------------------

    def overdue(self, now: float) -> bool:
        # A read deadline does not run while the server itself holds reading back
        # (pipelined requests wait for the one being answered).
        return (
            (0 < self.deadline < now and not self._read_paused)
            or 0 < self.write_deadline < now
            or 0 < self._flush_by < now
        )

    def expire(self) -> None:
        """What was awaited did not come in time (``HttpConnection`` closes an idle
        connection more gently)."""
        self.abort()

    def abort(self) -> None:
        """Aborted, not closed: a close would wait for a client that does not read; the
        app, if any, sees a disconnect."""
        self.deadline = self.write_deadline = self._flush_by = 0.0
        if self.transport is not None:
            self.transport.abort()

    def close_after_flush(self, by: float) -> None:
        """Closed once the client has taken what is written to it; aborted if that is
        not done by loop time ``by`` (a close alone would wait as long as it takes)."""
        self.deadline = 0.0
        self._flush_by = by
        self.close()

    # -- flow control ------------------------------------------------------------------

    def pause_reading(self) -> None:
        if not self._read_paused and self.transport is not None:
            self._read_paused = True
            self._paused_at = self.loop.time()
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._read_paused and self.transport is not None:
            self._read_paused = False
            if self.deadline:
                # The time the server held reading back (a pipelined request waiting
                # for the replies before it) was not the client's to use.
                self.deadline += self.loop.time() - self._paused_at
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
