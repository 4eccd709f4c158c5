"""The embedded store: one SQLite file in WAL mode.

Two connections, each on its own bridge thread: reads never queue behind a write
(WAL lets them run beside it), and writes are serialized with ``BEGIN IMMEDIATE``
so that a transaction never has to upgrade its lock. The operator CLI may write
developers into the same file at the same time; ``busy_timeout`` covers it.

The serving process takes ``hstgw.lock`` in the data directory, so it is the
only writer of apps; that makes its in-process app cache exact (a thread hop to
SQLite costs more than the rest of a ``GET /v1/app``: docs/performance.md).
"""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any, TypeVar

from hstgw.store.base import (
    AccessTokenState,
    App,
    AppPatch,
    AppService,
    Conflict,
    Developer,
    OnlineUsage,
    Store,
    StoreError,
    Unavailable,
)
from hstgw.store.bridge import SqliteBridge
from hstgw.store.migrations import migrations

__all__ = ["SqliteStore"]

T = TypeVar("T")
_BUSY_TIMEOUT_MS = 5000

_APP_COLUMNS = (
    "a.app_id, a.dev_id, a.app_name, a.app_secret, a.status, a.consumption_limit,"
    " a.created_at, a.updated_at, s.service_id, s.use_limit"
)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=_BUSY_TIMEOUT_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _transaction(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def _migrate(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations"
        " (version INTEGER PRIMARY KEY, name TEXT NOT NULL)"
    )
    for migration in migrations():

        def apply(c: sqlite3.Connection, m: Any = migration) -> None:
            done = c.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (m.version,)
            ).fetchone()
            if done:
                return
            for statement in m.statements():
                c.execute(statement)
            c.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (m.version, m.name)
            )

        _transaction(conn, apply)


def _apps_from_rows(rows: Iterable[tuple[Any, ...]]) -> list[App]:
    """Fold the app x service join (ordered by app) back into apps."""
    apps: list[App] = []
    current: list[Any] | None = None
    services: list[AppService] = []

    def flush() -> None:
        if current is not None:
            apps.append(App(*current[:6], tuple(services), *current[6:8]))  # type: ignore[call-arg]

    for row in rows:
        if current is None or row[0] != current[0]:
            flush()
            current = list(row[:8])
            services = []
        if row[8] is not None:
            services.append(AppService(row[8], row[9]))
    flush()
    return apps


def _developer(row: tuple[Any, ...] | None) -> Developer | None:
    return Developer(*row) if row else None


