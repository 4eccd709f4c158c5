"""Liveness, readiness and the platform's discovery call."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hstgw.gateway import Gateway as Node
from hstgw.settings import Settings
from tests.cluster.conftest import cluster_settings
from tests.conftest import Gateway


def test_readyz_when_the_store_answers(gateway: Gateway) -> None:
    r = gateway.http.get(f"{gateway.url}/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "checks": {"store": "ok"}}


def test_healthz_is_liveness(gateway: Gateway) -> None:
    r = gateway.http.get(f"{gateway.url}/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_a_cluster_node_without_redis_is_not_ready(tmp_path: Path) -> None:
    with cluster_settings() as settings:

        async def check() -> tuple[bool, dict[str, str]]:
            node = Node(
                Settings(data_dir=tmp_path, **{**settings, "redis_url": "redis://127.0.0.1:1/0"})
            )
            await node.store.open()
            try:
                return await node.readiness()
            finally:
                await node.store.close()

        ready, checks = asyncio.run(check())
    assert not ready
    assert checks["store"] == "ok"
    assert checks["redis"].startswith("unavailable")
    assert checks["lease"] == "not held"


def test_a_node_whose_store_is_away_is_not_ready(tmp_path: Path) -> None:
    async def check() -> tuple[bool, dict[str, str]]:
        node = Node(Settings(data_dir=tmp_path))
        await node.store.open()
        await node.store.close()  # the store is gone from under the node
        return await node.readiness()

    ready, checks = asyncio.run(check())
    assert not ready
    assert checks["store"].startswith("unavailable")


def test_server_address_for_the_business_gateway(gateway: Gateway) -> None:
    r = gateway.http.get(f"{gateway.url}/server/address", params={"appType": "10"})
    assert r.json() == {"code": 0, "message": "OK", "result": gateway.url}
    r = gateway.http.get(
        f"{gateway.url}/server/address",
        params={"appType": "10", "app_id": "x"},
        headers={"Host": "gw.example.com"},
    )
    assert r.json()["result"] == "http://gw.example.com"


def test_server_address_for_what_is_not_served(gateway: Gateway) -> None:
    for app_type, reason in (("3", "must be 10 or 8"),):
        r = gateway.http.get(f"{gateway.url}/server/address", params={"appType": app_type})
        body = r.json()
        assert body["code"] == 606000003 and reason in body["message"], body
    r = gateway.http.get(f"{gateway.url}/server/address")
    assert r.json()["code"] == 606000002
