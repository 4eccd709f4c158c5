"""The REST port on granian's embedded server (``HSTGW_HTTP_SERVER=granian``).

Why offer it: granian parses HTTP and moves the bytes in Rust threads that do not hold
the GIL, so on two cores the event loop's thread runs the gateway alone; a served
``GET /v1/app`` ran at ~1.5 times the rate of ``hstgw.serving`` (docs/performance.md).
Why it is not the default: it holds no per-address connection cap, a total that makes
new connections wait rather than refusing them, no deadline for a body that trickles in
or a client that stops reading its replies, and laxer framing (docs/architecture.md,
"The HTTP server"). So it serves behind a proxy that holds all that, and the settings
refuse it without ``trusted_proxies``.

The same surface as ``HttpServer`` (``serving.server.Serving``: ``serve`` in a loop,
``run`` as a process, ``stop`` from any thread, ``started``, ``failed``); the app's
lifespan runs here, as there, so that a start-up that fails is told before the port
opens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from hstgw.serving.server import Serving

__all__ = ["MISSING", "GranianServer"]

log = logging.getLogger("hstgw.http")

MISSING = (
    "HSTGW_HTTP_SERVER=granian needs granian: pip install 'hst-gateway[granian]' "
    "(from a checkout: scripts/bootstrap server,granian)"
)
_BACKLOG = 2048
_HEAD_BYTES = 64 * 1024  # its read buffer (hstgw.serving's bound on a head; granian's own
# bound on a head is looser: ~64-112 KiB, docs/deployment.md)


class GranianServer(Serving):
    """granian's embedded HTTP/1.1 server of one ASGI app."""

    def __init__(
        self,
        app: Any,
        *,
        host: str,
        port: int,
        header_timeout: float,
        max_connections: int,
        grace: float = 10.0,
        on_started: Callable[[], object] | None = None,
    ) -> None:
        """``header_timeout``: a request's head, and an idle connection's next one, within
        this many seconds; ``max_connections``: connections served at once (granian's
        backpressure: past it, new ones wait unaccepted in the backlog, not refused)."""
        super().__init__(app, host, port, grace, on_started)
        self.header_timeout = header_timeout
        self.max_connections = max_connections
        self._granian: Any = None  # granian's embedded server, while it serves

    async def _serve(self, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
        try:
            from granian.constants import HTTPModes, Interfaces
            from granian.http import HTTP1Settings
            from granian.server.embed import Server
        except ImportError:
            log.error(MISSING)
            return
        lifespan = await self._start_app(loop)
        if lifespan is None:
            return
        server = Server(
            self.app,
            self.host,
            self.port,
            interface=Interfaces.ASGINL,  # (the lifespan is run above, as hstgw.serving runs it)
            http=HTTPModes.http1,
            websockets=False,
            backlog=_BACKLOG,
            backpressure=self.max_connections,
            http1_settings=HTTP1Settings(
                header_read_timeout=int(self.header_timeout * 1000),
                keep_alive=True,
                max_buffer_size=_HEAD_BYTES,
            ),
            log_enabled=False,
        )
        # granian gives its logger a handler of its own on stdout: its errors go to the
        # gateway's handlers instead, its start-up lines (and the "experimental" it
        # calls its embedded mode: the extra pins 2.8) not at all.
        own = logging.getLogger("_granian")
        own.handlers.clear()
        own.propagate = True
        own.setLevel(logging.ERROR)
        self._granian = server
        task = asyncio.ensure_future(server.serve())
        try:
            # Its first step binds the port (or fails) and starts its worker, then waits
            # to be stopped: one turn of the loop tells which.
            await asyncio.sleep(0)
            if task.done() or not server.wrks:
                exc = task.exception() if task.done() and not task.cancelled() else None
                log.error("cannot listen on %s:%d: %s", self.host, self.port, _first_line(exc))
                return
            self.started = True
            log.info("running on http://%s:%d (granian)", self.host, self.port)
            stopped = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopped.cancel()
            if task.done() and not stop.is_set():
                # (its worker died: a process manager restarts a server that fails)
                self.failed = True
                exc = None if task.cancelled() else task.exception()
                log.error("granian stopped on its own: %s", _first_line(exc) or "its worker ended")
        finally:
            if not task.done():
                server.stop()  # type: ignore[no-untyped-call]
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, self.grace)
            await lifespan.shutdown()


def _first_line(exc: BaseException | None) -> str:
    # (granian's errors carry a Rust backtrace when RUST_BACKTRACE is set)
    return str(exc).strip().split("\n", 1)[0] if exc is not None else ""
