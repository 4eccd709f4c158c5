"""Reads of an app's groups whole, charged by their size on whichever path asks.

A snapshot (the event gateway's full sync, 20008; the console's live groups) returns
every group it names with its users and media: on a large app one read costs the node
what hundreds of calls do. So each read costs the developer, from its calls' rate (the
one REST counts), a call more for each ``ENTRIES_PER_CALL`` entries the app's last read
of the same kind on this node returned (of it whole, or of groups it names: at least a
group each), on top of the path's own call, before it reads (refused: 606000006); once
read, what it held beyond that is taken too, into debt (the first read of its kind, whose
size is known only then, or an app that grew). Reads of an app of one kind take turns,
so that each is charged by the size of the one before it. The stores read only the
groups a read names. Kept here, beside the log, so that no path reads a snapshot
without paying for it (docs/security.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from hstgw.abuse import Guard
from hstgw.events.model import EventFeed, GroupSnapshot

__all__ = ["ENTRIES_PER_CALL", "Snapshots"]

ENTRIES_PER_CALL = 100
# Reads whose size is kept (past it the oldest is forgotten: bounded memory).
_SIZES_KEPT = 100_000


class Snapshots:
    def __init__(self, feed: EventFeed, guard: Guard | None) -> None:
        self._feed = feed
        self._guard = guard
        # (app_id, whole) -> entries the app's last read of that kind held: a read of
        # the app whole, and one of groups it names, each by the last of its kind (a
        # read of a few groups does not make the app look small to whole reads)
        self._read: dict[tuple[str, bool], int] = {}
        # (app_id, whole) -> its turn: reads of an app of one kind take turns, so that
        # each is charged before it reads by the size of the one before it (side by
        # side, each was charged by an older one's size)
        self._turns: dict[tuple[str, bool], _Turn] = {}

    async def read(
        self, dev_id: str, app_id: str, group_ids: Sequence[str] | None
    ) -> GroupSnapshot:
        """The app's groups (those named, or all), for ``dev_id``, whose app it was
        checked to be; 606000006 past the developer's rate."""
        key = (app_id, group_ids is None)
        turn = self._turns.get(key)
        if turn is None:
            turn = self._turns[key] = _Turn()
        turn.users += 1
        try:
            async with turn.lock:
                return await self._read_in_turn(dev_id, app_id, group_ids, key)
        finally:
            turn.users -= 1
            if not turn.users:
                del self._turns[key]

    async def _read_in_turn(
        self,
        dev_id: str,
        app_id: str,
        group_ids: Sequence[str] | None,
        key: tuple[str, bool],
    ) -> GroupSnapshot:
        guard = self._guard
        last = self._read.get(key, 0)  # (kept while charged: a refusal forgets nothing)
        if group_ids is not None:
            last = max(last, len(group_ids))  # (at least a group each)
        paid = last // ENTRIES_PER_CALL
        if paid and guard is not None:
            await guard.charge(dev_id, paid)
        snap = await self._feed.snapshot(app_id, group_ids)
        self._read.pop(key, None)  # (put back last: the oldest read is forgotten first)
        if len(self._read) >= _SIZES_KEPT:
            del self._read[next(iter(self._read))]
        size = self._read[key] = sum(_entries(g) for g in snap.group_list)
        owed = size // ENTRIES_PER_CALL - paid
        if owed > 0 and guard is not None:
            # More than it was charged before (the first read of its kind, or the app
            # grew): the work is done, so it is paid now whatever the rate holds, into
            # debt (the calls after it wait).
            await guard.debit(dev_id, owed)
        return snap


class _Turn:
    """One app's reads of one kind, one at a time; kept while any holds or awaits it
    (a lock let go with reads still waiting must not be replaced by a new one)."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


def _entries(group: dict[str, Any]) -> int:
    """What a group's entry holds: itself, its users and media, each user's media."""
    users = group.get("user_list") or ()
    media = sum(len(u["media_info"]) for u in users if isinstance(u.get("media_info"), list))
    return 1 + len(users) + len(group.get("group_media_list") or ()) + media
