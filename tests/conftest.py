"""Fixtures: real gateway servers on free ports, developers, and API helpers."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from hstgw.api import create_app
from hstgw.developers import Developers
from hstgw.ids import now_ms
from hstgw.settings import Settings
from hstgw.store import SqliteStore
from hstgw.tokens.fsp import build


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Clock:
    """The server's clock, which a test may move forward."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def __call__(self) -> int:
        return now_ms() + self.offset_ms

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
    # One client for all calls: building an httpx client costs ~40 ms (TLS context).
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    def new_dev(self, name: str = "") -> Dev:
        async def create() -> Any:
            store = SqliteStore(self.data_dir / "hstgw.sqlite3")
            await store.open()
            try:
                return await Developers(store).create(name)
            finally:
                await store.close()

        # In a thread of its own, so that async tests (with a running loop) may call it too.
        with ThreadPoolExecutor(1) as pool:
            dev = pool.submit(asyncio.run, create()).result()
        return Dev(dev.dev_id, dev.secret)

    def new_node(self, name: str = "") -> str:
        """A usage-reporting node's key, made as `hstgw node create` makes it."""
        from hstgw.billing.service import Nodes

        async def create() -> str:
            store = SqliteStore(self.data_dir / "hstgw.sqlite3")
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


class ServerThread:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.app = create_app(settings, clock=clock)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=settings.port,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def start_gateway(tmp: Path, **settings: Any) -> Iterator[Gateway]:
    port = free_port()
    clock = Clock()
    config = Settings(
        port=port, terminal_port=free_port(), data_dir=tmp, access_log=False, **settings
    )
    with ServerThread(config, clock):
        gateway = Gateway(f"http://127.0.0.1:{port}", tmp, clock)
        with gateway.http:
            yield gateway


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
