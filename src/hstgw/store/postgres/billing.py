"""Usage, records, nodes and the online service's counters in PostgreSQL."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from hstgw.store import totals
from hstgw.store.base import IngestResult, Node, OnlineUsage, Rater, RecordRow, TermSum
from hstgw.store.postgres.engine import Conn, PostgresEngine, affected
from hstgw.store.sql import (
    INSERT_NODE,
    INSERT_RECORD,
    RECORD_COLUMNS,
    UPSERT_MONTHLY_SIGNALING,
    UPSERT_MONTHLY_USAGE,
    UPSERT_ONLINE_USAGE,
    numbered,
    plan_ingest,
    signaling_rows,
)

__all__ = ["BillingStore"]


class BillingStore(PostgresEngine):
    # online usage

    async def add_online_usage(self, rows: list[OnlineUsage], now: int) -> None:
        async with self._connection() as c:
            await _add_online_usage(c, rows, now)

    async def online_usage(self, app_id: str) -> list[OnlineUsage]:
        rows = await self._fetch(
            "SELECT app_id, day, signaling, peak_terminals FROM online_usage"
            " WHERE app_id = ? ORDER BY day",
            app_id,
        )
        return [OnlineUsage(*row) for row in rows]

    # nodes

    async def create_node(self, node: Node, key_hash: str) -> None:
        await self._insert_in_order(
            "nodes", INSERT_NODE,
            node.node_id, node.name, key_hash, node.status, node.created_at,
        )  # fmt: skip

    async def list_nodes(self) -> list[Node]:
        rows = await self._fetch("SELECT node_id, name, status, created_at FROM nodes ORDER BY seq")
        return [Node(*row) for row in rows]

    async def revoke_node(self, node_id: str) -> bool:
        status = await self._execute(
            "UPDATE nodes SET status = 'revoked' WHERE node_id = ?", node_id
        )
        return affected(status) > 0

    async def node_by_key(self, key_hash: str) -> Node | None:
        row = await self._fetchrow(
            "SELECT node_id, name, status, created_at FROM nodes WHERE key_hash = ?", key_hash
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
        async with self._transaction() as c:
            # Ingestions run one at a time, so that the free quota is counted in arrival
            # order and record ids rise with it.
            await c.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self.lock_key("ingest"))
            seen = {
                r[0]
                for r in await c.fetch(
                    "SELECT event_id FROM usage_records"
                    " WHERE node_id = $1 AND event_id = ANY($2::text[])",
                    node_id,
                    [e.event_id for e in events],
                )
            }
            owners = {
                r[0]: r[1]
                for r in await c.fetch(
                    "SELECT app_id, dev_id FROM apps WHERE app_id = ANY($1::text[])",
                    list({e.app_id for e in events}),
                )
            }
            signaling: defaultdict[tuple[str, str], int] = defaultdict(int)
            for dev_id, month, receptions in await c.fetch(
                "SELECT dev_id, month, receptions FROM monthly_signaling"
                " WHERE dev_id = ANY($1::text[])",
                list(set(owners.values())),
            ):
                signaling[(dev_id, month)] = receptions
            last = await c.fetchval("SELECT COALESCE(MAX(record_id), 0) FROM usage_records")
            plan = plan_ingest(events, seen, owners, signaling, rater, node_id, now, last)
            await c.executemany(numbered(INSERT_RECORD), plan.records)
            await c.executemany(numbered(UPSERT_MONTHLY_SIGNALING), signaling_rows(signaling))
            await c.executemany(numbered(UPSERT_MONTHLY_USAGE), plan.usage_rows())
            await c.executemany(numbered(totals.UPSERT_MONTH_TOTALS), plan.totals.rows())
            await c.executemany(numbered(totals.UPSERT_RECORD_HOURS), plan.hour_rows())
            await c.executemany(numbered(totals.UPSERT_DEV_HOURS), plan.dev_hour_rows())
            await c.executemany(numbered(totals.UPSERT_DEV_SLICES), plan.dev_slice_rows())
            if online_usage:
                await _add_online_usage(c, online_usage, now)
        touched = frozenset((app, month) for app, month, _ in plan.usage)
        return IngestResult(len(plan.records), plan.duplicates, touched)

    async def month_usage(self, app_id: str, month: str) -> dict[int, tuple[int, int]]:
        rows = await self._fetch(
            "SELECT service_id, use_quantity, amount_micro FROM monthly_usage"
            " WHERE app_id = ? AND month = ?",
            app_id, month,
        )  # fmt: skip
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
        args: list[Any]
        if app_id is None:
            where, args = "r.dev_id = ?", [dev_id]
        else:
            where, args = "r.app_id = ? AND r.dev_id = ?", [app_id, dev_id]
        if charge_term is not None:
            where, args = f"{where} AND r.charge_term = ?", [*args, charge_term]
        counts = totals.count_records(where, args, start, end, dev_id, app_id, charge_term)
        page = numbered(
            f"SELECT {RECORD_COLUMNS} FROM usage_records r JOIN apps a ON a.app_id = r.app_id"
            f" WHERE {where} AND r.start_time BETWEEN ? AND ?"
            " ORDER BY r.start_time, r.record_id LIMIT ? OFFSET ?"
        )
        async with self._connection() as c, c.transaction(isolation="repeatable_read"):
            total = sum([int(await c.fetchval(numbered(sql), *part)) for sql, part in counts])
            rows = await c.fetch(page, *args, start, end, limit, offset)
        return int(total), [RecordRow(*row) for row in rows]

    async def summarize(self, dev_id: str, month: str, app_id: str | None) -> list[TermSum]:
        sql, args = totals.SELECT_TOTALS, [dev_id, month]
        if app_id is not None:
            sql, args = f"{sql} AND t.app_id = ?", [*args, app_id]
        rows = await self._fetch(f"{sql} ORDER BY t.app_id, t.charge_term", *args)
        return [totals.term_sum(row) for row in rows]

    async def spend_by_term(self, dev_id: str, month: str) -> list[tuple[int, int]]:
        rows = await self._fetch(
            "SELECT charge_term, sum(amount_hi), sum(amount_lo) FROM month_totals"
            " WHERE dev_id = ? AND month = ? GROUP BY 1 ORDER BY 1",
            dev_id,
            month,
        )
        return [(int(term), totals.joined(hi, lo)) for term, hi, lo in rows]

    async def spend_by_app_term(self, dev_id: str, month: str) -> list[tuple[str, int, int, int]]:
        rows = await self._fetch(
            "SELECT app_id, charge_term, records, amount_hi, amount_lo FROM month_totals"
            " WHERE dev_id = ? AND month = ? ORDER BY 1, 2",
            dev_id,
            month,
        )
        return [(app, int(term), int(n), totals.joined(hi, lo)) for app, term, n, hi, lo in rows]

    async def spend_buckets(
        self,
        dev_id: str,
        start: int,
        end: int,
        bucket_ms: int,
        app_id: str | None = None,
        charge_term: int | None = None,
    ) -> list[tuple[int, int]]:
        where, args = "dev_id = ? AND start_time BETWEEN ? AND ?", [dev_id, start, end]
        if app_id is not None:
            where, args = f"app_id = ? AND {where}", [app_id, *args]
        if charge_term is not None:
            where, args = f"{where} AND charge_term = ?", [*args, charge_term]
        rows = await self._fetch(
            "SELECT (start_time - ?::bigint) / ?::bigint, sum(amount_micro) FROM usage_records"
            f" WHERE {where} GROUP BY 1 ORDER BY 1",
            start,
            bucket_ms,
            *args,
        )
        return [(int(b), int(amount)) for b, amount in rows]

    async def unrated_peaks(self, before_day: str) -> list[OnlineUsage]:
        rows = await self._fetch(
            "SELECT app_id, day, signaling, peak_terminals FROM online_usage"
            " WHERE rated = 0 AND day < ? ORDER BY day, app_id",
            before_day,
        )
        return [OnlineUsage(*row) for row in rows]

    async def mark_peaks_rated(self, rows: list[OnlineUsage]) -> None:
        async with self._connection() as c:
            await c.executemany(
                "UPDATE online_usage SET rated = 1 WHERE app_id = $1 AND day = $2",
                [(r.app_id, r.day) for r in rows],
            )


async def _add_online_usage(c: Conn, rows: list[OnlineUsage], now: int) -> None:
    await c.executemany(
        numbered(UPSERT_ONLINE_USAGE),
        [(r.app_id, r.day, r.signaling, r.peak_terminals, now) for r in rows],
    )
