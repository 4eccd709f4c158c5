"""Which usage events a node has reported before, in SQLite: two levels, as an LSM tree.

A unique index on (node_id, event_id) makes every batch of random ids (UUIDs) write a
page of the index per event: at 10,000,000 records that was the ingestion's largest
cost (docs/performance.md, bench/billing.py). Instead each event has a 64-bit key, a
hash of (node_id, event_id):

- the keys of the records up to ``upto`` (store_state) are in ``usage_keys``, a
  ``WITHOUT ROWID`` table of (key, record_id), written in sorted runs of at least 4,096
  keys, so that a run writes each page of the table about once, not once per event;
- the keys of the later records are in memory (``recent``), read again from those
  records (a row id range) when the store opens.

A key found in either level is a candidate only: the record it names is read and its
(node_id, event_id) compared, so that two events whose keys collide are both kept.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from hashlib import blake2b
from typing import Any

__all__ = ["UsageKeys", "event_key"]

UPTO = "usage_keys_upto"  # store_state: records up to this record_id are in usage_keys
_CHUNK = 500
# A run merges when the memory holds upto / 16 keys (at least _LEAST, at most _MOST): a
# run writes about every page of usage_keys (~240 keys a page), i.e. a page per ~60
# events up to 2 million records; _MOST bounds the memory (~12 MiB) past them.
_LEAST, _MOST = 4096, 131_072


def event_key(node_id: str, event_id: str) -> int:
    """A 64-bit key of (node_id, event_id), the same in every process (not ``hash``)."""
    digest = blake2b(f"{node_id}\x00{event_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class UsageKeys:
    """The two levels' state; every method runs on the writer's connection and thread."""

    def __init__(self) -> None:
        # key -> record_id (a list of them for keys that collide in memory)
        self.recent: dict[int, int | list[int]] = {}
        self.upto = 0

    def load(self, c: sqlite3.Connection) -> None:
        """The memory level from the records after ``upto`` (a read: a CLI opening the
        file beside the server does not hold up its writes); on a store that has no
        ``upto`` yet (new, or its records were checked by the old index), every record's
        key is written to usage_keys first, in the transaction that finds it missing."""
        self.recent.clear()
        for lock in ("DEFERRED", "IMMEDIATE"):
            c.execute(f"BEGIN {lock}")
            try:
                row = c.execute("SELECT value FROM store_state WHERE name = ?", (UPTO,)).fetchone()
                if row is not None:
                    self.upto = int(row[0])
                    for key, record_id in _keys(c, self.upto):
                        self._remember(key, record_id)
                elif lock == "IMMEDIATE":
                    self.upto = 0
                    _fill(c)
                    self._merge(c, ())
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")
            if row is not None or lock == "IMMEDIATE":
                return

    def seen(
        self, c: sqlite3.Connection, node_id: str, event_ids: Iterable[str]
    ) -> tuple[set[str], dict[str, int]]:
        """The ids of ``event_ids`` that ``node_id`` reported before, and every id's key."""
        keys = {event_id: event_key(node_id, event_id) for event_id in event_ids}
        candidates: list[int] = []
        recent = self.recent
        for key in keys.values():
            found = recent.get(key)
            if found is not None:
                candidates += found if isinstance(found, list) else (found,)
        wanted = list(set(keys.values()))
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i : i + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            candidates += (
                row[0]
                for row in c.execute(
                    f"SELECT record_id FROM usage_keys WHERE key IN ({marks})", chunk
                )
            )
        seen: set[str] = set()
        for i in range(0, len(candidates), _CHUNK):
            chunk = candidates[i : i + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            seen.update(
                row[0]
                for row in c.execute(
                    f"SELECT event_id FROM usage_records WHERE record_id IN ({marks})"
                    " AND node_id = ?",
                    (*chunk, node_id),
                )
            )
        return seen & keys.keys(), keys

    def added(self, records: Iterable[tuple[int, int]]) -> None:
        """(key, record_id) of records just committed."""
        for key, record_id in records:
            self._remember(key, record_id)

    def merge_due(self) -> bool:
        return len(self.recent) >= min(_MOST, max(_LEAST, self.upto // 16))

    def merge(self, c: sqlite3.Connection) -> None:
        """The memory level into usage_keys, in a transaction of its own."""
        if not self.recent:
            return
        c.execute("BEGIN IMMEDIATE")
        try:
            upto = self._merge(c, self._recent_pairs())
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        # (only once stored: a failed commit leaves memory as the store is)
        self.upto = upto
        self.recent.clear()

    def _merge(self, c: sqlite3.Connection, pairs: Iterable[tuple[int, int]]) -> int:
        rows = sorted(pairs)  # in key order: each page of the table is written once
        c.executemany("INSERT INTO usage_keys (key, record_id) VALUES (?, ?)", rows)
        last = max((record_id for _, record_id in rows), default=self.upto)
        upto = max(last, self.upto, _last_record(c))
        c.execute(
            "INSERT INTO store_state (name, value) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (UPTO, str(upto)),
        )
        return upto

    def _recent_pairs(self) -> Iterator[tuple[int, int]]:
        for key, found in self.recent.items():
            if isinstance(found, list):
                yield from ((key, record_id) for record_id in found)
            else:
                yield key, found

    def _remember(self, key: int, record_id: int) -> None:
        found = self.recent.get(key)
        if found is None:
            self.recent[key] = record_id
        elif isinstance(found, list):
            found.append(record_id)
        else:
            self.recent[key] = [found, record_id]


def _keys(c: sqlite3.Connection, after: int) -> Iterator[tuple[int, int]]:
    rows: Any = c.execute(
        "SELECT record_id, node_id, event_id FROM usage_records WHERE record_id > ?", (after,)
    )
    for record_id, node_id, event_id in rows:
        yield event_key(node_id, event_id), record_id


def _fill(c: sqlite3.Connection) -> None:
    """Every record's key into usage_keys, sorted by SQLite (on disk past its memory: a
    store of millions of records, migrated, would not sort them in Python's)."""
    c.execute("CREATE TEMP TABLE usage_keys_fill (key INTEGER, record_id INTEGER)")
    try:
        rows = c.execute("SELECT record_id, node_id, event_id FROM usage_records")
        while batch := rows.fetchmany(10_000):
            c.executemany(
                "INSERT INTO temp.usage_keys_fill VALUES (?, ?)",
                [(event_key(node, event), record) for record, node, event in batch],
            )
        c.execute(
            "INSERT INTO usage_keys (key, record_id)"
            " SELECT key, record_id FROM temp.usage_keys_fill ORDER BY key, record_id"
        )
    finally:
        c.execute("DROP TABLE temp.usage_keys_fill")


def _last_record(c: sqlite3.Connection) -> int:
    return int(c.execute("SELECT COALESCE(MAX(record_id), 0) FROM usage_records").fetchone()[0])
