"""The terminals' WebSocket listener (its own port): a lean protocol of the gateway's
own on the event loop (``hstgw.online.wire``), not ``websockets``' asyncio server.

Why its own server rather than a route of the HTTP server: a plain WebSocket
connection costs a fraction of the memory of the same socket behind an ASGI server,
and the online service is sized in tens of thousands of idle connections. Why not
``websockets``' asyncio server: ~8 KiB of its objects per connection, more than the
terminal's own state (docs/performance.md); ``websockets`` still does the handshake
and the framing (its Sans-I/O ``ServerProtocol``). The REST API tells terminals where
it is (``GET /v1/online/address``).

Each connection: connect (admitted through the ``ConnectionGate``), the handshake
within ``HANDSHAKE_TIMEOUT_S``, the first frame must be a login (within
``LOGIN_TIMEOUT_S``), then frames until it closes; the session ends when the
connection does. Sending never awaits: frames go straight to the transport, and a
terminal whose unsent backlog passes ``SEND_BACKLOG`` is closed as too slow.
"""

from __future__ import annotations

import asyncio
import logging

from hstgw.connections import ConnectionGate, TrustedProxies
from hstgw.online.service import OnlineService
from hstgw.online.wire import (
    CLOSE_TIMEOUT_S,
    HANDSHAKE_TIMEOUT_S,
    LOGIN_TIMEOUT_S,
    MAX_FRAME,
    SEND_BACKLOG,
    Shared,
    Terminal,
)

__all__ = [
    "HANDSHAKE_TIMEOUT_S",
    "LOGIN_TIMEOUT_S",
    "MAX_FRAME",
    "SEND_BACKLOG",
    "TerminalListener",
]

log = logging.getLogger("hstgw.online")


class TerminalListener:
    def __init__(
        self,
        service: OnlineService,
        host: str,
        port: int,
        gate: ConnectionGate | None = None,
        proxies: TrustedProxies | None = None,
    ) -> None:
        self._shared = Shared(
            service,
            gate or ConnectionGate(1_000_000, 1_000_000),
            proxies or TrustedProxies(),
        )
        self._service = service
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def connections(self) -> int:
        """Connections open (admitted, not yet closed)."""
        return len(self._shared.conns)

    async def start(self) -> None:
        shared = self._shared
        self._server = await asyncio.get_running_loop().create_server(
            lambda: Terminal(shared), self._host, self._port
        )

    async def stop(self) -> None:
        """Stop listening, kick the terminals, close every connection, and wait."""
        if self._server is None:
            return
        shared = self._shared
        self._service.shutdown()  # kicks the sessions: "kicked", then close 4001 ...
        await asyncio.sleep(0)  # ... which goes before the 1001 of the rest
        self._server.close()
        for conn in list(shared.conns):
            conn.shut()
        if shared.conns:  # each close ends within CLOSE_TIMEOUT_S (then an abort)
            shared.closed = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(shared.closed, CLOSE_TIMEOUT_S + 1)
            except TimeoutError:
                log.warning("terminal connections still open at stop: %d", len(shared.conns))
            shared.closed = None
        await self._server.wait_closed()
        await shared.tasks.wait()
        self._server = None
