"""Abuse-limit buckets in Redis: one bucket per key for the whole cluster.

Each bucket is a hash (tokens, at) updated by one Lua script with Redis's own clock,
so that nodes whose clocks differ still agree. Checks arriving together (one
event-loop turn) go to Redis as one script call over all their keys, as token
lookups do (cluster/tokens.py).
"""

from __future__ import annotations

from hstgw.cluster.redis import SharedRedis, TurnBatch
from hstgw.limits import Decision, Rule, decide

__all__ = ["RedisBuckets"]

# KEYS: the buckets; ARGV: rate, burst, cost for each, in turn. Returns, for each,
# {allowed (0/1), tokens * 1000}.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local out = {}
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[3 * i - 2])
  local burst = tonumber(ARGV[3 * i - 1])
  local cost = tonumber(ARGV[3 * i])
  local b = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(b[1]) or burst
  local at = tonumber(b[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
  local allowed = 0
  if (cost == 0 and tokens >= 1) or (cost > 0 and tokens >= cost) then
    allowed = 1
    tokens = tokens - cost
  end
  redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(now))
  local ttl = burst / math.max(rate, 1e-6)
  redis.call('PEXPIRE', key, math.ceil(ttl * 1000) + 1000)
  out[i] = {allowed, math.floor(tokens * 1000)}
end
return out
"""


class RedisBuckets:
    def __init__(self, redis: SharedRedis) -> None:
        self._r = redis
        script = redis.script(_TAKE)

        async def send(items: list[tuple[str, Rule, int]]) -> list[tuple[int, int]]:
            args: list[float | int] = []
            for _, rule, cost in items:
                args += [rule.rate, rule.burst, cost]
            answers = await script([key for key, _, _ in items], args)
            return [(int(allowed), int(milli)) for allowed, milli in answers]

        self._take: TurnBatch[tuple[str, Rule, int], tuple[int, int]] = TurnBatch(send)

    async def take(self, key: str, rule: Rule, cost: int = 1) -> Decision:
        allowed, milli = await self._take((self._r.key("rl", key), rule, cost))
        return decide(milli / 1000, rule, bool(allowed))
