"""The event log and its groups in PostgreSQL.

An append locks the head rows of its apps (``FOR UPDATE``, in app order) before it
reads the groups: appends of one app take turns across every node, so its versions
follow each other without a gap and the limits are checked against the groups as
they are. Snapshots read in one repeatable-read transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hstgw.events.model import Event, GroupSnapshot
from hstgw.store.eventplan import (
    AppendPlan,
    Batch,
    GroupLimits,
    Reads,
    event_from_row,
    plan_append,
    snapshot_groups,
    touched,
)
from hstgw.store.postgres.engine import Conn, PostgresEngine, affected

__all__ = ["EventStore"]


class EventStore(PostgresEngine):
    async def append_events(self, batch: Batch, limits: GroupLimits, now: int) -> AppendPlan:
        async with self._transaction() as c:
            plan = plan_append(batch, await _read_touched(c, batch, now), limits, now)
            await _write(c, plan)
            return plan

    async def event_version(self, app_id: str) -> int:
        row = await self._fetchrow("SELECT version FROM event_heads WHERE app_id = ?", app_id)
        return int(row[0]) if row else 0

    async def events_after(self, app_id: str, version: int, limit: int) -> list[Event] | None:
        async with self._connection() as c:
            # (the events, then what was pruned: see the SQLite twin)
            rows = await c.fetch(
                "SELECT app_id, version, kind, at_ms, body FROM events"
                " WHERE app_id = $1 AND version > $2 ORDER BY version LIMIT $3",
                app_id,
                version,
                limit,
            )
            pruned = await c.fetchval("SELECT pruned FROM event_heads WHERE app_id = $1", app_id)
        if pruned is not None and version < pruned:
            return None
        return [event_from_row(*row) for row in rows]

    async def group_snapshot(self, app_id: str, group_ids: list[str] | None) -> GroupSnapshot:
        args: list[Any] = [app_id]
        where = "app_id = $1"
        if group_ids is not None:
            where, args = "app_id = $1 AND group_id = ANY($2::text[])", [app_id, group_ids]
        async with (
            self._connection() as c,
            c.transaction(isolation="repeatable_read", readonly=True),
        ):
            version = await c.fetchval("SELECT version FROM event_heads WHERE app_id = $1", app_id)
            members = await c.fetch(
                f"SELECT group_id, user_id FROM group_members WHERE {where}"
                " ORDER BY group_id, joined_at, user_id",
                *args,
            )
            media = await c.fetch(
                "SELECT group_id, user_id, media_id, media_type FROM group_media"
                f" WHERE {where} ORDER BY group_id, started_at, user_id, media_id",
                *args,
            )
        return GroupSnapshot(
            app_id,
            int(version or 0),
            snapshot_groups([tuple(r) for r in members], [tuple(r) for r in media]),
        )

    async def event_heads(self, since: int) -> dict[str, int]:
        rows = await self._fetch(
            "SELECT app_id, version FROM event_heads WHERE updated_at >= ?", since
        )
        return {r[0]: int(r[1]) for r in rows}

    async def members_of_node(self, node: str) -> list[tuple[str, str, str, str]]:
        rows = await self._fetch(
            "SELECT app_id, group_id, user_id, holder FROM group_members WHERE node = ?"
            " ORDER BY app_id, joined_at",
            node,
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def member_nodes(self) -> list[str]:
        return [r[0] for r in await self._fetch("SELECT DISTINCT node FROM group_members")]

    async def prune_events(self, before: int) -> int:
        async with self._transaction() as c:
            last = await c.fetch(
                "SELECT app_id, max(version) FROM events WHERE at_ms < $1"
                " GROUP BY app_id ORDER BY app_id",
                before,
            )
            gone = 0
            for app_id, version in last:
                # under the head's lock: an append of the app waits, and after() sees both
                await c.execute(
                    "UPDATE event_heads SET pruned = GREATEST(pruned, $2) WHERE app_id = $1",
                    app_id,
                    version,
                )
                status = await c.execute(
                    "DELETE FROM events WHERE app_id = $1 AND version <= $2", app_id, version
                )
                gone += affected(status)
            await c.execute("DELETE FROM event_keys WHERE at_ms < $1", before)
            return gone


async def _read_touched(c: Conn, batch: Batch, now: int) -> Reads:
    t = touched(batch)
    reads = Reads()
    # The heads, locked in app order, in one statement: a first event makes its app's;
    # an existing head is "updated" to itself, which locks it as FOR UPDATE would and
    # returns its version as the holder before us left it.
    for app_id, version in await c.fetch(
        "INSERT INTO event_heads AS h (app_id, version, updated_at)"
        " SELECT a, 0, $2 FROM unnest($1::text[]) AS a ORDER BY a"
        " ON CONFLICT (app_id) DO UPDATE SET updated_at = h.updated_at"
        " RETURNING app_id, version",
        t.apps,
        now,
    ):
        reads.versions[app_id] = int(version)
    # What the plan needs of the groups, in one more statement (one round trip).
    parts: list[str] = []
    args: list[list[str]] = []

    def arrays(rows: Sequence[tuple[str, ...]], width: int) -> str:
        first = len(args) + 1
        args.extend([r[i] for r in rows] for i in range(width))
        cols = ", ".join(f"${first + i}::text[]" for i in range(width))
        return f"unnest({cols})"

    if t.users:
        users = arrays(t.users, 3) + " AS t (app_id, group_id, user_id)"
        parts += [
            "SELECT 'm', m.app_id, m.group_id, m.user_id, m.holder, m.node, NULL::bigint"
            f" FROM {users} JOIN group_members m USING (app_id, group_id, user_id)",
            "SELECT 'd', m.app_id, m.group_id, m.user_id, m.media_id, NULL, m.media_type"
            f" FROM {users} JOIN group_media m USING (app_id, group_id, user_id)",
        ]
    if t.joined:
        parts.append(
            "SELECT 's', app_id, group_id, NULL, NULL, NULL, count(*) FROM group_members"
            f" WHERE (app_id, group_id) IN (SELECT * FROM {arrays(t.joined, 2)})"
            " GROUP BY app_id, group_id"
        )
    if t.holders:
        parts.append(
            "SELECT 'h', app_id, NULL, NULL, holder, NULL, count(*) FROM group_members"
            f" WHERE (app_id, holder) IN (SELECT * FROM {arrays(t.holders, 2)})"
            " GROUP BY app_id, holder"
        )
    if t.keys:
        parts.append(
            "SELECT 'k', NULL, NULL, NULL, source, event_key, NULL FROM event_keys"
            f" WHERE (source, event_key) IN (SELECT * FROM {arrays(t.keys, 2)})"
        )
    if parts:
        for kind, app_id, group_id, user_id, s1, s2, n in await c.fetch(
            " UNION ALL ".join(parts), *args
        ):
            if kind == "m":
                reads.members[(app_id, group_id, user_id)] = (s1, s2)
            elif kind == "d":
                reads.media.setdefault((app_id, group_id, user_id), {})[s1] = n
            elif kind == "s":
                reads.sizes[(app_id, group_id)] = int(n)
            elif kind == "h":
                reads.holder_groups[(app_id, s1)] = int(n)
            else:
                reads.seen.add((s1, s2))
    return reads


async def _write(c: Conn, plan: AppendPlan) -> None:
    statements: list[tuple[str, Sequence[Sequence[Any]]]] = [
        (
            "INSERT INTO events (app_id, version, kind, at_ms, body) VALUES ($1, $2, $3, $4, $5)",
            plan.event_rows(),
        ),
        (
            "UPDATE event_heads SET version = $2, updated_at = $3 WHERE app_id = $1",
            plan.head_rows(),
        ),
    ]
    deletes, inserts = plan.member_changes()
    media_deletes, media_inserts = plan.media_changes()
    statements += [
        (
            "DELETE FROM group_members WHERE app_id = $1 AND group_id = $2 AND user_id = $3",
            deletes,
        ),
        (
            "INSERT INTO group_members (app_id, group_id, user_id, holder, node, joined_at)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            inserts,
        ),
        (
            "DELETE FROM group_media WHERE app_id = $1 AND group_id = $2 AND user_id = $3"
            " AND media_id = $4",
            media_deletes,
        ),
        (
            "INSERT INTO group_media"
            " (app_id, group_id, user_id, media_id, media_type, started_at)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            media_inserts,
        ),
        (
            "INSERT INTO event_keys (source, event_key, app_id, version, at_ms)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            plan.keys,
        ),
    ]
    for statement, rows in statements:
        if rows:
            await c.executemany(statement, rows)
