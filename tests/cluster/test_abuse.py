"""The abuse limits' buckets in Redis behave as the local ones (tests/api/test_abuse.py)."""

from __future__ import annotations

import secrets

import pytest

from hstgw.cluster.abuse import RedisBuckets
from hstgw.cluster.redis import SharedRedis
from tests.api.test_abuse import check_costs_past_the_burst
from tests.cluster.conftest import REDIS_URL, drop_namespace, require_redis

pytestmark = pytest.mark.anyio


async def test_a_cost_past_the_burst_is_taken_whole_from_a_full_bucket_in_redis() -> None:
    require_redis()
    namespace = "t" + secrets.token_hex(6)
    shared = SharedRedis(REDIS_URL, namespace)
    try:
        await check_costs_past_the_burst(RedisBuckets(shared))
        # the bucket in debt is kept until it is full again, not for a burst's refill
        ttl = await shared.client.pttl(shared.key("rl", "debt"))
        assert ttl > 45_000, ttl
    finally:
        await shared.close()
        drop_namespace(namespace)
