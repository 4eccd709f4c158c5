"""The terminals' WebSocket listener (the ``websockets`` library, its own port).

Why its own server rather than a route of the HTTP server: a plain ``websockets``
connection costs about half the memory of the same socket behind an ASGI server
(measured: ~18 KiB against ~36 KiB), and the online service is sized in tens of
thousands of idle connections. The REST API tells terminals where it is
(``GET /v1/online/address``).

Each connection: connect, the first frame must be a login (within
``LOGIN_TIMEOUT_S``), then frames until it closes; presence is cleaned up in
``finally``. Sending never awaits: frames go straight to the transport, and a
terminal whose unsent backlog passes ``SEND_BACKLOG`` is closed as too slow.
"""

from __future__ import annotations

import asyncio
import logging

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request
from websockets.protocol import State

from hstgw.connections import (
    ConnectionGate,
    TrustedProxies,
    client_address,
    gated_connection,
)
from hstgw.online import protocol as p
from hstgw.online.service import OnlineService
from hstgw.tasks import Background

__all__ = ["TerminalListener"]

log = logging.getLogger("hstgw.online")

LOGIN_TIMEOUT_S = 10.0
SEND_BACKLOG = 256 * 1024
# Frames above this are refused by the WebSocket layer (close 1009); bodies are
# limited to 8 KiB by the protocol, with an error reply, below it.
MAX_FRAME = 64 * 1024
_HANDSHAKE_DONE = Request("/", Headers())


class WsLink:
    __slots__ = ("_closing", "conn")

    def __init__(self, conn: ServerConnection, closing: Background) -> None:
        self.conn = conn
        self._closing = closing

    def push(self, text: str) -> bool:
        conn = self.conn
        if conn.protocol.state is not State.OPEN or conn.send_in_progress is not None:
            return False
        if conn.transport.get_write_buffer_size() > SEND_BACKLOG:
            self.close(1008, "too slow to read")
            return False
        try:
            conn.protocol.send_text(text.encode())
            conn.send_data()
        except Exception:  # a transport that broke under us
            return False
        return True

    def close(self, code: int, reason: str) -> None:
        self._closing.spawn(self.conn.close(code, reason))


class TerminalListener:
    def __init__(
        self,
        service: OnlineService,
        host: str,
        port: int,
        gate: ConnectionGate | None = None,
        proxies: TrustedProxies | None = None,
    ) -> None:
        self._connection = gated_connection("TerminalConnection", gate)
        self._proxies = proxies or TrustedProxies()
        self._service = service
        self._host = host
        self._port = port
        self._server: Server | None = None
        self._closing = Background()

    @property
    def port(self) -> int:
        assert self._server is not None
        sockets = list(self._server.sockets)
        return int(sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            self._host,
            self._port,
            compression=None,  # per-message deflate costs tens of KiB per connection
            ping_interval=None,  # the protocol's own heartbeats detect dead terminals
            max_size=MAX_FRAME,
            max_queue=4,
            server_header=None,
            create_connection=self._connection,
            logger=logging.getLogger("hstgw.online.ws"),
        )

    async def stop(self) -> None:
        if self._server is None:
            return
        self._service.shutdown()
        self._server.close(close_connections=True)
        await self._server.wait_closed()
        await self._closing.wait()
        self._server = None

    def _address(self, conn: ServerConnection) -> str:
        return client_address(conn, self._proxies)

    async def _handle(self, conn: ServerConnection) -> None:
        link = WsLink(conn, self._closing)
        session = None
        address = self._address(conn)
        # Nothing reads the handshake again once the address is taken: its request and
        # response (headers and all) are not kept by every idle terminal. (``request``
        # stays set, to one shared stand-in: None would make websockets read the next
        # frame as a handshake.)
        conn.request = _HANDSHAKE_DONE
        conn.response = None
        try:
            try:
                first = await asyncio.wait_for(conn.recv(), LOGIN_TIMEOUT_S)
            except TimeoutError:
                await conn.close(p.CLOSE_PROTOCOL, "login timeout")
                return
            reply, session = await self._service.login(link, first, address)
            link.push(reply)
            if session is None:
                await conn.close(p.CLOSE_LOGIN_FAILED, "login failed")
                return
            service = self._service
            async for raw in conn:
                link.push(await service.handle(session, raw))
                if session.ended:  # logged out or kicked: the link is closing
                    break
        except ConnectionClosed:
            pass
        finally:
            if session is not None:
                self._service.disconnected(session)
