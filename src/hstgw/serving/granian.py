"""The REST port on granian's embedded server (``HSTGW_HTTP_SERVER=granian``).

Why offer it: granian parses HTTP and moves the bytes in Rust threads that do not hold
the GIL, so on two cores the event loop's thread runs the gateway alone; a served
``GET /v1/app`` ran at ~1.5 times the rate of ``hstgw.serving`` (docs/performance.md).
Why it is not the default: it holds no per-address connection cap, a total that makes
new connections wait rather than refusing them, no deadline for a body that trickles in
or a client that stops reading its replies, and laxer framing (docs/architecture.md,
"The HTTP server"). So it serves behind a proxy that holds all that, and the settings
refuse it without ``trusted_proxies``.

The same surface as ``HttpServer``: ``serve`` in a loop, ``run`` as a process, ``stop``
from any thread, ``started``; the app's lifespan runs here, as there, so that a start-up
that fails is told before the port opens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from hstgw.serving.server import Lifespan

__all__ = ["MISSING", "GranianServer"]

log = logging.getLogger("hstgw.http")

MISSING = (
    "HSTGW_HTTP_SERVER=granian needs granian: pip install 'hst-gateway[granian]' "
    "(from a checkout: scripts/bootstrap server,granian)"
)
_BACKLOG = 2048
_HEAD_BYTES = 64 * 1024  # its read buffer (hstgw.serving's bound on a head; granian's own
# bound on a head is looser: ~64-112 KiB, docs/deployment.md)


class GranianServer:
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
        self.app = app
        self.host = host
        self.port = port
        self.header_timeout = header_timeout
        self.max_connections = max_connections
        self.grace = grace
        self.on_started = on_started
        self.started = False  # listening, the app started
        self.failed = False  # granian ended without being asked to
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stops = 0
        self._granian: Any = None  # granian's embedded server, while it serves

    def stop(self) -> None:
        """Ask the server to stop; from any thread."""
        self._stops += 1
        loop, event = self._loop, self._stop
        if loop is not None and event is not None and not loop.is_closed():
            loop.call_soon_threadsafe(event.set)

    def run(self) -> None:
        """Serve in this thread until SIGINT or SIGTERM, on uvloop where installed."""
        try:
            import uvloop

            factory: Any = uvloop.new_event_loop
        except ImportError:  # (uvloop is not built for every platform)
            factory = None
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(self.serve())

    async def serve(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self._stops:  # asked to stop before it ran
            self._stop.set()
        signals = threading.current_thread() is threading.main_thread()
        if signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError):
                    loop.add_signal_handler(sig, self.stop)
        try:
            await self._serve(loop, self._stop)
        finally:
            if signals:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    with contextlib.suppress(NotImplementedError):
                        loop.remove_signal_handler(sig)

    async def _serve(self, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
        try:
            from granian.constants import HTTPModes, Interfaces
            from granian.http import HTTP1Settings
            from granian.server.embed import Server
        except ImportError:
            log.error(MISSING)
            return
        lifespan = Lifespan(self.app, loop)
        if not await lifespan.startup():
            log.error("the application did not start")
            return
        if self.on_started is not None:
            try:
                self.on_started()
            except Exception:
                log.exception("the server's start-up hook failed")
                await lifespan.shutdown()
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
