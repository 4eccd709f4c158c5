"""Stock HTTP clients, with their defaults, against a real gateway (issue 11, item 1).

Each client gets an access token, creates, reads, updates, lists and deletes an app, and
reads billing records; every reply is checked field by field. Java's ``HttpClient``
prefers HTTP/2 and so offers ``Upgrade: h2c`` on http://, as does ``curl --http2``.
Every test runs on both REST servers: ``hstgw.serving`` and granian's (behind a proxy,
``HSTGW_HTTP_SERVER=granian``).
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from hstgw.tokens.fsp import verify
from tests.clients.transports import LineClient, StockClient
from tests.conftest import REST_SERVERS, Dev, Gateway, on_rest_server, start_gateway

T0 = 1764300000000  # 2025-11-28 11:20:00 in Shanghai
JSON_TYPE = "application/json;charset=UTF-8"

CLIENTS = ["java", "node", "go", "curl", "curl_h2c", "urllib", "requests", "httpx"]


@pytest.fixture(scope="module", params=REST_SERVERS)
def gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """A gateway on each REST server in turn."""
    server: str = request.param
    yield from start_gateway(
        tmp_path_factory.mktemp(f"gw-{server}"), auth_cache_ttl=0, **on_rest_server(server)
    )


@dataclass
class Seeded:
    """A developer with one app and one billing record, made in Python."""

    dev: Dev
    app: dict[str, Any]
    event_id: str


@pytest.fixture
def seeded(gateway: Gateway) -> Seeded:
    dev = gateway.new_dev()
    token = gateway.access_token(dev)
    body = {"app_name": "seeded", "service": [{"service_id": 4}]}
    app = gateway.call("POST", "/v1/app", token, json=body)["result"]
    event_id = f"clients-{secrets.token_hex(8)}"
    event = {
        "event_id": event_id,
        "app_id": app["app_id"],
        "charge_term": 1,  # audio, received: 0.006 yuan a minute
        "start_time": T0,
        "end_time": T0 + 60_000,
    }
    headers = {"Authorization": f"Bearer {gateway.new_node()}"}
    usage = gateway.call("POST", "/internal/v1/usage", json={"events": [event]}, headers=headers)
    assert usage == {"code": 0, "msg": "OK", "result": {"accepted": 1, "duplicates": 0}}
    return Seeded(dev, app, event_id)


@pytest.fixture(params=CLIENTS)
def client(request: pytest.FixtureRequest) -> StockClient:
    """Each stock client in turn (started once per session, on first use)."""
    stock: StockClient = request.getfixturevalue(f"{request.param}_client")
    return stock


def envelope(client: StockClient, step: str, reply: Any) -> dict[str, Any]:
    assert reply.status == 200, (client.name, step, reply)
    assert reply.content_type == JSON_TYPE, (client.name, step, reply)
    assert reply.request_id, (client.name, step, reply)
    body: dict[str, Any] = json.loads(reply.text, parse_float=Decimal)
    return body


def test_stock_client_crud_and_records(
    client: StockClient, gateway: Gateway, seeded: Seeded
) -> None:
    def call(step: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        reply = client.send(method, gateway.url + path, access_token, body)
        return envelope(client, step, reply)

    if isinstance(client, LineClient) and client.name == "java":
        # the developer token as the platform's Java TokenGenerator builds it
        dev = seeded.dev
        authorization = f"{dev.dev_id}.{client.token(dev.dev_id, dev.dev_secret, gateway.clock())}"
    else:
        authorization = gateway.dev_authorization(seeded.dev)
    issued = envelope(
        client, "token", client.send("GET", f"{gateway.url}/access/token", authorization, None)
    )
    assert issued["code"] == 0, issued
    assert issued["result"]["timeout"] == 7200
    access_token: str = issued["result"]["access_token"]
    assert re.fullmatch(r"[0-9a-f]{32}", access_token)

    name = f"{client.name.split()[0]}_客户端"
    created = call(
        "create",
        "POST",
        "/v1/app",
        {
            "app_name": name,
            "status": "online",
            "consumption_limit": 100,
            "service": [{"service_id": 3}, {"service_id": 7, "use_limit": 10}],
        },
    )
    assert created["code"] == 0, created
    app = created["result"]
    app_id = app["app_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", app_id)
    assert re.fullmatch(r"[A-Za-z0-9]{16}", app["app_secret"])
    assert (app["app_name"], app["status"], app["consumption_limit"]) == (name, "online", 100)
    assert sorted(app["service"], key=lambda s: s["service_id"]) == [
        {"service_id": 3, "service_name": "视频服务", "use_limit": None},
        {"service_id": 7, "service_name": "在线服务", "use_limit": 10},
    ]

    assert call("read", "GET", f"/v1/app?app_id={app_id}") == created

    update = {"app_id": app_id, "app_name": f"{name}_2", "status": "offline"}
    updated = call("update", "PATCH", "/v1/app", {**update, "service": [{"service_id": 4}]})
    assert updated == {
        "code": 0,
        "msg": "OK",
        "result": {
            **app,
            "app_name": f"{name}_2",
            "status": "offline",
            "service": [{"service_id": 4, "service_name": "音频服务", "use_limit": None}],
        },
    }

    listed = call("list", "GET", "/v1/apps?page=1&page_size=10")
    assert listed["code"] == 0, listed
    apps = listed.pop("result").pop("apps")
    assert listed == {"code": 0, "msg": "OK"}
    assert sorted(apps, key=lambda a: a["app_id"]) == sorted(
        [seeded.app, updated["result"]], key=lambda a: a["app_id"]
    )

    assert call("delete", "DELETE", f"/v1/app?app_id={app_id}") == {"code": 0, "msg": "OK"}
    assert call("read deleted", "GET", f"/v1/app?app_id={app_id}") == {
        "code": 606000003,
        "msg": "app_id: no such app",
    }

    query = f"start_time={T0 - 1000}&end_time={T0 + 1000}&page=1&page_size=10"
    records = call("records", "GET", f"/v1/consuming/records?{query}")
    assert records["code"] == 0, records
    got = records["result"]
    assert (got["total"], got["page"], got["page_size"], len(got["records"])) == (1, 1, 10, 1)
    record = got["records"][0]
    assert record["event_id"] == seeded.event_id
    assert (record["app_id"], record["app_name"]) == (seeded.app["app_id"], "seeded")
    assert (record["charge_term"], record["product_id"], record["total_time"]) == (1, 4, 60)
    assert str(record["amount"]) == "0.006000"  # the six places came through as sent
    assert (record["start_time"], record["end_time"]) == (
        "2025-11-28 11:20:00",
        "2025-11-28 11:21:00",
    )


def test_java_builds_the_platform_token(java_client: LineClient, gateway: Gateway) -> None:
    """javax.crypto AES/CBC/NoPadding builds a 001 token the gateway accepts."""
    dev = gateway.new_dev()
    now = gateway.clock()
    token = java_client.token(dev.dev_id, dev.dev_secret, now)
    claims = verify(token, dev.dev_secret, aid=dev.dev_id, now_ms=now)
    assert (claims.aid, claims.gid, claims.uid, claims.ts, claims.et) == (
        dev.dev_id,
        "null",
        "null",
        now,
        None,
    )
    assert claims.r is not None and 0 <= claims.r < 2**31


def test_java_streams_a_body_behind_its_h2c_offer(
    java_client: LineClient, gateway: Gateway, token: str
) -> None:
    """``BodyPublishers.ofInputStream``: a body of unknown length goes chunked, still
    behind ``Upgrade: h2c``; the gateway reads it."""
    body = {"app_name": "streamed", "service": [{"service_id": 3}]}
    reply = java_client.send("POST~", f"{gateway.url}/v1/app", token, body)
    assert reply.status == 200
    created = reply.json()
    assert created["code"] == 0, created
    assert created["result"]["app_name"] == "streamed"


@pytest.mark.parametrize("name", ["java", "curl_h2c"])
def test_these_clients_offer_h2c_by_default(request: pytest.FixtureRequest, name: str) -> None:
    """What makes them worth testing: a POST with its body behind an ``Upgrade: h2c`` offer."""
    stock: StockClient = request.getfixturevalue(f"{name}_client")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        seen: list[bytes] = []

        def serve_one() -> None:
            conn, _ = listener.accept()
            with conn:
                data = b""
                while b"\r\n\r\n" not in data or not data.endswith(b'{"a": 1}'):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                seen.append(data)
                reply = b'{"code":0}'
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: "
                    + JSON_TYPE.encode()
                    + b"\r\nX-Request-Id: r1\r\nContent-Length: %d\r\n\r\n%s" % (len(reply), reply)
                )

        server = threading.Thread(target=serve_one, daemon=True)
        server.start()
        reply = stock.send("POST", f"http://127.0.0.1:{port}/v1/app", "t", {"a": 1})
        server.join(10)
    assert (reply.status, reply.text) == (200, '{"code":0}')
    head, _, body = seen[0].partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    assert lines[0] == "POST /v1/app HTTP/1.1"
    assert headers["upgrade"] == "h2c"
    assert {"upgrade", "http2-settings"} <= {
        t.strip().lower() for t in headers["connection"].split(",")
    }
    assert headers["http2-settings"]
    assert (headers["content-length"], body) == ("8", b'{"a": 1}')
