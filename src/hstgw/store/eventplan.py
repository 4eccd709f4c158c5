"""The event log's rules, shared by both engines: a batch of entries applied in order
to the groups they touch, inside the append transaction.

The engine reads what the batch touches (each app's version, the touched groups'
members and media, the joining holders' group counts, the keys seen), hands it to
:func:`plan_append`, which is pure, and writes what it returns: the events with
their versions, the membership and media rows changed, the keys, the new versions.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson

from hstgw.errors import TerminalCode
from hstgw.events.model import WHITEBOARD, Entry, Event, EventId, Refusal

__all__ = [
    "AppendPlan",
    "Batch",
    "GroupLimits",
    "Reads",
    "Touched",
    "event_from_row",
    "plan_append",
    "snapshot_groups",
    "touched",
]

GroupKey = tuple[str, str]  # (app_id, group_id)
UserKey = tuple[str, str, str]  # (app_id, group_id, user_id)
Member = tuple[str, str]  # (holder, node)
Batch = list[tuple[str, list[Entry]]]  # (app_id, its entries), in arrival order


@dataclass(frozen=True, slots=True)
class GroupLimits:
    """0: no limit."""

    max_users: int = 0
    groups_per_terminal: int = 0


@dataclass
class Reads:
    """What the engine read for a batch (see :func:`touched`): only the rows of the
    users it names, and the sizes of the groups it joins (a group of thousands is not
    read whole for each join)."""

    versions: dict[str, int] = field(default_factory=dict)
    members: dict[UserKey, Member] = field(default_factory=dict)
    media: dict[UserKey, dict[str, int]] = field(default_factory=dict)  # media_id -> type
    sizes: dict[GroupKey, int] = field(default_factory=dict)
    holder_groups: dict[tuple[str, str], int] = field(default_factory=dict)
    seen: set[tuple[str, str]] = field(default_factory=set)


@dataclass
class Touched:
    """What a batch touches, each list sorted (locks are taken in one order)."""

    apps: list[str]
    users: list[UserKey]
    joined: list[GroupKey]  # the groups it joins: their sizes are read
    holders: list[tuple[str, str]]  # (app_id, holder) of its joins
    keys: list[tuple[str, str]]  # (source, key)


def touched(batch: Batch) -> Touched:
    """What the engine reads before planning ``batch``."""
    apps: set[str] = set()
    users: set[UserKey] = set()
    joined: set[GroupKey] = set()
    holders: set[tuple[str, str]] = set()
    keys: set[tuple[str, str]] = set()
    for app_id, entries in batch:
        apps.add(app_id)
        for e in entries:
            if e.id in _GROUP_EVENTS:
                users.add((app_id, e.body["group_id"], e.body["user_id"]))
            if e.id is EventId.USER_JOINED:
                joined.add((app_id, e.body["group_id"]))
                holders.add((app_id, e.holder))
            if e.key:
                keys.add((e.source, e.key))
    return Touched(sorted(apps), sorted(users), sorted(joined), sorted(holders), sorted(keys))


_GROUP_EVENTS = frozenset(
    (EventId.USER_JOINED, EventId.USER_LEFT, EventId.MEDIA_STARTED, EventId.MEDIA_STOPPED)
)


class AppendPlan:
    """What a batch writes, and each entry's answer."""

    def __init__(self, reads: Reads, limits: GroupLimits, now: int) -> None:
        self.versions = dict(reads.versions)
        self.events: list[Event] = []
        self.keys: list[tuple[str, str, str, int, int]] = []  # source, key, app, version, at

        self.results: list[list[Event | Refusal]] = []
        self._reads = reads
        self._limits = limits
        self._now = now
        # The touched rows as they end, compared with what was read to write the change.
        self.members: dict[UserKey, Member | None] = dict(reads.members)
        self.media = {k: dict(v) for k, v in reads.media.items()}
        self._sizes = defaultdict(int, reads.sizes)
        self._holders = defaultdict(int, reads.holder_groups)
        self._seen = set(reads.seen)

    def _emit(self, app_id: str, id: EventId, body: dict[str, Any]) -> Event:
        version = self.versions.get(app_id, 0) + 1
        self.versions[app_id] = version
        event = Event(app_id, version, id, self._now, body)
        self.events.append(event)
        return event

    def apply(self, app_id: str, e: Entry) -> Event | Refusal:
        if e.key and (e.source, e.key) in self._seen:
            return Refusal(0, "appended before", duplicate=True)
        handler = _RULES.get(e.id)
        result = handler(self, app_id, e) if handler else self._emit(app_id, e.id, dict(e.body))
        if isinstance(result, Event) and e.key:
            self._seen.add((e.source, e.key))
            self.keys.append((e.source, e.key, app_id, result.version, self._now))
        return result

    # the rules of each group event

    def _join(self, app_id: str, e: Entry) -> Event | Refusal:
        group_id, user_id = e.body["group_id"], e.body["user_id"]
        key = (app_id, group_id, user_id)
        if self.members.get(key) is not None:
            return Refusal(TerminalCode.ALREADY_IN_GROUP, "user_id: in the group already")
        limits = self._limits
        if not e.fact:
            if limits.max_users and self._sizes[(app_id, group_id)] >= limits.max_users:
                return Refusal(
                    TerminalCode.GROUP_FULL, f"group_id: at most {limits.max_users} users"
                )
            held = self._holders[(app_id, e.holder)]
            if limits.groups_per_terminal and held >= limits.groups_per_terminal:
                return Refusal(
                    TerminalCode.TOO_MANY_GROUPS,
                    f"group_id: at most {limits.groups_per_terminal} groups per terminal",
                )
        self._holders[(app_id, e.holder)] += 1
        self._sizes[(app_id, group_id)] += 1
        self.members[key] = (e.holder, e.node)
        return self._emit(app_id, EventId.USER_JOINED, {"group_id": group_id, "user_id": user_id})

    def _member(self, app_id: str, e: Entry) -> UserKey | Refusal:
        """``e``'s membership, if its user is in the group through ``e``'s holder."""
        key = (app_id, e.body["group_id"], e.body["user_id"])
        member = self.members.get(key)
        if member is None or member[0] != e.holder:
            return Refusal(TerminalCode.GROUP_UNKNOWN, "group_id: not in that group")
        return key

    def _leave(self, app_id: str, e: Entry) -> Event | Refusal:
        key = self._member(app_id, e)
        if isinstance(key, Refusal):
            return key
        _, group_id, user_id = key
        # Its media stop first: a listener never sees media of a user not in the group.
        media = self.media.setdefault(key, {})
        body = {"group_id": group_id, "user_id": user_id}
        for media_id, media_type in list(media.items()):
            del media[media_id]
            self._emit(
                app_id,
                EventId.MEDIA_STOPPED,
                {**body, "media_id": media_id, "media_type": media_type},
            )
        self.members[key] = None
        self._sizes[(app_id, group_id)] -= 1
        self._holders[(app_id, e.holder)] -= 1
        return self._emit(app_id, EventId.USER_LEFT, body)

    def _media(self, app_id: str, e: Entry) -> Event | Refusal:
        key = self._member(app_id, e)
        if isinstance(key, Refusal):
            return key
        _, group_id, user_id = key
        media_id, media_type = e.body["media_id"], e.body["media_type"]
        media = self.media.setdefault(key, {})
        if e.id is EventId.MEDIA_STARTED:
            if media_id in media:
                return Refusal(TerminalCode.MEDIA_EXISTS, "media_id: started already")
            media[media_id] = media_type
        else:
            if media_id not in media:
                return Refusal(TerminalCode.MEDIA_UNKNOWN, "media_id: not started")
            media_type = media.pop(media_id)
        body = {
            "group_id": group_id,
            "user_id": user_id,
            "media_id": media_id,
            "media_type": media_type,
        }
        return self._emit(app_id, e.id, body)

    # what the engine writes

    def member_changes(
        self,
    ) -> tuple[list[UserKey], list[tuple[str, str, str, str, str, int]]]:
        """(rows to delete, rows to insert) of group_members."""
        deletes, inserts = [], []
        for key, after in self.members.items():
            before = self._reads.members.get(key)
            if before != after:
                if before is not None:
                    deletes.append(key)
                if after is not None:
                    inserts.append((*key, *after, self._now))
        return deletes, inserts

    def media_changes(
        self,
    ) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str, str, str, int, int]]]:
        """(rows to delete, rows to insert) of group_media."""
        deletes, inserts = [], []
        for key, after in self.media.items():
            before = self._reads.media.get(key, {})
            for media_id, media_type in before.items():
                if after.get(media_id) != media_type:
                    deletes.append((*key, media_id))
            for media_id, media_type in after.items():
                if before.get(media_id) != media_type:
                    inserts.append((*key, media_id, media_type, self._now))
        return deletes, inserts

    def event_rows(self) -> list[tuple[str, int, int, int, str]]:
        return [
            (e.app_id, e.version, int(e.id), e.at_ms, orjson.dumps(dict(e.body)).decode())
            for e in self.events
        ]

    def head_rows(self) -> list[tuple[str, int, int]]:
        """(app_id, version, now) of the apps whose version moved."""
        return [
            (app, v, self._now)
            for app, v in self.versions.items()
            if v != self._reads.versions.get(app, 0)
        ]


