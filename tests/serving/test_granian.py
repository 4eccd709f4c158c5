"""``HSTGW_HTTP_SERVER=granian``: the gateway on granian's embedded server, behind a proxy.

The same gateway fixture as every API test (tests/conftest.py ``start_gateway``), with
the setting: calls, bodies and their bound, the proxy's client address, the stop, a
port taken, and the settings and CLI refusing it without a proxy. The stock clients
run against it in tests/clients/test_stock_clients.py.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from hstgw.server import http_server
from hstgw.serving.granian import GranianServer
from hstgw.settings import Settings
from tests.cli.test_cli import hstgw
from tests.conftest import (
    Clock,
    Gateway,
    ServerStoppedAtStart,
    ServerThread,
    free_port,
    start_gateway,
)
from tests.waiting import eventually_sync

pytest.importorskip("granian")

BEHIND_A_PROXY = {"http_server": "granian", "trusted_proxies": ["127.0.0.1"]}
FAILURES = 3


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    yield from start_gateway(
        tmp_path / "data",
        max_body_bytes=4096,
        limit_auth_failures_per_address=FAILURES,
        **BEHIND_A_PROXY,
    )


def test_calls_and_bodies(gateway: Gateway) -> None:
    r = gateway.http.get(f"{gateway.url}/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    token = gateway.access_token(gateway.new_dev())
    body = {"app_name": "on_granian", "service": [{"service_id": 4}]}
    app = gateway.call("POST", "/v1/app", token, json=body)["result"]
    got = gateway.call("GET", "/v1/app", token, params={"app_id": app["app_id"]})
    assert got["result"] == app
    # A body sent in chunks, of no declared length, is read whole.
    chunks = iter([b'{"app_name": "chun', b'ked", "service": [{"service_id": 3}]}'])
    r = gateway.http.post(f"{gateway.url}/v1/app", content=chunks, headers={"Authorization": token})
    assert r.json()["result"]["app_name"] == "chunked"
    # The body's bound is the app's own: the same envelope as on hstgw.serving.
    big = gateway.call("POST", "/v1/app", token, content=b"{" + b" " * 5000 + b"}")
    assert (big["code"], big["msg"]) == (606000003, "body: larger than 4096 bytes")
    unknown = gateway.http.get(f"{gateway.url}/v1/nothing", headers={"Authorization": token})
    assert unknown.status_code == 404
    assert unknown.json() == {"code": 606000003, "msg": "path: no such path for /v1/nothing"}


def test_the_client_is_the_one_the_proxy_names(gateway: Gateway) -> None:
    """Behind the proxy, the address its X-Forwarded-For names is the caller's: the
    abuse limits count that client, not the proxy."""

    def code(client: str, authorization: str) -> int:
        headers = {"Authorization": authorization, "X-Forwarded-For": client}
        return int(gateway.http.get(f"{gateway.url}/v1/apps", headers=headers).json()["code"])

    got = [code("203.0.113.7", "0" * 32) for _ in range(FAILURES + 1)]
    assert got == [606000000] * FAILURES + [606000006]
    token = gateway.access_token(gateway.new_dev())
    assert code("203.0.113.8", token) == 0  # another client of the same proxy


def test_a_stop_ends_it_and_closes_the_store(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for _ in range(2):  # the second start finds the store closed (its lock let go)
        for gw in start_gateway(data, **BEHIND_A_PROXY):
            assert gw.http.get(f"{gw.url}/readyz").json()["status"] == "ready"
            port = int(gw.url.rsplit(":", 1)[1])
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)


def test_its_cap_is_the_one_fitted_to_the_open_files_limit(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, http_max_connections=1_000_000, **BEHIND_A_PROXY)
    server = http_server(settings)
    assert isinstance(server, GranianServer)
    fitted = server.app.state["connections"].http.total
    assert server.max_connections == fitted < 1_000_000


def test_a_worker_that_dies_fails_the_server(tmp_path: Path) -> None:
    """A process manager restarts a server that fails: granian's worker ending on its
    own is a failure (``hstgw serve`` exits 1), not a stop."""
    settings = Settings(
        port=free_port(), terminal_port=0, event_port=0, data_dir=tmp_path, **BEHIND_A_PROXY
    )
    served = ServerThread(settings, Clock()).__enter__()
    try:
        server, loop = served.server, served.loop
        assert isinstance(server, GranianServer) and loop is not None
        # (a worker's task ending as a crash ends it: not through kill(), which is a stop)
        loop.call_soon_threadsafe(lambda: [w._task.cancel() for w in server._granian.wrks])
        assert eventually_sync(lambda: not served.thread.is_alive(), 15)
        assert server.failed and server.started
    finally:
        served.__exit__(None, None, None)


def test_a_port_taken_is_told(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        settings = Settings(
            port=port, terminal_port=0, event_port=0, data_dir=tmp_path, **BEHIND_A_PROXY
        )
        server = ServerThread(settings, Clock())
        with pytest.raises(ServerStoppedAtStart):
            server.__enter__()
        server.thread.join(10)
        assert not server.thread.is_alive() and not server.server.started


def test_settings_refuse_it_without_a_proxy(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="HSTGW_TRUSTED_PROXIES"):
        Settings(data_dir=tmp_path, http_server="granian")
    out = hstgw("serve", "--http-server", "granian", "--data-dir", str(tmp_path))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    msg = json.loads(out.stderr)["error"]["msg"]
    assert msg.startswith(
        "granian (HSTGW_HTTP_SERVER, hstgw serve --http-server) holds no per-address connection"
    )
