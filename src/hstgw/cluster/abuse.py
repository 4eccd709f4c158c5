"""Abuse-limit buckets in Redis: one bucket per key for the whole cluster.

Each bucket is a hash (tokens, at) updated by one Lua script with Redis's own clock,
so that nodes whose clocks differ still agree. Checks arriving together (one
event-loop turn) go to Redis as one script call over all their keys, as token
lookups do (cluster/tokens.py).
"""

from __future__ import annotations

from hstgw.abuse import Decision, Rule, decide
from hstgw.cluster import lua
from hstgw.cluster.redis import SharedRedis, TurnBatch

__all__ = ["RedisBuckets"]

_TAKE = lua.source("take_buckets")


class RedisBuckets:
    def __init__(self, redis: SharedRedis) -> None:
        self._r = redis
        script = redis.script(_TAKE)

        async def send(items: list[tuple[str, Rule, int, bool]]) -> list[tuple[int, int]]:
            args: list[float | int] = []
            for _, rule, cost, force in items:
                args += [rule.rate, rule.burst, cost, int(force)]
            answers = await script([item[0] for item in items], args)
            return [(int(allowed), int(milli)) for allowed, milli in answers]

        self._take: TurnBatch[tuple[str, Rule, int, bool], tuple[int, int]] = TurnBatch(send)

    async def take(self, key: str, rule: Rule, cost: int = 1, force: bool = False) -> Decision:
        allowed, milli = await self._take((self._r.key("rl", key), rule, cost, force))
        return decide(milli / 1000, rule, bool(allowed))
