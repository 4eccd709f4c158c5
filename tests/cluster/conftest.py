"""Fixtures for cluster mode: gateway nodes on the real PostgreSQL and Redis.

Each test has its own schema (and so its own Redis namespace, ``hstgw:<schema>:``),
both removed afterwards. CI (``HSTGW_REQUIRE_POSTGRES=1``) fails rather than skips
when either cannot be reached.
"""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REQUIRE_POSTGRES, Gateway, engine_settings, start_gateway

REDIS_URL = os.environ.get("HSTGW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Short times, so that the lease and the route timeout can be seen to work.
CLUSTER_SETTINGS: dict[str, Any] = {
    "secret_key": secrets.token_hex(32),  # the nodes of one cluster share it
    "heartbeat_interval": 1.0,  # housekeeping (lease renewal) every 0.5 s
    "node_lease": 2.0,
    "route_timeout": 0.5,
    "auth_cache_ttl": 0.2,
}


@functools.cache
def redis_reachable() -> bool:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except (redis.RedisError, OSError):
        return False
    return True


def require_redis() -> None:
    if not redis_reachable():
        if REQUIRE_POSTGRES:
            pytest.fail(f"Redis at {REDIS_URL} is required and cannot be reached")
        pytest.skip(f"Redis at {REDIS_URL} cannot be reached")


def drop_namespace(schema: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"hstgw:{schema}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@contextmanager
def cluster_settings() -> Iterator[dict[str, Any]]:
    """Settings of one cluster: a fresh schema and Redis namespace."""
    require_redis()
    for db in engine_settings("postgres"):
        try:
            yield {**db, "redis_url": REDIS_URL, **CLUSTER_SETTINGS}
        finally:
            drop_namespace(db["database_schema"])


@contextmanager
def nodes(tmp: Path, count: int, **extra: Any) -> Iterator[list[Gateway]]:
    """``count`` gateway nodes of one cluster, each a real server on its own ports."""
    with cluster_settings() as settings, ExitStack() as stack:
        gateways = [
            stack.enter_context(
                contextmanager(start_gateway)(tmp / f"node{i}", **{**settings, **extra})
            )
            for i in range(count)
        ]
        yield gateways


@pytest.fixture
def two(tmp_path: Path) -> Iterator[list[Gateway]]:
    with nodes(tmp_path, 2) as gateways:
        yield gateways
