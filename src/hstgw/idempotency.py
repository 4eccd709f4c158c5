"""Idempotency-Key: a retried write answers what its first try answered.

A caller that sends ``Idempotency-Key: <key>`` with a POST, PATCH or DELETE gets, for
every later request with the same key and the same method, path, query and body
within 24 hours, the first response again without the work being done again; the
same key with another request is refused (606000003). Keys belong to their caller
(a developer, or a usage-reporting node). The first response is kept in the store,
so every node of a cluster answers alike.

A request that could not be served (606000006, an internal error) gives its key
back: its retry does the work. A key whose first request never finished (the node
died in between) is taken over after ``ABANDONED_MS``.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable

from hstgw.errors import ParameterInvalid, SystemBusy
from hstgw.store import Store

__all__ = ["ABANDONED_MS", "TTL_MS", "Idempotency", "fingerprint"]

TTL_MS = 24 * 3600 * 1000
ABANDONED_MS = 5 * 60 * 1000
_MAX_KEY = 255
# How long a retry waits for its first try, still being served, to finish.
_WAIT_S = 5.0


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    h = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, body):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


class Idempotency:
    def __init__(self, store: Store, clock: Callable[[], int]) -> None:
        self._store = store
        self._clock = clock

    async def begin(self, owner: str, key: str, print_: str) -> str | None:
        """None: this request holds the key and does the work. Otherwise the first
        response to send again."""
        if not (0 < len(key) <= _MAX_KEY and key.isascii() and key.isprintable()):
            raise ParameterInvalid(
                "Idempotency-Key", f"must be 1..{_MAX_KEY} visible ASCII characters"
            )
        deadline = time.monotonic() + _WAIT_S
        while True:
            now = self._clock()
            claim = await self._store.idempotency_claim(
                owner, key, print_, now, now - TTL_MS, now - ABANDONED_MS
            )
            if claim.mine:
                return None
            if claim.fingerprint != print_:
                raise ParameterInvalid(
                    "Idempotency-Key", "already used with another request in the last 24 h"
                )
            if claim.response is not None:
                return claim.response
            if time.monotonic() > deadline:
                raise SystemBusy("Idempotency-Key: its first request is still being served")
            await asyncio.sleep(0.05)

    async def finish(self, owner: str, key: str, response: str) -> None:
        await self._store.idempotency_finish(owner, key, response)

    async def release(self, owner: str, key: str) -> None:
        await self._store.idempotency_release(owner, key)

    async def purge(self) -> int:
        return await self._store.idempotency_purge(self._clock() - TTL_MS)