_RULES = {
    EventId.USER_JOINED: AppendPlan._join,
    EventId.USER_LEFT: AppendPlan._leave,
    EventId.MEDIA_STARTED: AppendPlan._media,
    EventId.MEDIA_STOPPED: AppendPlan._media,
}


def plan_append(batch: Batch, reads: Reads, limits: GroupLimits, now: int) -> AppendPlan:
    """Apply ``batch`` in order to what was read."""
    plan = AppendPlan(reads, limits, now)
    for app_id, entries in batch:
        plan.results.append([plan.apply(app_id, e) for e in entries])
    return plan


def event_from_row(app_id: str, version: int, kind: int, at_ms: int, body: str) -> Event:
    return Event(app_id, version, EventId(kind), at_ms, orjson.loads(body))


def snapshot_groups(
    members: list[tuple[str, str]], media: list[tuple[str, str, str, int]]
) -> list[dict[str, Any]]:
    """The platform's ``group_list`` from rows (group_id, user_id) and (group_id,
    user_id, media_id, media_type), each sorted: whiteboards are the group's media."""
    groups: dict[str, dict[str, Any]] = {}
    users: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for group_id, user_id in members:
        g = groups.setdefault(
            group_id, {"group_id": group_id, "group_media_list": [], "user_list": []}
        )
        info: list[dict[str, Any]] = []
        users[(group_id, user_id)] = info
        g["user_list"].append({"user_id": user_id, "media_info": info})
    for group_id, user_id, media_id, media_type in media:
        item = {"media_id": media_id, "media_type": media_type}
        if media_type == WHITEBOARD:
            if group_id in groups:
                groups[group_id]["group_media_list"].append(item)
        elif (group_id, user_id) in users:
            users[(group_id, user_id)].append(item)
    return list(groups.values())
