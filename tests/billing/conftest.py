"""Fixtures for billing: a developer, apps, a node, and calls that keep decimals exact."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import ENGINES, Gateway, engine_settings, start_gateway

T0 = 1764300000000  # 2025-11-28 11:20:00 in Shanghai


@dataclass
class Billed:
    gateway: Gateway
    token: str
    app_id: str
    app_id2: str
    node_key: str

    def usage(self, events: list[dict[str, Any]], key: str | None = None) -> dict[str, Any]:
        """Report ``events``. Event ids are unique per node, and tests may share a node
        key, so each is suffixed with its app's id (``ev``), and ``records`` takes the
        suffix off again."""
        return self.gateway.call(
            "POST",
            "/internal/v1/usage",
            json={"events": events},
            headers={"Authorization": f"Bearer {key or self.node_key}"},
        )

    def records(self, **params: Any) -> dict[str, Any]:
        """The records reply, its numbers parsed as Decimal (to see the 6 places)."""
        query = {
            "start_time": T0 - 86400_000,
            "end_time": T0 + 86400_000,
            "page": 1,
            "page_size": 100,
            **params,
        }
        r = self.gateway.http.get(
            f"{self.gateway.url}/v1/consuming/records",
            params=query,
            headers={"Authorization": self.token},
        )
        body: dict[str, Any] = json.loads(r.text, parse_float=Decimal)
        for record in body.get("result", {}).get("records", []):
            record["event_id"] = record["event_id"].split(".")[0]
        return body


def ev(event_id: str, app_id: str, term: int, ms: int = 0, **kw: Any) -> dict[str, Any]:
    return {
        "event_id": f"{event_id}.{app_id[:16]}",
        "app_id": app_id,
        "charge_term": term,
        "start_time": T0,
        "end_time": T0 + ms,
        **kw,
    }


def make_billed(gateway: Gateway) -> Billed:
    token = gateway.access_token(gateway.new_dev())
    ids = []
    for name in ("billed1", "billed2"):
        body = {
            "app_name": name,
            "status": "online",
            "service": [{"service_id": s} for s in (3, 4, 6, 7, 8)],
        }
        ids.append(gateway.call("POST", "/v1/app", token, json=body)["result"]["app_id"])
    return Billed(gateway, token, ids[0], ids[1], gateway.new_node())


@pytest.fixture
def billed(gateway: Gateway) -> Billed:
    return make_billed(gateway)


@pytest.fixture(scope="module", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """The billing suite runs on SQLite and on PostgreSQL."""
    return str(request.param)


@pytest.fixture(scope="module")
def gateway(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    for db in engine_settings(engine):
        yield from start_gateway(tmp_path_factory.mktemp("gw"), auth_cache_ttl=0, **db)
