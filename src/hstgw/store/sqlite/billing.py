"""Usage, records, nodes and the online service's counters in SQLite."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from typing import Any

from hstgw.store import totals
from hstgw.store.base import (
    IngestResult,
    Node,
    OnlineUsage,
    Rater,
    RecordRow,
    TermSum,
)
from hstgw.store.sql import (
    INSERT_NODE,
    INSERT_RECORD,
    RECORD_COLUMNS,
    UPSERT_MONTHLY_SIGNALING,
    UPSERT_MONTHLY_USAGE,
    UPSERT_ONLINE_USAGE,
    plan_ingest,
    signaling_rows,
)
from hstgw.store.sqlite.engine import SqliteEngine, transaction
from hstgw.store.sqlite.usagekeys import UsageKeys

__all__ = ["BillingStore"]

log = logging.getLogger(__name__)


class BillingStore(SqliteEngine):
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
                INSERT_NODE,
                (node.node_id, node.name, key_hash, node.status, node.created_at),
            )
        )

    async def list_nodes(self) -> list[Node]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT node_id, name, status, created_at FROM nodes ORDER BY seq"
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
        keys = self._usage_keys

        def job(c: sqlite3.Connection) -> tuple[IngestResult, bool]:
            result, added = transaction(
                c, lambda c: _ingest(c, keys, events, rater, node_id, now, online_usage or [])
            )
            keys.added(added)  # committed: the memory level holds their keys
            return result, keys.merge_due()

        result, merge_due = await self._write(job, in_transaction=False)
        if merge_due and not self._merge_queued:
            # The sorted run is a writer's job of its own, after this reply: it held up
            # the reply of the batch that made it due (~0.1-0.5 s at 10,000,000 records).
            self._merge_queued = True
            try:
                self._writer.run(self._merge_keys).add_done_callback(self._merged)
            except RuntimeError:  # closing: the next start reads the keys from the records
                self._merge_queued = False
        return result

    def _merge_keys(self, c: sqlite3.Connection) -> None:
        # Due when queued, and nothing else merges (``_merge_queued``: one at a time).
        # The batches are kept whatever happens here: a failed run is tried again once
        # another batch is in (its keys stay in memory meanwhile).
        with contextlib.suppress(sqlite3.Error):
            self._usage_keys.merge(c)

    def _merged(self, fut: asyncio.Future[None]) -> None:
        self._merge_queued = False
        exc = None if fut.cancelled() else fut.exception()
        if exc is not None:  # (a bug's: SQLite's own errors are tried again)
            log.error("usage keys: a sorted run failed", exc_info=exc)

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
        self,
        dev_id: str,
        start: int,
        end: int,
        app_id: str | None,
        offset: int,
        limit: int,
        charge_term: int | None = None,
    ) -> tuple[int, list[RecordRow]]:
        # By app when one is named (its index), else by developer; both (…, start_time, record_id).
        args: list[Any]
        if app_id is None:
            where, args = "r.dev_id = ?", [dev_id]
        else:
            where, args = "r.app_id = ? AND r.dev_id = ?", [app_id, dev_id]
        if charge_term is not None:
            where, args = f"{where} AND r.charge_term = ?", [*args, charge_term]

        def work(c: sqlite3.Connection) -> tuple[int, list[RecordRow]]:
            c.execute("BEGIN")
            try:
                total = sum(
                    c.execute(sql, part).fetchone()[0]
                    for sql, part in totals.count_records(
                        where, args, start, end, dev_id, app_id, charge_term
                    )
                )
                # The page's keys from an index (the offset skips index entries, not
                # rows), then its rows: adjacent in the table, clustered by that key.
                rows = c.execute(
                    f"SELECT {RECORD_COLUMNS} FROM (SELECT r.dev_id, r.start_time,"
                    f" r.record_id FROM usage_records r WHERE {where}"
                    " AND r.start_time BETWEEN ? AND ?"
                    " ORDER BY r.start_time, r.record_id LIMIT ? OFFSET ?) k"
                    " CROSS JOIN usage_records r ON r.dev_id = k.dev_id"
                    " AND r.start_time = k.start_time AND r.record_id = k.record_id"
                    " JOIN apps a ON a.app_id = r.app_id ORDER BY r.start_time, r.record_id",
                    (*args, start, end, limit, offset),
                ).fetchall()
                return total, [RecordRow(*row) for row in rows]
            finally:
                c.execute("COMMIT")

        return await self._read(work)

    async def summarize(self, dev_id: str, month: str, app_id: str | None) -> list[TermSum]:
        sql, args = totals.SELECT_TOTALS, [dev_id, month]
        if app_id is not None:
            sql, args = f"{sql} AND t.app_id = ?", [*args, app_id]
        rows = await self._read(
            lambda c: c.execute(f"{sql} ORDER BY t.app_id, t.charge_term", args).fetchall()
        )
        return [totals.term_sum(row) for row in rows]

    async def spend_by_term(self, dev_id: str, month: str) -> list[tuple[int, int]]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT charge_term, sum(amount_hi), sum(amount_lo) FROM month_totals"
                " WHERE dev_id = ? AND month = ? GROUP BY charge_term ORDER BY charge_term",
                (dev_id, month),
            ).fetchall()
        )
        return [(int(term), totals.joined(hi, lo)) for term, hi, lo in rows]

    async def spend_by_app_term(self, dev_id: str, month: str) -> list[tuple[str, int, int, int]]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT app_id, charge_term, records, amount_hi, amount_lo FROM month_totals"
                " WHERE dev_id = ? AND month = ? ORDER BY app_id, charge_term",
                (dev_id, month),
            ).fetchall()
        )
        return [(app, int(term), n, totals.joined(hi, lo)) for app, term, n, hi, lo in rows]

    async def spend_buckets(
        self,
        dev_id: str,
        start: int,
        end: int,
        bucket_ms: int,
        app_id: str | None = None,
        charge_term: int | None = None,
    ) -> list[tuple[int, int]]:
        where, args = _spend_filter(dev_id, start, end, app_id, charge_term)
        rows = await self._read(
            lambda c: c.execute(
                "SELECT (start_time - ?) / ?, sum(amount_micro >> 32),"
                f" sum(amount_micro & 4294967295) FROM usage_records WHERE {where}"
                " GROUP BY 1 ORDER BY 1",
                (start, bucket_ms, *args),
            ).fetchall()
        )
        return [(int(b), (hi << 32) + lo) for b, hi, lo in rows]

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


_CHUNK = 500


def _spend_filter(
    dev_id: str, start: int, end: int, app_id: str | None, charge_term: int | None
) -> tuple[str, list[Any]]:
    # By app when one is named (its index), else by developer, as list_records.
    where, args = "dev_id = ? AND start_time BETWEEN ? AND ?", [dev_id, start, end]
    if app_id is not None:
        where, args = f"app_id = ? AND {where}", [app_id, *args]
    if charge_term is not None:
        where, args = f"{where} AND charge_term = ?", [*args, charge_term]
    return where, args


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
    keys: UsageKeys,
    events: list[Any],
    rater: Rater,
    node_id: str,
    now: int,
    online_usage: list[OnlineUsage],
) -> tuple[IngestResult, list[tuple[int, int]]]:
    seen, key_of = keys.seen(c, node_id, [e.event_id for e in events])
    app_ids = list({e.app_id for e in events})
    owners: dict[str, str] = {}
    for i in range(0, len(app_ids), _CHUNK):
        chunk = app_ids[i : i + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        owners.update(
            c.execute(f"SELECT app_id, dev_id FROM apps WHERE app_id IN ({marks})", chunk)
        )
    signaling = _SignalingSoFar(c)
    last = c.execute("SELECT COALESCE(MAX(record_id), 0) FROM usage_records").fetchone()[0]
    plan = plan_ingest(events, seen, owners, signaling, rater, node_id, now, last)
    c.executemany(INSERT_RECORD, plan.records)
    c.executemany(UPSERT_MONTHLY_SIGNALING, signaling_rows(signaling))
    c.executemany(UPSERT_MONTHLY_USAGE, plan.usage_rows())
    c.executemany(totals.UPSERT_MONTH_TOTALS, plan.totals.rows())
    c.executemany(totals.UPSERT_RECORD_HOURS, plan.hour_rows())
    c.executemany(totals.UPSERT_DEV_HOURS, plan.dev_hour_rows())
    c.executemany(totals.UPSERT_DEV_SLICES, plan.dev_slice_rows())
    if online_usage:
        _add_online_usage(c, online_usage, now)
    touched = frozenset((app, month) for app, month, _ in plan.usage)
    added = [(key_of[r[1]], r[0]) for r in plan.records]
    return IngestResult(len(plan.records), plan.duplicates, touched), added


def _add_online_usage(c: sqlite3.Connection, rows: list[OnlineUsage], now: int) -> None:
    c.executemany(
        UPSERT_ONLINE_USAGE, [(r.app_id, r.day, r.signaling, r.peak_terminals, now) for r in rows]
    )
