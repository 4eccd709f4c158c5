"""The PostgreSQL engine: a pool of asyncpg connections, migrations, the serving lock.

The serving lock is a session advisory lock per schema. A node without Redis
holds it exclusively: a second node refuses to start, as a second server on a
SQLite data directory does, which keeps its app cache exact. Cluster nodes
(``HSTGW_REDIS_URL``) hold it shared, so any number of them run together, never
beside a lone node; their caches are kept by Redis broadcasts (hstgw.cluster).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import asyncpg

from hstgw.secretbox import SecretBox, SecretBoxError
from hstgw.store import sql, totals
from hstgw.store.app_cache import AppCache
from hstgw.store.base import StoreError, Unavailable
from hstgw.store.migrations import migrations
from hstgw.store.sql import numbered

__all__ = ["Conn", "PostgresEngine", "affected"]

log = logging.getLogger("hstgw.store")

# A connection of the pool, as the code holding it sees it (subscripted for the type
# checker only: the runtime class is not generic).
if TYPE_CHECKING:
    Conn = asyncpg.pool.PoolConnectionProxy[asyncpg.Record]
else:
    Conn = asyncpg.pool.PoolConnectionProxy

_TRANSIENT = (
    OSError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
    # a connection the server ended mid-operation (a restart): asyncpg may say so with
    # this (MagicStack/asyncpg#784) rather than ConnectionDoesNotExistError
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
)


class _PooledConnection(asyncpg.Connection):
    """Given back to the pool without asyncpg's reset query (``RESET ALL``, ``UNLISTEN``,
    ``CLOSE ALL``, advisory unlocks), one more round trip on every store call: the
    store keeps no session state on pooled connections (its session locks have
    connections of their own; its other locks end with their transactions). A
    transaction left open is still rolled back as the connection is given back."""

    def get_reset_query(self) -> str:
        return ""


class PostgresEngine:
    def __init__(
        self,
        url: str,
        *,
        schema: str = "",
        box: SecretBox,
        serving: bool = False,
        cluster: bool = False,
        app_cache_size: int = 100_000,
        zone: str = "Asia/Shanghai",
    ) -> None:
        self.url = url
        self._zone = zone  # the months of month_totals (totals.py)
        self._box = box  # secrets at rest
        self.schema = schema
        self._serving = serving
        self._cluster = cluster
        self._pool: asyncpg.Pool | None = None
        self._lock_conn: asyncpg.Connection | None = None
        self._apps = AppCache(app_cache_size if serving else 0)

    def _settings(self) -> dict[str, str]:
        return {"search_path": self.schema} if self.schema else {}

    def lock_key(self, purpose: str) -> str:
        """Advisory locks are per database; the gateway's are per schema: ``hashtext`` of this."""
        return f"hstgw:{self.schema or 'public'}:{purpose}"

    async def open(self) -> None:
        try:
            if self.schema:
                conn = await asyncpg.connect(self.url)
                try:
                    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                finally:
                    await conn.close()
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=1,
                max_size=10,
                server_settings=self._settings(),
                connection_class=_PooledConnection,
            )
        except _TRANSIENT as exc:
            raise StoreError(f"cannot reach PostgreSQL: {exc}") from exc
        # What the operator must fix, said as the CLI says it (cli/_errors.py).
        except asyncpg.InvalidCatalogNameError as exc:  # the database is not there
            raise StoreError(
                f"PostgreSQL: {exc}: create it (createdb, or CREATE DATABASE in psql) or "
                "correct HSTGW_DATABASE_URL"
            ) from exc
        except asyncpg.InvalidAuthorizationSpecificationError as exc:
            raise StoreError(
                f"PostgreSQL: {exc}: check the user and password in HSTGW_DATABASE_URL"
            ) from exc
        except asyncpg.PostgresError as exc:  # no permission, and the like
            raise StoreError(f"PostgreSQL: {exc}") from exc
        await self._migrate()
        await self._seal_plaintext()
        await self._month_totals_in(self._zone)
        if self._serving and not await self._take_serving_lock():
            await self.close()
            raise StoreError(
                "the database is in use by an hstgw node without HSTGW_REDIS_URL; "
                "every node on one schema needs the same HSTGW_REDIS_URL"
                if self._cluster
                else "the database is in use by another hstgw node; several nodes on "
                "one schema need HSTGW_REDIS_URL (cluster mode)"
            )

    async def _month_totals_in(self, zone: str) -> None:
        """Fill month_totals from the records if its months are not ``zone``'s (a new
        table, or HSTGW_TIME_ZONE changed), as ingestion does: one at a time."""
        async with self._transaction() as c:
            await c.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self.lock_key("ingest"))
            kept = await c.fetchval(
                "SELECT value FROM store_state WHERE name = $1", totals.MONTH_TOTALS_ZONE
            )
            if kept == zone:
                return
            await c.execute("DELETE FROM month_totals")
            made = totals.Rebuild(zone)
            async for record in c.cursor(totals.SELECT_RECORDS_FOR_TOTALS, prefetch=10_000):
                made.add(record)
            await c.executemany(numbered(totals.UPSERT_MONTH_TOTALS), made.totals.rows())
            await c.execute(
                "INSERT INTO store_state (name, value) VALUES ($1, $2)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                totals.MONTH_TOTALS_ZONE,
                zone,
            )

    async def _take_serving_lock(self) -> bool:
        conn = await asyncpg.connect(self.url, server_settings=self._settings())
        how = "pg_try_advisory_lock_shared" if self._cluster else "pg_try_advisory_lock"
        taken = await conn.fetchval(f"SELECT {how}(hashtext($1))", self.lock_key("serving"))
        if taken:
            self._lock_conn = conn
        else:
            await conn.close()
        return bool(taken)

    async def maintain(self) -> None:
        """A database restart ends the session that held the serving lock: take it again."""
        if not self._serving or self._pool is None:
            return
        if self._lock_conn is not None and not self._lock_conn.is_closed():
            return
        self._lock_conn = None
        try:
            if not await self._take_serving_lock():
                log.error("another hstgw server took this schema's serving lock")
        except _TRANSIENT as exc:
            log.warning("serving lock not taken again yet: %s", exc)

    async def close(self) -> None:
        if self._lock_conn is not None:
            with contextlib.suppress(*_TRANSIENT):
                await self._lock_conn.close()  # releases the advisory lock
            self._lock_conn = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _seal_plaintext(self) -> None:
        """Seal the secrets written before secrets were sealed (once; then none are left)."""
        async with self._transaction() as c:
            for select, update in (
                (sql.PLAIN_DEV_SECRETS, sql.SEAL_DEV_SECRET),
                (sql.PLAIN_APP_SECRETS, sql.SEAL_APP_SECRET),
            ):
                rows = await c.fetch(select)
                if rows:
                    await c.executemany(
                        numbered(update), [(self._box.seal(v), k, v) for k, v in rows]
                    )
            sealed = await c.fetchval(sql.ANY_SEALED_SECRET)
        if sealed is not None:
            try:
                self._box.open(sealed)  # the wrong key stops the start, not a login later
            except SecretBoxError as exc:
                await self.close()
                raise StoreError(str(exc)) from None

    async def _migrate(self) -> None:
        async with self._transaction() as c:
            # one node migrates at a time
            await c.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self.lock_key("migrate"))
            await c.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (version INTEGER PRIMARY KEY, name TEXT NOT NULL)"
            )
            done = {r[0] for r in await c.fetch("SELECT version FROM schema_migrations")}
            for m in migrations():
                if m.version in done:
                    continue
                for statement in m.statements("postgresql"):
                    await c.execute(statement)
                await c.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    m.version,
                    m.name,
                )

    async def run_sql(self, statement: str) -> list[tuple[Any, ...]]:
        """One statement as it is (no ``?`` numbering), committed at once."""
        async with self._connection() as c:
            return [tuple(r) for r in await c.fetch(statement)]

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Conn]:
        if self._pool is None:
            raise StoreError("the store is not open")
        done = False
        try:
            async with self._pool.acquire() as conn:
                yield conn
                done = True
        except _TRANSIENT as exc:
            if done:
                # The work is done (a transaction committed); handing the connection
                # back failed (the server went away right after: the pool drops it).
                # Said as a failure, an append its producer retries would be kept twice.
                log.warning("connection lost after its work was done: %s", exc)
                return
            raise Unavailable(str(exc)) from exc

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Conn]:
        async with self._connection() as conn, conn.transaction():
            yield conn

    async def _take_turn(self, c: Conn, table: str) -> None:
        """Writers of ``table``'s rows take turns until the transaction ends, so that each
        new row takes the next creation sequence number (``seq``)."""
        await c.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self.lock_key(table))

    async def _insert_in_order(self, table: str, sql: str, *args: Any) -> None:
        async with self._transaction() as c:
            await self._take_turn(c, table)
            await c.execute(numbered(sql), *args)

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self._connection() as c:
            return list(await c.fetch(numbered(sql), *args))

    async def _fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        async with self._connection() as c:
            return await c.fetchrow(numbered(sql), *args)

    async def _execute(self, sql: str, *args: Any) -> str:
        async with self._connection() as c:
            return str(await c.execute(numbered(sql), *args))


def affected(status: str) -> int:
    """Rows an UPDATE or DELETE touched, from asyncpg's status (``UPDATE 3``)."""
    return int(status.rsplit(" ", 1)[-1])
