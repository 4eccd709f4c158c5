"""The REST port's server: listen, run the app's lifespan, serve, stop gracefully.

``hstgw serve`` runs it on uvloop. SIGINT or SIGTERM stops it: it stops accepting,
closes idle connections, lets requests in flight finish (bounded by ``grace``), then
runs the lifespan shutdown, which closes the store. A second signal cuts the wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

from hstgw.connections import ConnectionGate
from hstgw.serving.connection import HttpConnection
from hstgw.serving.cycle import Cycle
from hstgw.serving.link import Deadlines, Link
from hstgw.tasks import cancel

__all__ = ["HttpServer", "Lifespan", "Serving", "Site"]

log = logging.getLogger("hstgw.http")

_SWEEP_S = 1.0
# Tasks that start eagerly (asyncio.Task's eager_start) came with Python 3.12.
_EAGER = sys.version_info >= (3, 12)
_EAGER_START: dict[str, Any] = {"eager_start": True}
_BACKLOG = 2048


class Site:
    """What the connections of one server share: the app, the gate, the deadlines, the
    live connections and their requests' tasks, the Date header."""

    __slots__ = (
        "_date",
        "_date_until",
        "_sweep",
        "app",
        "deadlines",
        "gate",
        "live",
        "loop",
        "max_body",
        "tasks",
    )

    def __init__(
        self,
        app: Any,
        loop: asyncio.AbstractEventLoop,
        gate: ConnectionGate,
        deadlines: Deadlines,
        max_body: int,
    ) -> None:
        self.app = app
        self.loop = loop
        self.gate = gate
        self.deadlines = deadlines
        self.max_body = max_body
        self.live: set[Link] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self._sweep: asyncio.TimerHandle | None = None
        self._date = b""
        self._date_until = 0.0

    def start(self, cycle: Cycle, *, eager: bool = True) -> None:
        """Run the request's app in a task of its own. ``eager`` (Python 3.12 and newer):
        the task runs at once, within this call, until it first waits; a request the
        caches answer is then served without a turn of the loop."""
        coro = cycle.run(self.app)
        if eager and _EAGER:
            task = asyncio.Task(coro, loop=self.loop, **_EAGER_START)
            if task.done():
                return
        else:
            task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def date_line(self) -> bytes:
        now = time.time()
        if now >= self._date_until:
            second = int(now)
            self._date = b"date: %s\r\n" % formatdate(second, usegmt=True).encode()
            self._date_until = second + 1
        return self._date

    def add(self, conn: Link) -> None:
        self.live.add(conn)
        if self._sweep is None:
            self._sweep = self.loop.call_later(_SWEEP_S, self._sweep_overdue)

    def discard(self, conn: Link) -> None:
        self.live.discard(conn)

    def _sweep_overdue(self) -> None:
        now = self.loop.time()
        for conn in [c for c in self.live if c.overdue(now)]:
            conn.expire()
        # Re-armed only while there is something to watch.
        self._sweep = self.loop.call_later(_SWEEP_S, self._sweep_overdue) if self.live else None

    def close(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None


class Lifespan:
    """The app's ASGI lifespan: start-up before the port opens, shutdown after it closes."""

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._app = app
        self._inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        self._started: asyncio.Future[bool] = loop.create_future()
        self._stopped: asyncio.Future[None] = loop.create_future()
        self._task: asyncio.Task[None] | None = None

    async def startup(self) -> bool:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        self._task = asyncio.ensure_future(self._app(scope, self._inbox.get, self._send))
        self._inbox.put_nowait({"type": "lifespan.startup"})
        await asyncio.wait({self._started, self._task}, return_when=asyncio.FIRST_COMPLETED)
        return self._started.done() and self._started.result()

    async def shutdown(self) -> None:
        if self._task is None or self._task.done():
            return
        self._inbox.put_nowait({"type": "lifespan.shutdown"})
        await asyncio.wait({self._stopped, self._task}, return_when=asyncio.FIRST_COMPLETED)

    async def _send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind in ("lifespan.startup.complete", "lifespan.startup.failed"):
            if not self._started.done():
                self._started.set_result(kind == "lifespan.startup.complete")
        elif kind.startswith("lifespan.shutdown.") and not self._stopped.done():
            self._stopped.set_result(None)


class Serving:
    """What both REST servers share (this one and ``serving.granian``): ``serve`` in a
    loop, ``run`` as a process with its signals, ``stop`` from any thread; ``started``
    once listening with the app started, ``failed`` if it ended without being asked."""

    def __init__(
        self,
        app: Any,
        host: str,
        port: int,
        grace: float,
        on_started: Callable[[], object] | None,
    ) -> None:
        """``grace``: seconds requests in progress have to end at a stop;
        ``on_started``: called once the app's start-up is done, before the port opens."""
        self.app = app
        self.host = host
        self.port = port
        self.grace = grace
        self.on_started = on_started
        self.started = False
        self.failed = False
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stops = 0

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
        signals = threading.current_thread() is threading.main_thread()
        if self._stops:  # asked to stop before it ran
            self._stop.set()
        replaced: dict[int, Any] = {}  # signal -> the handler it had (Windows' loop)
        if signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(sig, self.stop)
                except NotImplementedError:  # (Windows' loop)
                    replaced[sig] = signal.signal(sig, lambda *_: self.stop())
        try:
            await self._serve(loop, self._stop)
        finally:
            if signals:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    if sig in replaced:
                        signal.signal(sig, replaced[sig])
                    else:
                        with contextlib.suppress(NotImplementedError):
                            loop.remove_signal_handler(sig)

    async def _serve(self, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
        raise NotImplementedError

    async def _start_app(self, loop: asyncio.AbstractEventLoop) -> Lifespan | None:
        """The app's start-up, then ``on_started``: its lifespan, or None (logged)."""
        lifespan = Lifespan(self.app, loop)
        if not await lifespan.startup():
            log.error("the application did not start")
            return None
        if self.on_started is not None:
            try:
                self.on_started()
            except Exception:
                log.exception("the server's start-up hook failed")
                await lifespan.shutdown()
                return None
        return lifespan


class HttpServer(Serving):
    """An HTTP/1.1 server of one ASGI app (``serve`` in a loop, ``run`` as a process;
    a second ``stop`` cuts the grace)."""

    def __init__(
        self,
        app: Any,
        *,
        host: str,
        port: int,
        gate: ConnectionGate,
        deadlines: Deadlines,
        max_body: int,
        grace: float = 10.0,
        on_started: Callable[[], object] | None = None,
    ) -> None:
        super().__init__(app, host, port, grace, on_started)
        self.gate = gate
        self.deadlines = deadlines
        self.max_body = max_body

    async def _serve(self, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
        lifespan = await self._start_app(loop)
        if lifespan is None:
            return
        site = Site(self.app, loop, self.gate, self.deadlines, self.max_body)
        try:
            listener = await loop.create_server(
                lambda: HttpConnection(site), self.host, self.port, backlog=_BACKLOG
            )
        except OSError as exc:
            log.error("cannot listen on %s:%d: %s", self.host, self.port, exc)
            await lifespan.shutdown()
            return
        self.started = True
        log.info("running on http://%s:%d", self.host, self.port)
        try:
            await stop.wait()
        finally:
            listener.close()
            await self._drain(site)
            site.close()
            await lifespan.shutdown()

    async def _drain(self, site: Site) -> None:
        """Close idle connections, let requests in flight end (within the grace)."""
        for conn in list(site.live):
            conn.shutdown()
        deadline = time.monotonic() + self.grace
        while site.tasks and self._stops < 2 and time.monotonic() < deadline:
            await asyncio.wait(set(site.tasks), timeout=0.1)
        await cancel(*site.tasks)
        for conn in list(site.live):
            conn.abort()
