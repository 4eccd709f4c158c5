"""Which node delivers an endpoint's events of an app: whoever holds its lease.

One process (SQLite, or PostgreSQL without Redis) needs no lease between nodes:
``LocalLeases``. A cluster takes PostgreSQL session advisory locks
(``hstgw.store.postgres.leases``): a lock lives exactly as long as the session of the
node that took it, so a paused node keeps it (no second node starts the same attempt
because a timer ran out, as a Redis key's expiry would allow) and a dead node's
session ends and frees it at once; the lock sits beside the cursor it guards, in the
same database. The cursor's compare-and-set is the second fence: a node that lost its
session cannot move a cursor another node moved.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Leases", "LocalLeases"]


class Leases(Protocol):
    async def take(self, key: str) -> bool:
        """Hold ``key`` if nobody does; False if another node holds it."""
        ...

    async def release(self, key: str) -> None: ...

    def holds(self, key: str) -> bool:
        """Whether this node still holds ``key`` (false once its session was lost)."""
        ...

    async def close(self) -> None: ...


class LocalLeases:
    """One node: a key is held by at most one of this process's workers."""

    def __init__(self) -> None:
        self._held: set[str] = set()

    async def take(self, key: str) -> bool:
        if key in self._held:
            return False
        self._held.add(key)
        return True

    async def release(self, key: str) -> None:
        self._held.discard(key)

    def holds(self, key: str) -> bool:
        return key in self._held

    async def close(self) -> None:
        self._held.clear()
