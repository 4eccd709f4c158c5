"""Fixtures: real gateway servers on free ports, developers, and API helpers."""

from __future__ import annotations

import asyncio
import functools
import io
import os
import secrets
import socket
import sys
import threading
import time
import traceback
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvloop

from hstgw.api import create_app
from hstgw.developers import Developers
from hstgw.ids import now_ms
from hstgw.server import http_server
from hstgw.settings import Settings
from hstgw.store import open_store
from hstgw.tokens.fsp import build
from tests.waiting import eventually_sync

T = TypeVar("T")

# Every gateway a test starts (in process or as `hstgw serve`) takes a free port for its
# event gateway unless the test names one: none may sit on the shared default 29200.
os.environ.setdefault("HSTGW_EVENT_PORT", "0")

POSTGRES_URL = os.environ.get(
    "HSTGW_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
# CI sets this: there a PostgreSQL that cannot be reached fails the run instead of
# skipping its half of the parametrized suites.
REQUIRE_POSTGRES = os.environ.get("HSTGW_REQUIRE_POSTGRES") == "1"
ENGINES = ["sqlite", "postgres"]


@functools.cache
def postgres_reachable() -> bool:
    async def probe() -> bool:
        import asyncpg

        try:
            conn = await asyncpg.connect(POSTGRES_URL, timeout=3)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        await conn.close()
        return True

    with ThreadPoolExecutor(1) as pool:  # callers may be inside a running loop
        return pool.submit(asyncio.run, probe()).result()


def engine_settings(engine: str) -> Iterator[dict[str, Any]]:
    """Settings for a store on ``engine``, in a schema of its own (dropped afterwards)."""
    if engine == "sqlite":
        yield {}
        return
    if not postgres_reachable():
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is required and cannot be reached")
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} cannot be reached")
    schema = f"t_{secrets.token_hex(6)}"
    yield {"database_url": POSTGRES_URL, "database_schema": schema}

    async def drop() -> None:
        import asyncpg

        conn = await asyncpg.connect(POSTGRES_URL)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as pool:  # callers may be inside a running loop
        pool.submit(asyncio.run, drop()).result()


