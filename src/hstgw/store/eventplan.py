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
    "event_from_row",
    "plan_append",
    "snapshot_groups",
    "touched",
]

GroupKey = tuple[str, str]  # (app_id, group_id)
Member = tuple[str, str]  # (holder, node)
MediaKey = tuple[str, str]  # (user_id, media_id)
Batch = list[tuple[str, list[Entry]]]  # (app_id, its entries), in arrival order


@dataclass(frozen=True, slots=True)
class GroupLimits:
    """0: no limit."""

    max_users: int = 0
    groups_per_terminal: int = 0


@dataclass
class Reads:
    """What the engine read for a batch (see :func:`touched`)."""

    versions: dict[str, int] = field(default_factory=dict)
    members: dict[GroupKey, dict[str, Member]] = field(default_factory=dict)
    media: dict[GroupKey, dict[MediaKey, int]] = field(default_factory=dict)
    holder_groups: dict[tuple[str, str], int] = field(default_factory=dict)
    seen: set[tuple[str, str]] = field(default_factory=set)


def touched(
    batch: Batch,
) -> tuple[list[str], list[GroupKey], list[tuple[str, str]], list[tuple[str, str]]]:
    """The apps (sorted: locks are taken in one order), groups, joining holders and
    keys a batch touches: what the engine reads before planning."""
    apps, groups, holders, keys = set(), set(), set(), set()
    for app_id, entries in batch:
        apps.add(app_id)
        for e in entries:
            group_id = e.body.get("group_id")
            if e.id in _GROUP_EVENTS and isinstance(group_id, str):
                groups.add((app_id, group_id))
            if e.id is EventId.USER_JOINED:
                holders.add((app_id, e.holder))
            if e.key:
                keys.add((e.source, e.key))
    return sorted(apps), sorted(groups), sorted(holders), sorted(keys)


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
        # The touched groups as they end, compared with what was read to write the change.
        self.members = {k: dict(v) for k, v in reads.members.items()}
        self.media = {k: dict(v) for k, v in reads.media.items()}
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
        members = self.members.setdefault((app_id, group_id), {})
        if user_id in members:
            return Refusal(TerminalCode.ALREADY_IN_GROUP, "user_id: in the group already")
        limits = self._limits
        if not e.fact:
            if limits.max_users and len(members) >= limits.max_users:
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
        members[user_id] = (e.holder, e.node)
        return self._emit(app_id, EventId.USER_JOINED, {"group_id": group_id, "user_id": user_id})

    def _member(self, app_id: str, e: Entry) -> dict[str, Member] | Refusal:
        """The group's members, if ``e``'s user is one of them through ``e``'s holder."""
        members = self.members.setdefault((app_id, e.body["group_id"]), {})
        member = members.get(e.body["user_id"])
        if member is None or member[0] != e.holder:
            return Refusal(TerminalCode.GROUP_UNKNOWN, "group_id: not in that group")
        return members

    def _leave(self, app_id: str, e: Entry) -> Event | Refusal:
        members = self._member(app_id, e)
        if isinstance(members, Refusal):
            return members
        group_id, user_id = e.body["group_id"], e.body["user_id"]
        # Its media stop first: a listener never sees media of a user not in the group.
        media = self.media.setdefault((app_id, group_id), {})
        for user, media_id in [k for k in media if k[0] == user_id]:
            media_type = media.pop((user, media_id))
            body = {"group_id": group_id, "user_id": user_id}
            self._emit(
                app_id,
                EventId.MEDIA_STOPPED,
                {**body, "media_id": media_id, "media_type": media_type},
            )
        del members[user_id]
        self._holders[(app_id, e.holder)] -= 1
        return self._emit(app_id, EventId.USER_LEFT, {"group_id": group_id, "user_id": user_id})

    def _media(self, app_id: str, e: Entry) -> Event | Refusal:
        members = self._member(app_id, e)
        if isinstance(members, Refusal):
            return members
        group_id, user_id = e.body["group_id"], e.body["user_id"]
        media_id, media_type = e.body["media_id"], e.body["media_type"]
        media = self.media.setdefault((app_id, group_id), {})
        key = (user_id, media_id)
        if e.id is EventId.MEDIA_STARTED:
            if key in media:
                return Refusal(TerminalCode.MEDIA_EXISTS, "media_id: started already")
            media[key] = media_type
        else:
            if key not in media:
                return Refusal(TerminalCode.MEDIA_UNKNOWN, "media_id: not started")
            media_type = media.pop(key)
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
    ) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str, str, str, int]]]:
        """(rows to delete, rows to insert) of group_members."""
        deletes, inserts = [], []
        for gk, after in self.members.items():
            before = self._reads.members.get(gk, {})
            for user, member in before.items():
                if after.get(user) != member:
                    deletes.append((*gk, user))
            for user, member in after.items():
                if before.get(user) != member:
                    inserts.append((*gk, user, member[0], member[1], self._now))
        return deletes, inserts

    def media_changes(
        self,
    ) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str, str, str, int, int]]]:
        """(rows to delete, rows to insert) of group_media."""
        deletes, inserts = [], []
        for gk, after in self.media.items():
            before = self._reads.media.get(gk, {})
            for k, media_type in before.items():
                if after.get(k) != media_type:
                    deletes.append((*gk, *k))
            for k, media_type in after.items():
                if before.get(k) != media_type:
                    inserts.append((*gk, *k, media_type, self._now))
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
