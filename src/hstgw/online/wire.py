"""One terminal's connection: an asyncio ``Protocol`` of the gateway's own, over the
WebSocket protocol of ``websockets``' Sans-I/O layer.

Why not ``websockets``' asyncio server: each of its connections is a
``ServerConnection``, a handler task and its coroutine frames, an ``Assembler`` and
futures, ~8 KiB that a terminal idle for hours does not need (docs/performance.md).
Here one object with ``__slots__`` is the connection, the session's ``Link`` and the
owner of the protocol state; the handshake and the framing are
``websockets.server.ServerProtocol``'s, not written here. No task lives per
terminal: one runs only while frames are being served, one after the other, and
reading pauses while ``MAX_QUEUE`` frames wait (as ``websockets``' ``max_queue``).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from typing import Any, cast

from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

from hstgw.connections import ConnectionGate, TrustedProxies
from hstgw.online import protocol as p
from hstgw.online.service import OnlineService
from hstgw.online.session import Session
from hstgw.tasks import Background

__all__ = [
    "HANDSHAKE_TIMEOUT_S",
    "LOGIN_TIMEOUT_S",
    "MAX_FRAME",
    "SEND_BACKLOG",
    "Terminal",
    "text_frame",
]

log = logging.getLogger("hstgw.online")
_ws_log = logging.getLogger("hstgw.online.ws")

LOGIN_TIMEOUT_S = 10.0
# A client that has not finished its handshake within this is dropped (slowloris);
# the request's lines and headers are bounded by websockets (8 KiB a line, 128 headers).
HANDSHAKE_TIMEOUT_S = 10.0
# A close (ours or the client's) not completed within this ends with an abort.
CLOSE_TIMEOUT_S = 10.0
SEND_BACKLOG = 256 * 1024
# Frames above this are refused by the WebSocket layer (close 1009); bodies are
# limited to 8 KiB by the protocol, with an error reply, below it.
MAX_FRAME = 64 * 1024
# Frames received and waiting to be served, at most: then reading pauses.
MAX_QUEUE = 4

_OPEN = State.OPEN
_CONNECTING = State.CONNECTING
_TEXT, _BINARY, _CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONT
_INVALID_DATA = 1007
_GOING_AWAY = 1001
_INTERNAL = 1011
_POLICY = 1008


_HEAD_7 = struct.Struct("!BB")
_HEAD_16 = struct.Struct("!BBH")
_HEAD_64 = struct.Struct("!BBQ")
_FIN_TEXT = 0x81


def text_frame(data: bytes) -> bytes:
    """A server's text frame of ``data`` (RFC 6455 5.2: FIN, opcode 1, not masked, no
    extension negotiated): the bytes ``Frame(TEXT, data).serialize(mask=False,
    extensions=[])`` makes, at a fifth of its cost (0.4 against 1.9 µs), paid by every
    reply and every unicast push."""
    n = len(data)
    if n < 126:
        return _HEAD_7.pack(_FIN_TEXT, n) + data
    if n < 65536:
        return _HEAD_16.pack(_FIN_TEXT, 126, n) + data
    return _HEAD_64.pack(_FIN_TEXT, 127, n) + data


class Shared:
    """What the connections of one listener share."""

    __slots__ = ("_frame", "_text", "closed", "conns", "gate", "proxies", "service", "tasks")

    def __init__(
        self, service: OnlineService, gate: ConnectionGate, proxies: TrustedProxies
    ) -> None:
        self.service = service
        self.gate = gate
        self.proxies = proxies
        self.conns: set[Terminal] = set()
        self.tasks = Background(lambda exc: log.error("terminal connection failed: %r", exc))
        self.closed: asyncio.Future[None] | None = None  # set by a stop: the last one gone
        self._text = ""
        self._frame = b""

    def frame(self, text: str) -> bytes:
        """``text`` as a WebSocket frame. A fan-out pushes one text to thousands: a
        server's frames are not masked and no extension is negotiated, so all of them
        are sent the same bytes, made once."""
        if text is not self._text:
            self._frame = text_frame(text.encode())
            self._text = text
        return self._frame


class Terminal(asyncio.Protocol):
    """One connection: handshake, login, then the terminal's frames, each served by the
    online service in the order received."""

    __slots__ = (
        "_address",
        "_admitted",
        "_busy",
        "_parts",
        "_paused",
        "_queue",
        "_shared",
        "_timer",
        "_transport",
        "_ws",
        "peer",
        "session",
    )

    def __init__(self, shared: Shared) -> None:
        self._shared = shared
        self._admitted = False
        self._busy = False  # a task is serving this terminal's frames
        self._paused = False
        self._queue: list[str | bytes] | None = None  # frames waiting for that task
        self._parts: list[Any] | None = None  # a fragmented message: opcode, then data
        self._timer: asyncio.TimerHandle | None = None
        self._address: str | None = None  # the client's, for its login (then dropped)
        self.session: Session | None = None
        self.peer = ""

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if peer else ""
        shared = self._shared
        if not shared.gate.admit(self.peer):  # over a cap: closed before the handshake
            self._transport.abort()
            return
        self._admitted = True
        shared.conns.add(self)
        self._ws = ServerProtocol(max_size=MAX_FRAME, logger=_ws_log)
        self._later(HANDSHAKE_TIMEOUT_S, self._abort)

    def data_received(self, data: bytes) -> None:
        ws = self._ws
        ws.receive_data(data)
        for event in ws.events_received():
            if isinstance(event, Frame):
                op = event.opcode
                if op is _TEXT or op is _BINARY or op is _CONT:
                    self._data(event)
                # (pings are answered, closes echoed, by the protocol itself)
            elif isinstance(event, Request):
                self._handshake(event)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._admitted:
            return
        self._admitted = False
        shared = self._shared
        shared.gate.release(self.peer)
        shared.conns.discard(self)
        self._later(0, None)
        self._ws.receive_eof()  # (the state is CLOSED: pushes fail from now on)
        self._ws.data_to_send()
        self._queue = self._parts = None
        if not self._busy:  # else the task ends the session when its frame is served
            self._end()
        if not shared.conns and shared.closed is not None and not shared.closed.done():
            shared.closed.set_result(None)

    # Link: what the online service sees

    def push(self, text: str) -> bool:
        if self._ws.state is not _OPEN:
            return False
        transport = self._transport
        if transport.get_write_buffer_size() > SEND_BACKLOG:
            self._close(_POLICY, "too slow to read")
            return False
        transport.write(self._shared.frame(text))
        return True

    def close(self, code: int, reason: str) -> None:
        # Soon, not now: what the service pushes before it returns (the reply to a
        # logout) goes first, as with a close in the background.
        asyncio.get_running_loop().call_soon(self._close, code, reason)

    def _close(self, code: int, reason: str) -> None:
        ws = self._ws
        if ws.state is not _OPEN:
            return
        ws.send_close(code, reason)
        self._flush()
        if self._paused:  # (the client's close is still to be read)
            self._paused = False
            self._transport.resume_reading()
        self._later(CLOSE_TIMEOUT_S, self._abort)

    def shut(self) -> None:
        """The listener stops: a handshake under way is dropped, an open link closed."""
        state = self._ws.state
        if state is _CONNECTING:
            self._transport.abort()
        elif state is _OPEN:
            self._close(_GOING_AWAY, "")

    # the protocol's events

    def _handshake(self, request: Request) -> None:
        ws = self._ws
        response = ws.accept(request)
        if response.status_code == 101:
            proxies = self._shared.proxies
            self._address = self.peer
            if proxies:  # (a header given twice reads as one list, as RFC 9110 allows)
                forwarded = ",".join(request.headers.get_all("X-Forwarded-For"))
                self._address = proxies.client_address(self.peer, forwarded)
            self._later(LOGIN_TIMEOUT_S, self._login_timeout)
        ws.send_response(response)  # (anything else than 101 ends the connection)
        # The protocol's parser keeps the request (a local of its generator) for the
        # life of the connection: its headers, ~1.7 KiB, are not needed any more.
        request.headers.clear()

    def _data(self, frame: Frame) -> None:
        parts = self._parts
        if not frame.fin:  # a fragment: kept until the last (the total is bounded too)
            if parts is None:
                self._parts = [frame.opcode, frame.data]
            else:
                parts.append(frame.data)
            return
        if parts is None:
            op, data = frame.opcode, frame.data
        else:
            self._parts = None
            op, data = parts[0], b"".join([*parts[1:], frame.data])
        if op is _TEXT:
            try:
                message: str | bytes = bytes(data).decode()
            except UnicodeDecodeError:
                self._ws.fail(_INVALID_DATA, "invalid UTF-8")
                return
        else:
            message = bytes(data)
        self._received(message)

    def _received(self, message: str | bytes) -> None:
        if self._ws.state is not _OPEN:  # closing: nothing more is served
            return
        if self._busy:
            queue = self._queue
            if queue is None:
                self._queue = queue = []
            queue.append(message)
            if len(queue) >= MAX_QUEUE and not self._paused:
                self._paused = True
                self._transport.pause_reading()
            return
        if self.session is None:
            self._later(0, None)  # the login came in time
        self._busy = True
        self._shared.tasks.spawn(self._serve(message))

    async def _serve(self, message: str | bytes) -> None:
        service = self._shared.service
        try:
            while True:
                session = self.session
                if session is None:
                    address, self._address = self._address or "", None
                    reply, session = await service.login(self, message, address)
                    self.push(reply)
                    if session is None:
                        self._close(p.CLOSE_LOGIN_FAILED, "login failed")
                        return
                    self.session = session
                else:
                    self.push(await service.handle(session, message))
                    if session.ended:  # logged out or kicked: the link is closing
                        self.close(1000, "")  # (after the close the service asked for)
                        return
                queue = self._queue
                if not queue or self._ws.state is not _OPEN:
                    return
                message = queue.pop(0)
        except Exception:
            log.exception("terminal connection failed")
            self._close(_INTERNAL, "")
        finally:
            self._busy = False
            self._queue = None  # (empty, or the link is closing: the rest is not served)
            if not self._admitted:  # the connection went while the frame was served
                self._end()
            elif self._paused:
                self._paused = False
                self._transport.resume_reading()

    # closing

    def _flush(self) -> None:
        transport = self._transport
        for data in self._ws.data_to_send():
            if data:
                transport.write(data)
            else:  # the end of the stream: a server closes the TCP connection itself
                transport.close()
                self._later(CLOSE_TIMEOUT_S, self._abort)  # (if it never drains)

    def _login_timeout(self) -> None:
        self._timer = None
        if self.session is None and not self._busy:
            self._close(p.CLOSE_PROTOCOL, "login timeout")

    def _abort(self) -> None:
        self._timer = None
        self._transport.abort()

    def _later(self, delay: float, callback: Callable[[], None] | None) -> None:
        """One timer at a time (the handshake's, the login's, the close's); None: none."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if callback is not None:
            self._timer = asyncio.get_running_loop().call_later(delay, callback)

    def _end(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            self._shared.service.disconnected(session)
