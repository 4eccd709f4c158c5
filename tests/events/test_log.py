"""The event log on both engines: versions, durability, snapshots, retention, limits."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hstgw.errors import TerminalCode
from hstgw.events.log import EventLog, GroupLimits
from hstgw.events.model import Entry, Event, EventId, Refusal
from hstgw.store import Store
from tests.waiting import eventually

pytestmark = pytest.mark.anyio
APP = "a" * 32


def join(group: str, user: str, holder: str | None = None) -> Entry:
    body = {"group_id": group, "user_id": user}
    return Entry(EventId.USER_JOINED, body, holder=holder or f"h-{user}")


def leave(group: str, user: str, holder: str | None = None) -> Entry:
    body = {"group_id": group, "user_id": user}
    return Entry(EventId.USER_LEFT, body, holder=holder or f"h-{user}")


def media(kind: EventId, group: str, user: str, media_id: str, media_type: int) -> Entry:
    body = {"group_id": group, "user_id": user, "media_id": media_id, "media_type": media_type}
    return Entry(kind, body, holder=f"h-{user}")


async def test_versions_start_at_one_and_follow_each_other(events: EventLog) -> None:
    assert await events.version(APP) == 0
    [first] = await events.append(APP, [join("g", "u1")])
    assert isinstance(first, Event) and first.version == 1
    push = {"id": 20100, "app_id": APP, "version": 1, "group_id": "g", "user_id": "u1"}
    assert first.push() == push
    more = await events.append(APP, [join("g", "u2"), leave("g", "u2")])
    assert [e.version for e in more if isinstance(e, Event)] == [2, 3]
    assert await events.version(APP) == 3
    assert await events.version("b" * 32) == 0  # each app counts its own


async def test_concurrent_appends_are_gap_free(events: EventLog, store: Store) -> None:
    """Many producers at once, on two apps, through two logs on one store (two nodes:
    concurrent transactions on PostgreSQL): each app 1..n, no gap, no repeat."""
    other = EventLog(store, GroupLimits())
    await other.start()

    async def produce(app: str, i: int) -> Any:
        online = {"user_id": f"u{i}", "mutex_type": "pc", "client_guid": "", "company_id": ""}
        log = events if i % 3 else other
        return await log.append(app, [Entry(EventId.TERMINAL_ONLINE, online)])

    apps = ["a" * 32, "b" * 32]
    try:
        results = await asyncio.gather(*(produce(apps[i % 2], i) for i in range(400)))
    finally:
        await other.stop()
    for app in apps:
        got = await events.after(app, 0, 1000)
        assert got is not None
        assert [e.version for e in got] == list(range(1, 201))
        assert await events.version(app) == 200
        answered = sorted(r.version for [r] in results if isinstance(r, Event) and r.app_id == app)
        assert answered == list(range(1, 201))  # each producer told its own version


async def test_listeners_hear_each_event_once_after_it_is_durable(
    events: EventLog, store: Store
) -> None:
    heard: list[Event] = []
    found: list[bool] = []

    def listener(e: Event) -> None:
        heard.append(e)

        async def check() -> None:  # the store has it already
            after = await store.events_after(e.app_id, e.version - 1, 1)
            found.append(bool(after) and after[0] == e)  # type: ignore[index]

        asyncio.get_running_loop().create_task(check())

    stop = events.listen(listener)
    await asyncio.gather(*(events.append(APP, [join("g", f"u{i}")]) for i in range(3)))
    assert await eventually(lambda: len(found) == 3)
    assert all(found)
    assert [e.version for e in heard] == [1, 2, 3]
    stop()
    await events.append(APP, [leave("g", "u0")])
    assert len(heard) == 3


async def test_group_rules_and_their_codes(events: EventLog) -> None:
    # limits of the fixture: 3 users per group, 2 groups per terminal
    results = await events.append(
        APP,
        [join("g", "u1"), join("g", "u1"), join("g", "u2"), join("g", "u3"), join("g", "u4")],
    )
    codes = [r.code if isinstance(r, Refusal) else 0 for r in results]
    assert codes == [0, TerminalCode.ALREADY_IN_GROUP, 0, 0, TerminalCode.GROUP_FULL]
    results = await events.append(APP, [join("h", "u1"), join("k", "u1")])
    assert isinstance(results[1], Refusal) and results[1].code == TerminalCode.TOO_MANY_GROUPS
    [r] = await events.append(APP, [leave("nope", "u1")])
    assert isinstance(r, Refusal) and r.code == TerminalCode.GROUP_UNKNOWN
    [r] = await events.append(APP, [leave("g", "u1", holder="someone-else")])
    assert isinstance(r, Refusal) and r.code == TerminalCode.GROUP_UNKNOWN
    [r] = await events.append(APP, [media(EventId.MEDIA_STOPPED, "g", "u1", "cam", 2)])
    assert isinstance(r, Refusal) and r.code == TerminalCode.MEDIA_UNKNOWN
    [r] = await events.append(APP, [media(EventId.MEDIA_STARTED, "g", "u9", "cam", 2)])
    assert isinstance(r, Refusal) and r.code == TerminalCode.GROUP_UNKNOWN
    # a refusal takes no version
    assert await events.version(APP) == 4


async def test_leaving_stops_the_users_media_first(events: EventLog) -> None:
    await events.append(
        APP,
        [
            join("g", "u1"),
            media(EventId.MEDIA_STARTED, "g", "u1", "cam", 2),
            media(EventId.MEDIA_STARTED, "g", "u1", "wb", 4),
        ],
    )
    [left] = await events.append(APP, [leave("g", "u1")])
    assert isinstance(left, Event) and left.version == 6
    got = await events.after(APP, 3, 10)
    assert got is not None
    assert [(e.id, e.body.get("media_id")) for e in got] == [
        (EventId.MEDIA_STOPPED, "cam"),
        (EventId.MEDIA_STOPPED, "wb"),
        (EventId.USER_LEFT, None),
    ]
    assert (await events.snapshot(APP, None)).group_list == []


async def test_snapshot_is_the_groups_at_its_version(events: EventLog) -> None:
    await events.append(
        APP,
        [
            join("g1", "aa"),
            join("g1", "ff"),
            media(EventId.MEDIA_STARTED, "g1", "aa", "LocalCam_2", 2),
            media(EventId.MEDIA_STARTED, "g1", "aa", "whiteboard2", 4),
            join("g2", "bb"),
        ],
    )
    snap = await events.snapshot(APP, None)
    assert snap.version == 5
    assert snap.group_list == [
        {
            "group_id": "g1",
            "group_media_list": [{"media_id": "whiteboard2", "media_type": 4}],
            "user_list": [
                {"user_id": "aa", "media_info": [{"media_id": "LocalCam_2", "media_type": 2}]},
                {"user_id": "ff", "media_info": []},
            ],
        },
        {
            "group_id": "g2",
            "group_media_list": [],
            "user_list": [{"user_id": "bb", "media_info": []}],
        },
    ]
    only = await events.snapshot(APP, ["g2"])
    assert [g["group_id"] for g in only.group_list] == ["g2"] and only.version == 5


async def test_snapshot_agrees_with_its_version_under_appends(events: EventLog) -> None:
    """Replaying the events up to a snapshot's version gives its groups, whatever
    was being appended while it was read."""
    users = [f"u{i}" for i in range(40)]

    async def churn() -> None:
        for u in users:
            await events.append(APP, [join(f"g{len(u) % 3}", u)])
            await events.append(APP, [leave(f"g{len(u) % 3}", u)])
            await events.append(APP, [join("big", u, holder=f"x-{u}")])

    task = asyncio.create_task(churn())
    snaps = []
    while not task.done():
        snaps.append(await events.snapshot(APP, None))
    await task
    all_events = await events.after(APP, 0, 10_000)
    assert all_events is not None
    for snap in snaps:
        members: set[tuple[str, str]] = set()
        for e in all_events[: snap.version]:
            key = (e.body["group_id"], e.body["user_id"])
            if e.id is EventId.USER_JOINED:
                members.add(key)
            else:
                members.discard(key)
        listed = {(g["group_id"], u["user_id"]) for g in snap.group_list for u in g["user_list"]}
        assert listed == members, snap.version


async def test_limits_hold_under_concurrent_joins(store: Store) -> None:
    log = EventLog(store, GroupLimits(max_users=5, groups_per_terminal=3))
    await log.start()
    try:
        # Separate transactions at once (a second log on the same store: a second node).
        other = EventLog(store, GroupLimits(max_users=5, groups_per_terminal=3))
        await other.start()
        results = await asyncio.gather(
            *((log if i % 2 else other).append(APP, [join("g", f"u{i}")]) for i in range(20))
        )
        await other.stop()
        joined = [r for [r] in results if isinstance(r, Event)]
        assert len(joined) == 5
        snap = await log.snapshot(APP, ["g"])
        assert len(snap.group_list[0]["user_list"]) == 5
        per_holder = await asyncio.gather(
            *(log.append(APP, [join(f"t{i}", "solo", holder="one")]) for i in range(6))
        )
        assert sum(isinstance(r, Event) for [r] in per_holder) == 3
    finally:
        await log.stop()


async def test_after_is_none_once_pruned(store: Store) -> None:
    now = [1_000_000]
    log = EventLog(store, GroupLimits(), retention_s=60, clock=lambda: now[0])
    await log.start()
    try:
        await log.append(APP, [join("g", "u1"), join("g", "u2")])
        now[0] += 61_000
        await log.append(APP, [join("g", "u3")])
        assert await log.prune() == 2
        assert await log.after(APP, 0, 10) is None  # 1 and 2 are gone
        assert await log.after(APP, 1, 10) is None
        [kept] = await log.after(APP, 2, 10) or []
        assert kept.version == 3
        assert await log.after(APP, 3, 10) == []
        assert await log.version(APP) == 3
        assert len((await log.snapshot(APP, None)).group_list[0]["user_list"]) == 3
    finally:
        await log.stop()


async def test_a_reporting_nodes_keys_are_appended_once(events: EventLog) -> None:
    fact = {"group_id": "g", "record_id": "r1", "record_statue": 2, "record_msg": "{}"}
    e1 = Entry(EventId.RECORDING, fact, source="node-1", key="k1")
    first = await events.append(APP, [e1, e1])
    assert isinstance(first[0], Event)
    assert isinstance(first[1], Refusal) and first[1].duplicate
    [again] = await events.append(APP, [e1])
    assert isinstance(again, Refusal) and again.duplicate
    [other] = await events.append(APP, [Entry(EventId.RECORDING, fact, source="node-2", key="k1")])
    assert isinstance(other, Event) and other.version == 2


async def test_a_restart_leaves_the_groups_of_the_previous_run(store: Store) -> None:
    log = EventLog(store, GroupLimits())
    await log.start()
    await log.append(APP, [join("g", "u1"), media(EventId.MEDIA_STARTED, "g", "u1", "m", 1)])
    await log.stop()  # (a crash: the terminals never left)
    again = EventLog(store, GroupLimits())
    await again.start()
    try:
        assert (await again.snapshot(APP, None)).group_list == []
        tail = await again.after(APP, 2, 10)
        assert tail is not None
        assert [e.id for e in tail] == [EventId.MEDIA_STOPPED, EventId.USER_LEFT]
    finally:
        await again.stop()
