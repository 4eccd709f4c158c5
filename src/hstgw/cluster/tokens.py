"""Access tokens in Redis: one live token per developer across every node.

Issuance is one Lua script (supersede the old token, store the new one), so two
nodes issuing at once leave exactly one live token, and every node sees a
superseded token as such on its next call: lookups are not cached (one GET).

Lookups that arrive together (one event-loop turn) go to Redis as one MGET: each
is still read after its request arrived, so nothing is stale, and the per-command
cost of the client is paid once per batch rather than once per request (measured:
bench/cluster.py, docs/performance.md).

What stays in the database, the developer, is read through a short cache
(``HSTGW_AUTH_CACHE_TTL``): an operator's ``hstgw dev disable`` or
``reset-secret`` stops the developer's token on every node within that time,
as on a single node. A token remembers a fingerprint of the secret it was
issued under, so a reset secret ends it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from hstgw.cluster import lua
from hstgw.cluster.redis import SharedRedis, TurnBatch
from hstgw.store import AccessTokenState, Developer, Store

__all__ = ["RedisTokenBook"]

# How long a superseded or expired token is remembered after it expires, to answer
# 606000001 rather than 606000000 for it.
_REMEMBER_MS = 7 * 86400 * 1000

_ISSUE = lua.source("issue_token")


def _fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


class RedisTokenBook:
    """The ``issue_access_token``/``lookup_access_token`` half of a store, in Redis."""

    def __init__(
        self, redis: SharedRedis, store: Store, clock: Callable[[], int], dev_ttl_s: float
    ) -> None:
        self._redis = redis
        self._store = store
        self._clock = clock
        self._issue = redis.script(_ISSUE)
        self._devs: dict[str, tuple[Developer | None, int]] = {}
        self._dev_ttl_ms = int(dev_ttl_s * 1000)
        self._get: TurnBatch[str, bytes | None] = TurnBatch(
            lambda keys: redis.run(lambda c: c.mget(keys))
        )

    async def issue_access_token(
        self, dev_id: str, token: str, now: int, expires_at: int, keep_until: int
    ) -> None:
        dev = await self._developer(dev_id, fresh=True)
        if dev is None:
            return
        r = self._redis
        entry = f"{dev_id}|{expires_at}|{_fingerprint(dev.secret)}|1"
        await self._issue(
            [r.key("dev", dev_id, "at"), r.key("at", token)],
            [token, entry, expires_at - now + _REMEMBER_MS, r.key("at", "")],
        )

    async def lookup_access_token(self, token: str) -> AccessTokenState | None:
        raw = await self._get(self._redis.key("at", token))
        if raw is None:
            return None
        dev_id, expires_at, fingerprint, live = raw.decode().split("|")
        dev = await self._developer(dev_id)
        if dev is None:
            return None
        return AccessTokenState(
            dev_id=dev_id,
            expires_at=int(expires_at),
            live=live == "1" and hmac.compare_digest(fingerprint, _fingerprint(dev.secret)),
            developer_active=dev.status == "active",
        )

    async def _developer(self, dev_id: str, fresh: bool = False) -> Developer | None:
        now = self._clock()
        cached = self._devs.get(dev_id)
        if not fresh and cached is not None and now - cached[1] < self._dev_ttl_ms:
            return cached[0]
        dev = await self._store.get_developer(dev_id)
        if len(self._devs) >= 10_000:
            self._devs.clear()
        self._devs[dev_id] = (dev, now)
        return dev
