"""Fixtures for the console: a gateway, and a browser-like HTTP client signed in."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx
import pytest

from hstgw.developers import Developers
from hstgw.sdk import TerminalClient
from hstgw.store import open_store
from tests.conftest import REST_SERVERS, Dev, Gateway, on_rest_server, start_gateway

_CSRF = re.compile(r'name="csrf" value="([^"]*)"')


class Browser:
    """Cookies kept, redirects not followed (a test looks at each)."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.http = httpx.Client(base_url=gw.url, follow_redirects=False, timeout=30)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, **kw)

    def csrf(self, path: str) -> str:
        r = self.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text[:500])
        found = _CSRF.search(r.text)
        assert found is not None, path
        return found.group(1)

    def post(self, path: str, data: dict[str, str], csrf_from: str | None = None) -> httpx.Response:
        """POST ``data`` with the CSRF token of the page ``csrf_from`` (unless given)."""
        if "csrf" not in data:
            data = {**data, "csrf": self.csrf(csrf_from or "/console/overview")}
        return self.http.post(path, data=data)

    def sign_in(self, dev: Dev, secret: str | None = None) -> httpx.Response:
        data = {"dev_id": dev.dev_id, "dev_secret": secret or dev.dev_secret}
        return self.post("/console/signin", data, csrf_from="/console/signin")

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture(scope="module", params=REST_SERVERS)
def console_gw(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """The console on each REST server in turn."""
    server: str = request.param
    yield from start_gateway(
        tmp_path_factory.mktemp(f"console-{server}"), auth_cache_ttl=0, **on_rest_server(server)
    )


@pytest.fixture
def browser_for(console_gw: Gateway) -> Iterator[Callable[[Dev], Browser]]:
    made: list[Browser] = []

    def make(dev: Dev) -> Browser:
        b = Browser(console_gw)
        made.append(b)
        r = b.sign_in(dev)
        assert r.status_code == 303 and r.headers["location"] == "/console/overview", r.text
        return b

    yield make
    for b in made:
        b.close()


def operator(gw: Gateway, action: Callable[[Developers], Any]) -> Any:
    """Do what ``hstgw dev ...`` does, on the gateway's store, from outside it."""

    async def run() -> Any:
        store = open_store(gw.settings)
        await store.open()
        try:
            return await action(Developers(store))
        finally:
            await store.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def this_month_ms(gw: Gateway, ago_ms: int) -> int:
    """``ago_ms`` before now, but not before this month began in the gateway's zone: the
    console's pages show this month by default (a test run in a month's first minutes
    would find its records in the month before)."""
    now = gw.clock()
    month = datetime.fromtimestamp(now / 1000, gw.settings.zone).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    return max(now - ago_ms, int(month.timestamp() * 1000))


def post_usage(gw: Gateway, events: list[dict[str, Any]]) -> None:
    """Usage events from a new node, every one accepted."""
    reply = gw.call(
        "POST",
        "/internal/v1/usage",
        json={"events": events},
        headers={"Authorization": f"Bearer {gw.new_node()}"},
    )
    assert reply.get("result", {}).get("accepted") == len(events), reply


def make_app(b: Browser, name: str, **fields: str) -> str:
    data = {"app_name": name, "status": "online", "service_7": "1", **fields}
    r = b.post("/console/apps/new", data, csrf_from="/console/apps/new")
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    found = re.search(r"app_id=([0-9a-f]{32})", location)
    assert found is not None, location
    return found.group(1)


class TerminalThread:
    """A real ``TerminalClient`` logged in from a thread of its own (the console's
    tests are synchronous, as a browser is), until ``close``."""

    def __init__(self, url: str, app_id: str, app_secret: str, user_id: str, **kw: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.client = TerminalClient(url, app_id, user_id, app_secret=app_secret, **kw)
        self.reply = self.run(self.client.connect())

    def run(self, coro: Any) -> Any:
        """Run ``coro`` (a call of ``self.client``) in the terminal's loop; its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    def next_push(self, kind: str, seconds: float = 5.0) -> dict[str, Any]:
        """The next push of type ``kind`` the terminal gets."""

        async def find() -> dict[str, Any]:
            async for event in self.client.events():
                if event.get("type") == kind:
                    return event
            raise AssertionError(f"the connection ended before a {kind}")

        result: dict[str, Any] = self.run(asyncio.wait_for(find(), seconds))
        return result

    def close(self) -> None:
        self.run(self.client.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
