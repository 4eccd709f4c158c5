"""The SQLite engine: connections, transactions, migrations, the data-dir lock.

Two connections, each on its own bridge thread: reads never queue behind a write
(WAL lets them run beside it), and writes are serialized with ``BEGIN IMMEDIATE``
so that a transaction never has to upgrade its lock. The operator CLI may write
developers into the same file at the same time; ``busy_timeout`` covers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

from hstgw.secretbox import KEY_FILE, SecretBox, SecretBoxError, load_or_make_key
from hstgw.store import sql, totals
from hstgw.store.app_cache import AppCache
from hstgw.store.base import (
    StoreError,
    Unavailable,
)
from hstgw.store.bridge import SqliteBridge
from hstgw.store.migrations import migrations
from hstgw.store.sqlite.checkpointer import Checkpointer
from hstgw.store.sqlite.usagekeys import UsageKeys

__all__ = ["SqliteEngine", "transaction"]

T = TypeVar("T")

_BUSY_TIMEOUT_MS = 5000
# The WAL is checkpointed by its own thread (checkpointer.py) every 8,192 pages (32 MiB)
# and started over past 32,768 (128 MiB, the old automatic checkpoint's size, set for
# billing's ingestion). Off the writer, smaller checkpoints spread the copying: the
# events bench's webhook p99 was 17-59 ms at 8,192, 47-77 ms at 32,768; billing's rate
# the same within noise.
_CHECKPOINT_PAGES = 8192
_RESTART_PAGES = 32768
_SYNCHRONOUS = {"normal": "NORMAL", "full": "FULL"}


def _connect(path: Path, cache_mib: int, synchronous: str = "normal") -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=_BUSY_TIMEOUT_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    # NORMAL in WAL mode: a commit survives the process (the WAL is written before the
    # commit returns), not a power loss; FULL syncs the WAL at every commit.
    conn.execute(f"PRAGMA synchronous = {_SYNCHRONOUS[synchronous]}")
    conn.execute("PRAGMA foreign_keys = ON")
    # Billing tables reach millions of rows: keep their index pages in memory (the
    # 2 MiB default makes every insert and query read pages back from the OS).
    conn.execute(f"PRAGMA cache_size = -{cache_mib * 1024}")
    conn.execute(f"PRAGMA mmap_size = {cache_mib * 8 * 1024 * 1024}")
    # No connection checkpoints at its commits (the committing writer would wait for the
    # copy and its sync): the checkpointer's thread does. (The WAL's file is not cut
    # back when it starts over: a truncation of 128 MiB in a commit took ~45 ms.)
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    return conn


def transaction(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
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

        transaction(conn, apply)


class SqliteEngine:
    """The connections and their threads; the parts of the store build on it."""

    def __init__(
        self,
        path: Path,
        *,
        serving: bool = False,
        app_cache_size: int = 100_000,
        box: SecretBox | None = None,
        cache_mib: int = 128,
        synchronous: str = "normal",
        zone: str = "Asia/Shanghai",
    ) -> None:
        self.path = path
        self._zone = zone  # the months of month_totals (totals.py)
        # Secrets at rest; without a master key, the one kept beside the database.
        self._box = box or SecretBox(load_or_make_key(path.parent / KEY_FILE))
        self._serving = serving
        self._lock_file: IO[bytes] | None = None
        self._reader = SqliteBridge(lambda: _connect(path, cache_mib), "hstgw-sqlite-read")
        self._writer = SqliteBridge(
            lambda: _connect(path, cache_mib, synchronous), "hstgw-sqlite-write"
        )
        self._checkpointer = Checkpointer(
            lambda: _connect(path, cache_mib, synchronous),
            path,
            pages=_CHECKPOINT_PAGES,
            restart_pages=_RESTART_PAGES,
            finish=self._finish_checkpoint,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._apps = AppCache(app_cache_size if serving else 0)
        self._usage_keys = UsageKeys()  # usage events' duplicate check (usagekeys.py)
        self._merge_queued = False  # a run of usage keys is queued on the writer

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._serving:
            self._lock_file = _lock(self.path.parent / "hstgw.lock")
        await self._writer.start()
        await self._write(_migrate, in_transaction=False)
        try:
            await self._write(lambda c: _seal_plaintext(c, self._box))
        except SecretBoxError as exc:
            await self.close()
            raise StoreError(str(exc)) from None
        await self._write(lambda c: _month_totals_in(c, self._zone))
        await self._write(self._usage_keys.load, in_transaction=False)
        await self._reader.start()
        self._loop = asyncio.get_running_loop()
        self._checkpointer.start()

    async def close(self) -> None:
        # First: a checkpoint under way ends before the connections it copies for close.
        await asyncio.to_thread(self._checkpointer.stop)
        await self._reader.close()
        await self._writer.close()
        if self._lock_file is not None:
            self._lock_file.close()  # releases the lock
            self._lock_file = None

    def _finish_checkpoint(self) -> None:
        """From the checkpointer's thread: the writer copies the WAL's last frames."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop has closed: store going away
            loop.call_soon_threadsafe(self._queue_finish)

    def _queue_finish(self) -> None:
        try:
            fut = self._writer.run(_passive_checkpoint)
        except RuntimeError:  # closing
            return
        fut.add_done_callback(_ignore_outcome)

    async def maintain(self) -> None:
        """Nothing to repair: a file does not go away under its process as a server can."""

    async def run_sql(self, statement: str) -> list[tuple[Any, ...]]:
        """One statement on the writing connection, in a transaction of its own."""
        return await self._write(lambda c: [tuple(r) for r in c.execute(statement).fetchall()])

    async def _read(self, job: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return await self._reader.run(job)
        except sqlite3.OperationalError as exc:
            raise _unavailable(exc) from exc

    async def _write(
        self, job: Callable[[sqlite3.Connection], T], *, in_transaction: bool = True
    ) -> T:
        try:
            if in_transaction:
                return await self._writer.run(lambda conn: transaction(conn, job))
            return await self._writer.run(job)
        except sqlite3.OperationalError as exc:
            raise _unavailable(exc) from exc


def _passive_checkpoint(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()


def _ignore_outcome(fut: asyncio.Future[None]) -> None:
    # A failed pass is tried again at the next: nothing waits for it.
    if not fut.cancelled():
        fut.exception()


def _seal_plaintext(c: sqlite3.Connection, box: SecretBox) -> int:
    """Seal the secrets written before secrets were sealed (once; then none are left)."""
    dev_rows = c.execute(sql.PLAIN_DEV_SECRETS).fetchall()
    c.executemany(sql.SEAL_DEV_SECRET, [(box.seal(v), k, v) for k, v in dev_rows])
    app_rows = c.execute(sql.PLAIN_APP_SECRETS).fetchall()
    c.executemany(sql.SEAL_APP_SECRET, [(box.seal(v), k, v) for k, v in app_rows])
    row = c.execute(sql.ANY_SEALED_SECRET).fetchone()
    if row is not None:
        box.open(row[0])  # the wrong key stops the start, not a login later
    return len(dev_rows) + len(app_rows)


def _month_totals_in(c: sqlite3.Connection, zone: str) -> None:
    """Fill month_totals from the records if its months are not ``zone``'s (a new
    table, or HSTGW_TIME_ZONE changed): once, in the transaction that says so."""
    row = c.execute(
        "SELECT value FROM store_state WHERE name = ?", (totals.MONTH_TOTALS_ZONE,)
    ).fetchone()
    if row is not None and row[0] == zone:
        return
    c.execute("DELETE FROM month_totals")
    made = totals.rebuild(c.execute(totals.SELECT_RECORDS_FOR_TOTALS), zone)
    c.executemany(totals.UPSERT_MONTH_TOTALS, made.rows())
    c.execute(
        "INSERT INTO store_state (name, value) VALUES (?, ?)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (totals.MONTH_TOTALS_ZONE, zone),
    )


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


_TRANSIENT = ("locked", "busy", "disk i/o", "unable to open", "full")


def _unavailable(exc: sqlite3.OperationalError) -> Exception:
    """Lock waits and I/O trouble are worth a retry; anything else is a bug."""
    text = str(exc).lower()
    return Unavailable(str(exc)) if any(t in text for t in _TRANSIENT) else exc
