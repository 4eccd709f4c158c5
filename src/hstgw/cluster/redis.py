"""The cluster's Redis: one client per node, keys under one namespace, errors as
``Unavailable``.

Every key of a gateway starts with ``hstgw:<schema>:`` (the PostgreSQL schema,
``public`` when none), so several gateways may share a Redis as they share a
database. A plain Redis (or a Sentinel-managed primary) is expected: the Lua
scripts touch several keys of one app at once, which Redis Cluster's slots would
refuse.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from hstgw.store import Unavailable
from hstgw.tasks import Background

__all__ = ["RedisUnavailable", "SharedRedis", "TurnBatch"]

log = logging.getLogger("hstgw.cluster")

# Short timeouts: a Redis that is away must turn into 606000006 at once, not a hang.
CONNECT_TIMEOUT_S = 0.5
COMMAND_TIMEOUT_S = 2.0
MAX_CONNECTIONS = 64


Item = TypeVar("Item")
Answer = TypeVar("Answer")


class TurnBatch(Generic[Item, Answer]):
    """Calls made in one turn of the event loop, sent to Redis as one.

    ``batch(item)`` is a future of that item's answer; ``send(items)`` answers a whole
    batch in order. Each call is still sent after it was made, so nothing is stale:
    the client's per-command cost is paid once per batch instead of once per call.
    """

    def __init__(self, send: Callable[[list[Item]], Awaitable[Sequence[Answer]]]) -> None:
        self._send = send
        self._items: list[Item] = []
        self._futures: list[asyncio.Future[Answer]] = []
        self._tasks = Background()

    def __call__(self, item: Item) -> asyncio.Future[Answer]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Answer] = loop.create_future()
        self._items.append(item)
        self._futures.append(fut)
        if len(self._items) == 1:  # the first of this turn sends the batch, next turn
            self._tasks.spawn(self._flush())
        return fut

    async def _flush(self) -> None:
        items, futures = self._items, self._futures
        self._items, self._futures = [], []
        try:
            answers = await self._send(items)
            if len(answers) != len(futures):
                raise ValueError(f"{len(answers)} answers to a batch of {len(futures)}")
        except Exception as exc:  # each waiter gets it; none is left waiting
            for fut in futures:
                if not fut.done():
                    fut.set_exception(exc)
            return
        for fut, answer in zip(futures, answers, strict=True):
            if not fut.done():
                fut.set_result(answer)


class RedisUnavailable(Unavailable):
    """Redis is unreachable or failed; the operation did not happen (retry may work)."""

    counted_by_store_errors = False  # hstgw_redis_errors counts these, where they happen


class SharedRedis:
    def __init__(
        self, url: str, namespace: str, on_error: Callable[[], None] = lambda: None
    ) -> None:
        self.url = url
        self.ns = f"hstgw:{namespace or 'public'}:"
        self._on_error = on_error
        # A blocking pool: a burst of logins waits (up to the command timeout) for one
        # of its connections rather than failing. One immediate retry: after a Redis
        # restart the pooled connections are dead, and the first command on each would
        # fail although Redis is back.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=COMMAND_TIMEOUT_S,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=COMMAND_TIMEOUT_S,
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[RedisConnectionError, RedisTimeoutError, OSError],
        )
        self.client: aioredis.Redis = aioredis.Redis(connection_pool=pool)
        self._pool = pool

    def key(self, *parts: str) -> str:
        return self.ns + ":".join(parts)

    async def run(self, op: Callable[[aioredis.Redis], Awaitable[Any]]) -> Any:
        """``op(client)``, with Redis failures raised as ``RedisUnavailable``.

        (Any: redis-py types its replies as bytes-or-str; the client returns bytes.)"""
        try:
            return await op(self.client)
        except (RedisError, OSError) as exc:
            self._on_error()
            raise RedisUnavailable(f"redis: {type(exc).__name__}: {exc}") from exc

    def script(self, source: str) -> Callable[[list[str], list[Any]], Awaitable[Any]]:
        """A Lua script, loaded once, called as ``await s(keys, args)`` through ``run``."""
        registered = self.client.register_script(source)

        async def call(keys: list[str], args: list[Any]) -> Any:
            return await self.run(lambda c: registered(keys=keys, args=args, client=c))

        return call

    async def ping(self) -> None:
        await self.run(lambda c: c.ping())

    async def close(self) -> None:
        await self.client.aclose()
        await self._pool.aclose()
