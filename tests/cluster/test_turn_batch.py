"""TurnBatch: the calls of one loop turn sent as one; a batch that fails fails each of
its waiters (none is left waiting), and the next batch is sent as usual."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Sequence

import pytest

from hstgw.cluster.redis import RedisUnavailable, SharedRedis, TurnBatch
from tests.cluster.conftest import REDIS_URL, drop_namespace, require_redis

pytestmark = pytest.mark.anyio


@pytest.fixture
async def shared() -> AsyncIterator[SharedRedis]:
    require_redis()
    namespace = "t" + secrets.token_hex(6)
    redis = SharedRedis(REDIS_URL, namespace)
    try:
        yield redis
    finally:
        await redis.close()
        drop_namespace(namespace)


def incr_batch(redis: SharedRedis, sent: list[list[str]]) -> TurnBatch[str, int]:
    """INCR of each key, one pipeline (one round trip) a batch."""

    async def send(keys: list[str]) -> list[int]:
        sent.append(keys)

        async def pipeline(c: object) -> list[int]:
            pipe = redis.client.pipeline(transaction=False)
            for key in keys:
                pipe.incr(key)
            return [int(n) for n in await pipe.execute()]

        return await redis.run(pipeline)  # type: ignore[no-any-return]

    return TurnBatch(send)


async def test_the_calls_of_one_turn_are_one_send(shared: SharedRedis) -> None:
    sent: list[list[str]] = []
    incr = incr_batch(shared, sent)
    a, b = shared.key("a"), shared.key("b")
    assert await asyncio.gather(incr(a), incr(b), incr(a)) == [1, 1, 2]
    assert sent == [[a, b, a]]
    assert await incr(a) == 3
    assert len(sent) == 2


async def test_a_failing_batch_fails_each_waiter_and_the_next_batch_works(
    shared: SharedRedis,
) -> None:
    sent: list[list[str]] = []
    incr = incr_batch(shared, sent)
    good, bad = shared.key("good"), shared.key("bad")
    await shared.client.set(bad, "not a number")
    waiters = [incr(good), incr(bad), incr(good)]
    results = await asyncio.wait_for(asyncio.gather(*waiters, return_exceptions=True), 5)
    assert len(sent) == 1
    assert all(isinstance(r, RedisUnavailable) for r in results), results
    assert "not an integer" in str(results[1])
    # the next batch is sent and answered (the good key's INCRs of the failed batch did
    # run: a pipeline is not a transaction, and the error says the call may have happened)
    assert await asyncio.gather(incr(good), incr(shared.key("other"))) == [3, 1]
    assert len(sent) == 2


async def test_an_unreachable_redis_fails_each_waiter_with_unavailable() -> None:
    away = SharedRedis("redis://127.0.0.1:1/0", "t" + secrets.token_hex(6))
    try:
        get: TurnBatch[str, bytes | None] = TurnBatch(lambda keys: away.run(lambda c: c.mget(keys)))
        results = await asyncio.wait_for(
            asyncio.gather(get("a"), get("b"), return_exceptions=True), 5
        )
        assert [type(r) for r in results] == [RedisUnavailable, RedisUnavailable]
    finally:
        await away.close()


async def test_a_send_answering_too_few_fails_each_waiter() -> None:
    """Regression: ``zip(strict=True)`` raised inside the flush task after answering the
    first waiters, and the others waited forever."""

    async def short(items: list[str]) -> Sequence[str]:
        return [item.upper() for item in items[:1]]

    batch: TurnBatch[str, str] = TurnBatch(short)
    results = await asyncio.wait_for(
        asyncio.gather(batch("a"), batch("b"), return_exceptions=True), 2
    )
    assert [str(r) for r in results] == ["1 answers to a batch of 2"] * 2
    assert await asyncio.wait_for(batch("c"), 2) == "C"


async def test_a_waiter_that_gave_up_does_not_break_the_batch() -> None:
    release = asyncio.Event()

    async def slow(items: list[int]) -> list[int]:
        await release.wait()
        return [n * 2 for n in items]

    batch: TurnBatch[int, int] = TurnBatch(slow)
    gone, kept = batch(1), batch(2)
    gone.cancel()
    release.set()
    assert await asyncio.wait_for(kept, 2) == 4
    assert await asyncio.wait_for(batch(5), 2) == 10