@pytest.fixture(params=ENGINES)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings of a store on each engine (a PostgreSQL schema of the test's own)."""
    for db in engine_settings(request.param):
        yield Settings(_env_file=None, data_dir=tmp_path, **db)


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, never the same one twice in a run.

    The kernel may hand a just-closed ephemeral port out again at once, so two
    calls in a row (the REST and the terminal port) could otherwise collide.
    """
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


class Clock:
    """The server's clocks, which a test may move forward: wall time in ms (called),
    and monotonic seconds (``ticks``: rate buckets, heartbeat deadlines), which a test
    may also stop (``freeze_ticks``) so that no bucket refills behind its back."""

    def __init__(self) -> None:
        self.offset_ms = 0
        self._frozen_at: float | None = None

    def __call__(self) -> int:
        return now_ms() + self.offset_ms

    def ticks(self) -> float:
        base = time.monotonic() if self._frozen_at is None else self._frozen_at
        return base + self.offset_ms / 1000

    def freeze_ticks(self) -> None:
        self._frozen_at = time.monotonic()

    def advance(self, seconds: float) -> None:
        self.offset_ms += int(seconds * 1000)


@dataclass
class Dev:
    dev_id: str
    dev_secret: str


@dataclass
class Gateway:
    """A running gateway and what a test needs to talk to it."""

    url: str
    data_dir: Path
    clock: Clock
    settings: Settings
    # One client for all calls: building an httpx client costs ~40 ms (TLS context).
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))
    # The served ASGI app (its state holds the gateway and the connection gates).
    app: Any = None
    # The server's event loop, where its services run (``on_loop``).
    loop: asyncio.AbstractEventLoop | None = None

    def on_loop(self, aw: Coroutine[Any, Any, T]) -> T:
        """Run ``aw`` (a call of the served gateway's services) on the server's loop."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(aw, self.loop).result(30)

    def new_dev(self, name: str = "") -> Dev:
        async def create() -> Any:
            store = open_store(self.settings)
            await store.open()
            try:
                return await Developers(store).create(name)
            finally:
                await store.close()

        # In a thread of its own, so that async tests (with a running loop) may call it too.
        with ThreadPoolExecutor(1) as pool:
            dev = pool.submit(asyncio.run, create()).result()
        return Dev(dev.dev_id, dev.secret)

    def cli_env(self) -> dict[str, str]:
        """The environment for `hstgw dev|node ...` on this gateway's store."""
        return {
            "HSTGW_DATA_DIR": str(self.data_dir),
            "HSTGW_DATABASE_URL": self.settings.database_url,
            "HSTGW_DATABASE_SCHEMA": self.settings.database_schema,
            "HSTGW_REDIS_URL": self.settings.redis_url,
            "HSTGW_SECRET_KEY": self.settings.secret_key.get_secret_value(),
        }

    def new_node(self, name: str = "") -> str:
        """A usage-reporting node's key, made as `hstgw node create` makes it."""
        from hstgw.billing.service import Nodes

        async def create() -> str:
            store = open_store(self.settings)
            await store.open()
            try:
                return (await Nodes(store, now_ms).create(name))[1]
            finally:
                await store.close()

        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, create()).result()

    def dev_authorization(self, dev: Dev) -> str:
        # built at the server's time, as a client with a synchronised clock would
        return f"{dev.dev_id}.{build(dev.dev_id, dev.dev_secret, now_ms=self.clock())}"

    def access_token(self, dev: Dev) -> str:
        r = self.http.get(
            f"{self.url}/access/token", headers={"Authorization": self.dev_authorization(dev)}
        )
        body = r.json()
        assert body["code"] == 0, body
        token: str = body["result"]["access_token"]
        return token

    def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The envelope of one call; asserts the protocol's HTTP 200 and JSON type."""
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = token
        r = self.http.request(
            method, f"{self.url}{path}", json=json, content=content, params=params, headers=hdrs
        )
        assert r.status_code == 200, (r.status_code, r.text)
        assert r.headers["content-type"] == "application/json;charset=UTF-8"
        assert r.headers["x-request-id"]
        body: dict[str, Any] = r.json()
        return body


class ServerStoppedAtStart(RuntimeError):
    """The test server's thread ended before it listened (see its log)."""


class ServerThread:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        # The server `hstgw serve` runs (its protocol, gates and deadlines), in a thread.
        self.app = create_app(settings, clock=clock, ticks=clock.ticks)
        self.server = http_server(settings, self.app)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None

    def _run(self) -> None:
        async def serve() -> None:
            self.loop = asyncio.get_running_loop()  # (to tell what a stuck stop waits on)
            await self.server.serve()

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve())

    def __enter__(self) -> ServerThread:
        self.thread.start()

        def started() -> bool:
            if not self.thread.is_alive():
                raise ServerStoppedAtStart("test server stopped at start")
            return bool(self.server.started)

        if not eventually_sync(started, 10):
            raise RuntimeError("test server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
        self.thread.join(15)
        if self.thread.is_alive():
            # (left running, it would go on past its store: its PostgreSQL schema dropped)
            raise RuntimeError(f"test server did not stop within 15 s:\n{self._stuck()}")

    def _stuck(self) -> str:
        out = io.StringIO()
        frame = sys._current_frames().get(self.thread.ident or 0)
        if frame is not None:
            out.write("thread:\n" + "".join(traceback.format_stack(frame)))
        if self.loop is not None:
            for task in list(asyncio.all_tasks(self.loop)):
                task.print_stack(file=out)
        return out.getvalue()


REST_SERVERS = ["hstgw", "granian"]


def on_rest_server(server: str) -> dict[str, Any]:
    """Settings that put the REST port on ``server``: granian's behind a proxy
    (127.0.0.1); skipped where granian is not installed."""
    if server == "granian":
        pytest.importorskip("granian")
        return {"http_server": "granian", "trusted_proxies": ["127.0.0.1"]}
    return {}


def start_gateway(tmp: Path, **settings: Any) -> Iterator[Gateway]:
    clock = Clock()
    # Every test calls from 127.0.0.1, many failing on purpose: the per-address limit
    # is off unless a test sets it (tests/api/test_abuse.py).
    settings = {
        "limit_auth_failures_per_address": 0,
        "limit_login_failures_per_address": 0,
        "access_log": False,
        **settings,
    }
    for attempt in range(3):
        port = free_port()
        config = Settings(port=port, terminal_port=free_port(), data_dir=tmp, **settings)
        server = ServerThread(config, clock)
        try:
            server.__enter__()
            break
        except ServerStoppedAtStart:
            # (a free port can be taken before the server binds it, by another process's
            # connection: it logged "cannot listen"; two more tries, on other ports)
            if attempt == 2:
                raise
    try:
        gateway = Gateway(
            f"http://127.0.0.1:{port}", tmp, clock, config, app=server.app, loop=server.loop
        )
        with gateway.http:
            yield gateway
    finally:
        server.__exit__(None, None, None)


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """One gateway for the session; tests isolate themselves with their own developers."""
    yield from start_gateway(tmp_path_factory.mktemp("gw"), auth_cache_ttl=0)


@pytest.fixture
def fresh_gateway(tmp_path: Path) -> Iterator[Gateway]:
    """A gateway of the test's own (its clock may be moved), default settings."""
    yield from start_gateway(tmp_path / "data")


@pytest.fixture
def dev(gateway: Gateway) -> Dev:
    return gateway.new_dev()


@pytest.fixture
def token(gateway: Gateway, dev: Dev) -> str:
    return gateway.access_token(dev)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
