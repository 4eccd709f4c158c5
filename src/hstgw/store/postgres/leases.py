"""Webhook leases as PostgreSQL session advisory locks (hstgw.webhooks.leases says why).

One connection of its own per node holds them all; calls on it take turns. Its loss
(a restart of the database) frees every lock at once: ``holds`` turns false and the
workers stop before their next attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

__all__ = ["PostgresLeases"]

log = logging.getLogger("hstgw.webhooks")


class PostgresLeases:
    def __init__(self, url: str, schema: str = "") -> None:
        self._url = url
        # (namespace, key) as two int4 hashes: locks of another schema never collide
        self._space = f"hstgw:{schema or 'public'}:webhook"
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()
        self._held: set[str] = set()

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._held.clear()  # a lost session took its locks with it
            self._conn = await asyncpg.connect(self._url, timeout=5)
        return self._conn

    async def take(self, key: str) -> bool:
        async with self._lock:
            if key in self._held:
                return False
            try:
                conn = await self._connection()
                taken = await conn.fetchval(
                    "SELECT pg_try_advisory_lock(hashtext($1), hashtext($2))", self._space, key
                )
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("webhook lease not taken: %s", exc)
                return False
            if taken:
                self._held.add(key)
            return bool(taken)

    async def release(self, key: str) -> None:
        async with self._lock:
            if key not in self._held:
                return
            self._held.discard(key)
            conn = self._conn
            if conn is None or conn.is_closed():
                return
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await conn.execute(
                    "SELECT pg_advisory_unlock(hashtext($1), hashtext($2))", self._space, key
                )

    def holds(self, key: str) -> bool:
        return key in self._held and self._conn is not None and not self._conn.is_closed()

    async def close(self) -> None:
        async with self._lock:
            self._held.clear()
            if self._conn is not None:
                with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    await self._conn.close()
                self._conn = None
