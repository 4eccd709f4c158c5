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
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, TypeVar

from hstgw.store.base import (
    AccessTokenState,
    App,
    AppPatch,
    AppService,
    Conflict,
    Developer,
    IngestResult,
    Node,
    OnlineUsage,
    Rater,
    RecordRow,
    Store,
    StoreError,
    TermSum,
    Unavailable,
    UnknownApp,
)
from hstgw.store.bridge import SqliteBridge
from hstgw.store.migrations import migrations

__all__ = ["SqliteStore"]

T = TypeVar("T")
_BUSY_TIMEOUT_MS = 5000
_CACHE_KIB = 128 * 1024
_MMAP_BYTES = 1024 * 1024 * 1024
_CHECKPOINT_PAGES = 8192

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
    # Billing tables reach millions of rows: keep their index pages in memory (the
    # 2 MiB default makes every insert and query read pages back from the OS).
    conn.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
    conn.execute(f"PRAGMA mmap_size = {_MMAP_BYTES}")
    # Checkpoint the WAL every 32 MiB rather than 4: pages written by every batch of
    # usage (the ends of the indexes) are copied back once per checkpoint, not per batch.
    conn.execute(f"PRAGMA wal_autocheckpoint = {_CHECKPOINT_PAGES}")
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
        await self._write(lambda c: _add_online_usage(c, rows, now))

    async def online_usage(self, app_id: str) -> list[OnlineUsage]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT app_id, day, signaling, peak_terminals FROM online_usage"
                " WHERE app_id = ? ORDER BY day",
                (app_id,),
            ).fetchall()
        )
        return [OnlineUsage(*row) for row in rows]

    # nodes

    async def create_node(self, node: Node, key_hash: str) -> None:
        await self._write(
            lambda c: c.execute(
                "INSERT INTO nodes (node_id, name, key_hash, status, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (node.node_id, node.name, key_hash, node.status, node.created_at),
            )
        )

    async def list_nodes(self) -> list[Node]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT node_id, name, status, created_at FROM nodes ORDER BY created_at, node_id"
            ).fetchall()
        )
        return [Node(*row) for row in rows]

    async def revoke_node(self, node_id: str) -> bool:
        return await self._write(
            lambda c: (
                c.execute(
                    "UPDATE nodes SET status = 'revoked' WHERE node_id = ?", (node_id,)
                ).rowcount
                > 0
            )
        )

    async def node_by_key(self, key_hash: str) -> Node | None:
        row = await self._read(
            lambda c: c.execute(
                "SELECT node_id, name, status, created_at FROM nodes WHERE key_hash = ?",
                (key_hash,),
            ).fetchone()
        )
        return Node(*row) if row else None

    # usage and records

    async def ingest(
        self,
        events: list[Any],
        rater: Rater,
        node_id: str,
        now: int,
        online_usage: list[OnlineUsage] | None = None,
    ) -> IngestResult:
        return await self._write(
            lambda c: _ingest(c, events, rater, node_id, now, online_usage or [])
        )

    async def month_usage(self, app_id: str, month: str) -> dict[int, tuple[int, int]]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT service_id, use_quantity, amount_micro FROM monthly_usage"
                " WHERE app_id = ? AND month = ?",
                (app_id, month),
            ).fetchall()
        )
        return {sid: (use, amount) for sid, use, amount in rows}

    async def list_records(
        self, dev_id: str, start: int, end: int, app_id: str | None, offset: int, limit: int
    ) -> tuple[int, list[RecordRow]]:
        # By app when one is named (its index), else by developer; both (…, start_time, record_id).
        if app_id is None:
            where, args = "r.dev_id = ?", [dev_id]
        else:
            where, args = "r.app_id = ? AND r.dev_id = ?", [app_id, dev_id]

        def work(c: sqlite3.Connection) -> tuple[int, list[RecordRow]]:
            c.execute("BEGIN")
            try:
                total = c.execute(
                    f"SELECT count(*) FROM usage_records r WHERE {where}"
                    " AND r.start_time BETWEEN ? AND ?",
                    (*args, start, end),
                ).fetchone()[0]
                rows = c.execute(
                    f"SELECT {_RECORD_COLUMNS} FROM usage_records r"
                    " JOIN apps a ON a.app_id = r.app_id"
                    f" WHERE {where} AND r.start_time BETWEEN ? AND ?"
                    " ORDER BY r.start_time, r.record_id LIMIT ? OFFSET ?",
                    (*args, start, end, limit, offset),
                ).fetchall()
                return total, [RecordRow(*row) for row in rows]
            finally:
                c.execute("COMMIT")

        return await self._read(work)

    async def summarize(
        self, dev_id: str, start: int, end: int, app_id: str | None
    ) -> list[TermSum]:
        app_filter = "" if app_id is None else " AND r.app_id = ?"
        args = (dev_id, start, end) if app_id is None else (dev_id, start, end, app_id)
        rows = await self._read(
            lambda c: c.execute(
                "SELECT r.app_id, a.app_name, r.charge_term, count(*), sum(r.amount_micro),"
                " sum(r.total_time), sum(r.total_sig_num), group_concat(r.quantity, ' ')"
                " FROM usage_records r JOIN apps a ON a.app_id = r.app_id"
                f" WHERE r.dev_id = ? AND r.start_time BETWEEN ? AND ?{app_filter}"
                " GROUP BY r.app_id, a.app_name, r.charge_term ORDER BY r.app_id, r.charge_term",
                args,
            ).fetchall()
        )
        return [
            TermSum(app, name, term, n, amount, time, sig, str(sum(map(Decimal, qs.split()))))
            for app, name, term, n, amount, time, sig, qs in rows
        ]

    async def unrated_peaks(self, before_day: str) -> list[OnlineUsage]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT app_id, day, signaling, peak_terminals FROM online_usage"
                " WHERE rated = 0 AND day < ? ORDER BY day, app_id",
                (before_day,),
            ).fetchall()
        )
        return [OnlineUsage(*row) for row in rows]

    async def mark_peaks_rated(self, rows: list[OnlineUsage]) -> None:
        await self._write(
            lambda c: c.executemany(
                "UPDATE online_usage SET rated = 1 WHERE app_id = ? AND day = ?",
                [(r.app_id, r.day) for r in rows],
            )
        )


