"""The event log and its groups in SQLite.

Appends run on the writing connection (``BEGIN IMMEDIATE``: one writer at a time, so
each app's next version is simply its head plus one); reads on the reading
connection, a snapshot transaction where they must agree with a version.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict

import orjson

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
from hstgw.store.sqlite.engine import SqliteEngine

__all__ = ["EventStore"]


class EventStore(SqliteEngine):
    async def append_events(self, batch: Batch, limits: GroupLimits, now: int) -> AppendPlan:
        return await self._write(lambda c: _append(c, batch, limits, now))

    async def event_version(self, app_id: str) -> int:
        return await self._read(lambda c: _version(c, app_id))

    async def events_after(self, app_id: str, version: int, limit: int) -> list[Event] | None:
        return await self._read(lambda c: _after(c, app_id, version, limit))

    async def group_snapshot(self, app_id: str, group_ids: list[str] | None) -> GroupSnapshot:
        return await self._read(lambda c: _snapshot(c, app_id, group_ids))

    async def event_heads(self, since: int) -> dict[str, int]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT app_id, version FROM event_heads WHERE updated_at >= ?", (since,)
            ).fetchall()
        )
        return dict(rows)

    async def members_of_node(self, node: str) -> list[tuple[str, str, str, str]]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT app_id, group_id, user_id, holder FROM group_members WHERE node = ?"
                " ORDER BY app_id, joined_at",
                (node,),
            ).fetchall()
        )
        return [tuple(r) for r in rows]

    async def member_nodes(self) -> list[str]:
        rows = await self._read(
            lambda c: c.execute("SELECT DISTINCT node FROM group_members").fetchall()
        )
        return [r[0] for r in rows]

    async def prune_events(self, before: int) -> int:
        return await self._write(lambda c: _prune(c, before))


def _version(c: sqlite3.Connection, app_id: str) -> int:
    row = c.execute("SELECT version FROM event_heads WHERE app_id = ?", (app_id,)).fetchone()
    return int(row[0]) if row else 0


def _read_touched(c: sqlite3.Connection, batch: Batch) -> Reads:
    # Point lookups by primary key, one prepared statement each (SQLite's row-value IN
    # over a VALUES list scans the table).
    t = touched(batch)
    reads = Reads()
    for app_id in t.apps:
        reads.versions[app_id] = _version(c, app_id)
    for key in t.users:
        row = c.execute(
            "SELECT holder, node FROM group_members"
            " WHERE app_id = ? AND group_id = ? AND user_id = ?",
            key,
        ).fetchone()
        if row is not None:
            reads.members[key] = (row[0], row[1])
            media = c.execute(
                "SELECT media_id, media_type FROM group_media"
                " WHERE app_id = ? AND group_id = ? AND user_id = ?",
                key,
            ).fetchall()
            if media:
                reads.media[key] = dict(media)
    for gk in t.joined:
        reads.sizes[gk] = c.execute(
            "SELECT count(*) FROM group_members WHERE app_id = ? AND group_id = ?", gk
        ).fetchone()[0]
    for hk in t.holders:
        reads.holder_groups[hk] = c.execute(
            "SELECT count(*) FROM group_members WHERE app_id = ? AND holder = ?", hk
        ).fetchone()[0]
    for kk in t.keys:
        if c.execute("SELECT 1 FROM event_keys WHERE source = ? AND event_key = ?", kk).fetchone():
            reads.seen.add(kk)
    return reads


def _append(c: sqlite3.Connection, batch: Batch, limits: GroupLimits, now: int) -> AppendPlan:
    plan = plan_append(batch, _read_touched(c, batch), limits, now)
    c.executemany(
        "INSERT INTO events (app_id, version, kind, at_ms, body) VALUES (?, ?, ?, ?, ?)",
        plan.event_rows(),
    )
    c.executemany(
        "INSERT INTO event_heads (app_id, version, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (app_id) DO UPDATE SET version = excluded.version,"
        " updated_at = excluded.updated_at",
        plan.head_rows(),
    )
    deletes, inserts = plan.member_changes()
    c.executemany(
        "DELETE FROM group_members WHERE app_id = ? AND group_id = ? AND user_id = ?", deletes
    )
    c.executemany(
        "INSERT INTO group_members (app_id, group_id, user_id, holder, node, joined_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        inserts,
    )
    media_deletes, media_inserts = plan.media_changes()
    c.executemany(
        "DELETE FROM group_media WHERE app_id = ? AND group_id = ? AND user_id = ?"
        " AND media_id = ?",
        media_deletes,
    )
    c.executemany(
        "INSERT INTO group_media (app_id, group_id, user_id, media_id, media_type, started_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        media_inserts,
    )
    c.executemany(
        "INSERT INTO event_keys (source, event_key, app_id, version, at_ms) VALUES (?, ?, ?, ?, ?)",
        plan.keys,
    )
    return plan


def _after(c: sqlite3.Connection, app_id: str, version: int, limit: int) -> list[Event] | None:
    # The events first, then what was pruned: a prune between the two reads shows in
    # the second (both written in one transaction), and the answer is None.
    rows = c.execute(
        "SELECT app_id, version, kind, at_ms, body FROM events"
        " WHERE app_id = ? AND version > ? ORDER BY version LIMIT ?",
        (app_id, version, limit),
    ).fetchall()
    pruned = c.execute("SELECT pruned FROM event_heads WHERE app_id = ?", (app_id,)).fetchone()
    if pruned is not None and version < pruned[0]:
        return None
    return [event_from_row(*row) for row in rows]


def _snapshot(c: sqlite3.Connection, app_id: str, group_ids: list[str] | None) -> GroupSnapshot:
    # Only the groups named are read (a sync of a few groups of a large app reads as
    # little as it returns, and is charged so: hstgw.events.snapshots).
    where, args = "app_id = ?", [app_id]
    if group_ids is not None:
        where = "app_id = ? AND group_id IN (SELECT value FROM json_each(?))"
        args.append(orjson.dumps(group_ids).decode())
    c.execute("BEGIN")  # one read transaction: the groups as of the version read
    try:
        version = _version(c, app_id)
        members = c.execute(
            f"SELECT group_id, user_id FROM group_members WHERE {where}"
            " ORDER BY group_id, joined_at, user_id",
            args,
        ).fetchall()
        media = c.execute(
            f"SELECT group_id, user_id, media_id, media_type FROM group_media WHERE {where}"
            " ORDER BY group_id, started_at, user_id, media_id",
            args,
        ).fetchall()
    finally:
        c.execute("COMMIT")
    return GroupSnapshot(app_id, version, snapshot_groups(members, media))


def _prune(c: sqlite3.Connection, before: int) -> int:
    last: dict[str, int] = defaultdict(int)
    for app_id, version in c.execute(
        "SELECT app_id, max(version) FROM events WHERE at_ms < ? GROUP BY app_id", (before,)
    ):
        last[app_id] = version
    c.executemany(
        "UPDATE event_heads SET pruned = ? WHERE app_id = ? AND pruned < ?",
        [(v, app, v) for app, v in last.items()],
    )
    gone = sum(
        c.execute("DELETE FROM events WHERE app_id = ? AND version <= ?", (app, v)).rowcount
        for app, v in last.items()
    )
    c.execute("DELETE FROM event_keys WHERE at_ms < ?", (before,))
    return gone