class SqliteStore(Store):
    """``serving=True``: take the data directory's lock and cache apps (the server);
    ``serving=False``: neither (the operator CLI, beside a running server)."""

    def __init__(self, path: Path, *, serving: bool = False, app_cache_size: int = 100_000) -> None:
        self.path = path
        self._serving = serving
        self._lock_file: IO[bytes] | None = None
        self._reader = SqliteBridge(lambda: _connect(path), "hstgw-sqlite-read")
        self._writer = SqliteBridge(lambda: _connect(path), "hstgw-sqlite-write")
        self._apps = _AppCache(app_cache_size if serving else 0)

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._serving:
            self._lock_file = _lock(self.path.parent / "hstgw.lock")
        await self._writer.start()
        await self._write(_migrate, transaction=False)
        await self._reader.start()

    async def close(self) -> None:
        await self._reader.close()
        await self._writer.close()
        if self._lock_file is not None:
            self._lock_file.close()  # releases the lock
            self._lock_file = None

    async def _read(self, job: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return await self._reader.run(job)
        except sqlite3.OperationalError as exc:
            raise _unavailable(exc) from exc

    async def _write(
        self, job: Callable[[sqlite3.Connection], T], *, transaction: bool = True
    ) -> T:
        try:
            if transaction:
                return await self._writer.run(lambda conn: _transaction(conn, job))
            return await self._writer.run(job)
        except sqlite3.OperationalError as exc:
            raise _unavailable(exc) from exc

    # developers

    async def create_developer(self, dev: Developer) -> None:
        await self._write(
            lambda c: c.execute(
                "INSERT INTO developers (dev_id, name, secret, status, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (dev.dev_id, dev.name, dev.secret, dev.status, dev.created_at),
            )
        )

    async def get_developer(self, dev_id: str) -> Developer | None:
        return await self._read(
            lambda c: _developer(
                c.execute(
                    "SELECT dev_id, name, secret, status, created_at FROM developers"
                    " WHERE dev_id = ?",
                    (dev_id,),
                ).fetchone()
            )
        )

    async def list_developers(self) -> list[Developer]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT dev_id, name, secret, status, created_at FROM developers"
                " ORDER BY created_at, dev_id"
            ).fetchall()
        )
        return [Developer(*row) for row in rows]

    async def set_developer_secret(self, dev_id: str, secret: str) -> bool:
        def work(c: sqlite3.Connection) -> bool:
            found = c.execute(
                "UPDATE developers SET secret = ? WHERE dev_id = ?", (secret, dev_id)
            ).rowcount
            c.execute("UPDATE access_tokens SET live = 0 WHERE dev_id = ? AND live = 1", (dev_id,))
            return bool(found)

        return await self._write(work)

    async def set_developer_status(self, dev_id: str, status: str) -> bool:
        def work(c: sqlite3.Connection) -> bool:
            found = c.execute(
                "UPDATE developers SET status = ? WHERE dev_id = ?", (status, dev_id)
            ).rowcount
            if status != "active":
                c.execute(
                    "UPDATE access_tokens SET live = 0 WHERE dev_id = ? AND live = 1", (dev_id,)
                )
            return bool(found)

        return await self._write(work)

    # access tokens

    async def issue_access_token(
        self, dev_id: str, token: str, now: int, expires_at: int, keep_until: int
    ) -> None:
        def work(c: sqlite3.Connection) -> None:
            c.execute(
                "DELETE FROM access_tokens WHERE dev_id = ? AND expires_at < ?",
                (dev_id, keep_until),
            )
            c.execute("UPDATE access_tokens SET live = 0 WHERE dev_id = ? AND live = 1", (dev_id,))
            c.execute(
                "INSERT INTO access_tokens (token, dev_id, issued_at, expires_at, live)"
                " VALUES (?, ?, ?, ?, 1)",
                (token, dev_id, now, expires_at),
            )

        await self._write(work)

    async def lookup_access_token(self, token: str) -> AccessTokenState | None:
        row = await self._read(
            lambda c: c.execute(
                "SELECT t.dev_id, t.expires_at, t.live, d.status FROM access_tokens t"
                " JOIN developers d ON d.dev_id = t.dev_id WHERE t.token = ?",
                (token,),
            ).fetchone()
        )
        if row is None:
            return None
        return AccessTokenState(row[0], row[1], bool(row[2]), row[3] == "active")

    # apps

    async def create_app(self, app: App) -> None:
        def work(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT INTO apps (app_id, dev_id, app_name, app_secret, status,"
                " consumption_limit, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    app.app_id,
                    app.dev_id,
                    app.app_name,
                    app.app_secret,
                    app.status,
                    app.consumption_limit,
                    app.created_at,
                    app.updated_at,
                ),
            )
            _insert_services(c, app.app_id, app.services)

        try:
            await self._write(work)
        except sqlite3.IntegrityError as exc:
            raise _conflict(exc) from exc
        self._apps.put(app)

    async def find_app(self, app_id: str) -> App | None:
        app = self._apps.get(app_id)
        if app is None:
            generation = self._apps.generation
            apps = await self._read(lambda c: _get_apps_any_dev(c, app_id))
            if not apps:
                return None
            app = apps[0]
            self._apps.fill(app, generation)
        return app

    async def list_apps(self, dev_id: str, offset: int, limit: int) -> tuple[int, list[App]]:
        def work(c: sqlite3.Connection) -> tuple[int, list[App]]:
            # One read transaction, so that total and page agree.
            c.execute("BEGIN")
            try:
                total = c.execute(
                    "SELECT count(*) FROM apps WHERE dev_id = ? AND deleted_at IS NULL", (dev_id,)
                ).fetchone()[0]
                ids = [
                    row[0]
                    for row in c.execute(
                        "SELECT app_id FROM apps WHERE dev_id = ? AND deleted_at IS NULL"
                        " ORDER BY created_at, app_id LIMIT ? OFFSET ?",
                        (dev_id, limit, offset),
                    )
                ]
                return total, _get_apps(c, dev_id, ids)
            finally:
                c.execute("COMMIT")

        return await self._read(work)

    async def update_app(self, dev_id: str, app_id: str, patch: AppPatch, now: int) -> App | None:
        def work(c: sqlite3.Connection) -> App | None:
            sets: list[str] = ["updated_at = ?"]
            args: list[Any] = [now]
            if patch.app_name is not None:
                sets.append("app_name = ?")
                args.append(patch.app_name)
            if patch.status is not None:
                sets.append("status = ?")
                args.append(patch.status)
            if patch.set_consumption_limit:
                sets.append("consumption_limit = ?")
                args.append(patch.consumption_limit)
            found = c.execute(
                f"UPDATE apps SET {', '.join(sets)}"
                " WHERE app_id = ? AND dev_id = ? AND deleted_at IS NULL",
                (*args, app_id, dev_id),
            ).rowcount
            if not found:
                return None
            if patch.services is not None:
                c.execute("DELETE FROM app_services WHERE app_id = ?", (app_id,))
                _insert_services(c, app_id, patch.services)
            return _get_apps(c, dev_id, [app_id])[0]

        try:
            app = await self._write(work)
        except sqlite3.IntegrityError as exc:
            raise _conflict(exc) from exc
        if app is not None:
            self._apps.put(app)
        return app

    async def delete_app(self, dev_id: str, app_id: str, now: int) -> bool:
        deleted = await self._write(
            lambda c: (
                c.execute(
                    "UPDATE apps SET deleted_at = ?, updated_at = ?"
                    " WHERE app_id = ? AND dev_id = ? AND deleted_at IS NULL",
                    (now, now, app_id, dev_id),
                ).rowcount
                > 0
            )
        )
        if deleted:
            self._apps.drop(app_id)
        return deleted

    # online usage

    async def add_online_usage(self, rows: list[OnlineUsage], now: int) -> None:
        await self._write(
            lambda c: c.executemany(
                "INSERT INTO online_usage (app_id, day, signaling, peak_terminals, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (app_id, day) DO UPDATE SET"
                " signaling = online_usage.signaling + excluded.signaling,"
                " peak_terminals = CASE WHEN excluded.peak_terminals > online_usage.peak_terminals"
                " THEN excluded.peak_terminals ELSE online_usage.peak_terminals END,"
                " updated_at = excluded.updated_at",
                [(r.app_id, r.day, r.signaling, r.peak_terminals, now) for r in rows],
            )
        )

    async def online_usage(self, app_id: str) -> list[OnlineUsage]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT app_id, day, signaling, peak_terminals FROM online_usage"
                " WHERE app_id = ? ORDER BY day",
                (app_id,),
            ).fetchall()
        )
        return [OnlineUsage(*row) for row in rows]


