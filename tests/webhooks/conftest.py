"""Fixtures for webhooks: a store on each engine and rows to put in it; receivers (real
HTTP servers on free ports of 127.0.0.1) and gateways that may call them
(HSTGW_WEBHOOK_ALLOW_PRIVATE, short retries)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hstgw.events.model import Entry, Event, EventId
from hstgw.settings import Settings
from hstgw.store import DeliveryRow, Developer, Store, WebhookRow, open_store
from tests.conftest import ENGINES, Dev, Gateway, engine_settings, free_port, start_gateway

DEV = "d" * 32
HOOK = "h" * 32


def hook(webhook_id: str = HOOK, dev_id: str = DEV, app_id: str | None = "a" * 32) -> WebhookRow:
    return WebhookRow(
        webhook_id, dev_id, "http://example.com/", app_id, (20100, 20101), "whsec_secret",
        None, 0, "active", 1,
    )  # fmt: skip


def delivery(version: int, delivery_id: str = "x") -> DeliveryRow:
    return DeliveryRow(
        f"{delivery_id}{version}",
        HOOK,
        "a" * 32,
        version,
        20100,
        "pending",
        0,
        None,
        None,
        "",
        5,
        5,
    )


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    s = open_store(settings, serving=True)
    await s.open()
    for dev in (DEV, "e" * 32):
        await s.create_developer(Developer(dev, "", "0123456789abcdef", "active", 1))
    yield s
    await s.close()


# Retries after 50 ms, 100 ms, ...; the sweep often: tests wait on conditions, briefly.
HOOK_SETTINGS: dict[str, Any] = {
    "webhook_allow_private": True,
    "webhook_retry_first": 0.05,
    "webhook_sweep_interval": 0.2,
    "webhook_timeout": 2.0,
}


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]

    @property
    def json(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


@dataclass
class Receiver:
    """A webhook receiver: answers ``status`` (after failing ``fail_next`` requests with
    500), and keeps every request it answered 2xx in ``received`` (``attempts``: all)."""

    port: int
    status: int = 200
    fail_next: int = 0
    received: list[Received] = field(default_factory=list)
    attempts: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def versions(self) -> list[int]:
        with self.lock:
            return [r.json["version"] for r in self.received]

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                got = Received(self.rfile.read(length), dict(self.headers.items()))
                with receiver.lock:
                    receiver.attempts.append(got)
                    if receiver.fail_next > 0:
                        receiver.fail_next -= 1
                        status = 500
                    else:
                        status = receiver.status
                    if 200 <= status < 300:
                        receiver.received.append(got)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(free_port())
    r.start()
    yield r
    r.stop()


@pytest.fixture(params=ENGINES)
def hooks_gateway(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Gateway]:
    """A gateway of the test's own that may call 127.0.0.1, on each engine."""
    for db in engine_settings(request.param):
        yield from start_gateway(tmp_path / "data", **db, **HOOK_SETTINGS)


@pytest.fixture(scope="module")
def shared_hooks_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """One such gateway for a module (SQLite); tests use their own developers."""
    yield from start_gateway(
        tmp_path_factory.mktemp("hooks"), auth_cache_ttl=0, **{**HOOK_SETTINGS}
    )


def new_app(gw: Gateway, token: str, name: str = "hooked") -> str:
    body = gw.call(
        "POST",
        "/v1/app",
        token,
        json={"app_name": name, "status": "online", "service": [{"service_id": 7}]},
    )
    assert body["code"] == 0, body
    app_id: str = body["result"]["app_id"]
    return app_id


def dev_token(gw: Gateway) -> tuple[Dev, str]:
    dev = gw.new_dev()
    return dev, gw.access_token(dev)


def produce(
    gw: Gateway, app_id: str, count: int, event_id: EventId = EventId.TERMINAL_ONLINE
) -> list[int]:
    """Append ``count`` events of ``app_id`` to the running gateway's log (as its online
    service would); their versions."""
    gateway = gw.app.state["gateway"]
    main = gateway.webhook_workers._main  # a task of the server's loop
    assert main is not None
    entries = [
        Entry(
            event_id,
            {"user_id": f"u{i}", "mutex_type": "web", "client_guid": f"c{i}", "company_id": ""},
        )
        for i in range(count)
    ]
    future = asyncio.run_coroutine_threadsafe(
        gateway.events.append(app_id, entries), main.get_loop()
    )
    events = future.result(10)
    versions = [e.version for e in events if isinstance(e, Event)]
    assert len(versions) == count, events
    return versions


def deliveries(gw: Gateway, token: str, webhook_id: str) -> list[dict[str, Any]]:
    got = gw.call(
        "GET", "/v1/webhooks/deliveries", token, params={"webhook_id": webhook_id, "page_size": 100}
    )
    assert got["code"] == 0, got
    rows: list[dict[str, Any]] = got["result"]["deliveries"]
    return rows


def all_delivered(gw: Gateway, token: str, webhook_id: str, count: int) -> bool:
    """Whether the log holds ``count`` deliveries, each delivered (rows are written
    behind the deliveries: a receiver may have an event before its row exists)."""
    rows = deliveries(gw, token, webhook_id)
    return len(rows) == count and all(d["status"] == "delivered" for d in rows)


def hook_status(gw: Gateway, token: str, webhook_id: str) -> str:
    for page in range(1, 100):
        got = gw.call("GET", "/v1/webhooks", token, params={"page": page, "page_size": 100})
        for hook in got["result"]["webhooks"]:
            if hook["webhook_id"] == webhook_id:
                status: str = hook["status"]
                return status
        if not got["result"]["webhooks"]:
            break
    raise AssertionError("no such webhook")