_RECORD_COLUMNS = (
    "r.record_id, r.event_id, r.app_id, a.app_name, r.charge_term, r.product_id, r.start_time,"
    " r.end_time, r.total_time, r.group_id, r.user_id, r.client_id, r.stream_id, r.resolution,"
    " r.transfer_type, r.total_sig_num, r.quantity, r.parties, r.price_micro, r.amount_micro"
)
_CHUNK = 500


class _SignalingSoFar(dict[tuple[str, str], int]):
    """Receptions per (developer, month), read from the store on first use."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__()
        self._conn = conn

    def __missing__(self, key: tuple[str, str]) -> int:
        row = self._conn.execute(
            "SELECT receptions FROM monthly_signaling WHERE dev_id = ? AND month = ?", key
        ).fetchone()
        self[key] = value = row[0] if row else 0
        return value


def _ingest(
    c: sqlite3.Connection,
    events: list[Any],
    rater: Rater,
    node_id: str,
    now: int,
    online_usage: list[OnlineUsage],
) -> IngestResult:
    seen: set[str] = set()
    ids = [e.event_id for e in events]
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        seen.update(
            row[0]
            for row in c.execute(
                f"SELECT event_id FROM usage_records WHERE event_id IN ({marks})", chunk
            )
        )
    app_ids = list({e.app_id for e in events})
    owners: dict[str, str] = {}
    for i in range(0, len(app_ids), _CHUNK):
        chunk = app_ids[i : i + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        owners.update(
            c.execute(f"SELECT app_id, dev_id FROM apps WHERE app_id IN ({marks})", chunk)
        )
    for index, e in enumerate(events):
        if e.app_id not in owners:
            raise UnknownApp(index)
    signaling = _SignalingSoFar(c)
    rows = []
    usage: dict[tuple[str, str, int], list[int]] = {}
    duplicates = 0
    next_id = c.execute("SELECT COALESCE(MAX(record_id), 0) FROM usage_records").fetchone()[0]
    for e in events:
        if e.event_id in seen:
            duplicates += 1
            continue
        seen.add(e.event_id)
        r = rater(e, owners[e.app_id], signaling)
        next_id += 1
        price, amount = r.price_micro, r.amount_micro
        rows.append(
            (
                next_id,
                e.event_id,
                r.dev_id,
                e.app_id,
                e.charge_term,
                r.product_id,
                e.start_time,
                e.end_time,
                r.total_time,
                e.group_id,
                e.user_id,
                e.client_id,
                e.stream_id,
                e.resolution,
                e.transfer_type,
                e.total_sig_num,
                r.billed_sig_num,
                str(e.quantity),
                e.parties,
                price,
                amount,
                node_id,
                now,
            )
        )
        acc = usage.setdefault((e.app_id, r.month, r.product_id), [0, 0])
        acc[0] += r.use
        acc[1] += amount
    c.executemany(
        "INSERT INTO usage_records (record_id, event_id, dev_id, app_id, charge_term, product_id,"
        " start_time, end_time, total_time, group_id, user_id, client_id, stream_id, resolution,"
        " transfer_type, total_sig_num, billed_sig_num, quantity, parties, price_micro,"
        " amount_micro, node_id, received_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    c.executemany(
        "INSERT INTO monthly_signaling (dev_id, month, receptions) VALUES (?, ?, ?)"
        " ON CONFLICT (dev_id, month) DO UPDATE SET receptions = excluded.receptions",
        [(dev, month, n) for (dev, month), n in signaling.items()],
    )
    c.executemany(
        "INSERT INTO monthly_usage (app_id, month, service_id, use_quantity, amount_micro)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (app_id, month, service_id) DO UPDATE SET"
        " use_quantity = monthly_usage.use_quantity + excluded.use_quantity,"
        " amount_micro = monthly_usage.amount_micro + excluded.amount_micro",
        [(app, month, sid, use, amount) for (app, month, sid), (use, amount) in usage.items()],
    )
    if online_usage:
        _add_online_usage(c, online_usage, now)
    return IngestResult(len(rows), duplicates, frozenset((app, month) for app, month, _ in usage))


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


def _add_online_usage(c: sqlite3.Connection, rows: list[OnlineUsage], now: int) -> None:
    c.executemany(
        "INSERT INTO online_usage (app_id, day, signaling, peak_terminals, updated_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (app_id, day) DO UPDATE SET"
        " signaling = online_usage.signaling + excluded.signaling,"
        " peak_terminals = CASE WHEN excluded.peak_terminals > online_usage.peak_terminals"
        " THEN excluded.peak_terminals ELSE online_usage.peak_terminals END,"
        " updated_at = excluded.updated_at",
        [(r.app_id, r.day, r.signaling, r.peak_terminals, now) for r in rows],
    )


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