class _AppCache:
    """Live apps by id, filled on reads and kept exact by this process's writes.

    ``generation`` moves on every write, so a read that raced a write (and may
    have read the old row) does not fill the cache with it.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._apps: dict[str, App] = {}
        self.generation = 0

    def get(self, app_id: str) -> App | None:
        return self._apps.get(app_id)

    def fill(self, app: App, generation: int) -> None:
        if self._capacity and generation == self.generation:
            self._insert(app)

    def put(self, app: App) -> None:
        self.generation += 1
        if self._capacity:
            self._insert(app)

    def drop(self, app_id: str) -> None:
        self.generation += 1
        self._apps.pop(app_id, None)

    def _insert(self, app: App) -> None:
        if app.app_id not in self._apps and len(self._apps) >= self._capacity:
            del self._apps[next(iter(self._apps))]  # the oldest entry
        self._apps[app.app_id] = app


def _lock(path: Path) -> IO[bytes]:
    handle = path.open("ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise StoreError(
            f"{path.parent} is in use by another hstgw server; "
            "run one server per data directory (or use cluster mode)"
        ) from None
    return handle


def _insert_services(c: sqlite3.Connection, app_id: str, services: Iterable[AppService]) -> None:
    c.executemany(
        "INSERT INTO app_services (app_id, service_id, use_limit) VALUES (?, ?, ?)",
        [(app_id, s.service_id, s.use_limit) for s in services],
    )


def _get_apps_any_dev(c: sqlite3.Connection, app_id: str) -> list[App]:
    rows = c.execute(
        f"SELECT {_APP_COLUMNS} FROM apps a LEFT JOIN app_services s ON s.app_id = a.app_id"
        " WHERE a.app_id = ? AND a.deleted_at IS NULL ORDER BY s.service_id",
        (app_id,),
    ).fetchall()
    return _apps_from_rows(rows)


def _get_apps(c: sqlite3.Connection, dev_id: str, app_ids: list[str]) -> list[App]:
    if not app_ids:
        return []
    marks = ", ".join("?" * len(app_ids))
    rows = c.execute(
        f"SELECT {_APP_COLUMNS} FROM apps a LEFT JOIN app_services s ON s.app_id = a.app_id"
        f" WHERE a.dev_id = ? AND a.deleted_at IS NULL AND a.app_id IN ({marks})"
        " ORDER BY a.created_at, a.app_id, s.service_id",
        (dev_id, *app_ids),
    ).fetchall()
    return _apps_from_rows(rows)


_TRANSIENT = ("locked", "busy", "disk i/o", "unable to open", "full")


def _unavailable(exc: sqlite3.OperationalError) -> Exception:
    """Lock waits and I/O trouble are worth a retry; anything else is a bug."""
    text = str(exc).lower()
    return Unavailable(str(exc)) if any(t in text for t in _TRANSIENT) else exc


def _conflict(exc: sqlite3.IntegrityError) -> Exception:
    if "app_name" in str(exc):
        return Conflict("app_name")
    return exc
