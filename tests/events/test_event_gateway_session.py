"""A subscriber's streams on their own: replay, sync and live pushes meet with no gap
and no duplicate, and a slow subscriber is bounded. The log here is a list in memory
(``ListFeed``, the ``EventFeed`` protocol's smallest honest form); the whole gateway
over the real log is tests/events/test_event_gateway.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from hstgw.egw import protocol as p
from hstgw.egw.frames import Request, dumps
from hstgw.egw.requests import Requests, Subscribers
from hstgw.egw.session import BATCH, Session
from hstgw.events.model import Event, EventId, GroupSnapshot
from hstgw.store import Unavailable

pytestmark = pytest.mark.anyio

APP = "a" * 32


class ListFeed:
    """Events in memory: ``retained_from`` is the first version ``after`` still has."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.retained_from = 1
        self.listeners: list[Callable[[Event], None]] = []
        self.on_after: Callable[[], None] | None = None  # runs inside each read
        self.away = False  # snapshots fail (the store is away)

    def add(self, n: int = 1, *, tell: bool = True) -> list[Event]:
        made = []
        for _ in range(n):
            e = Event(APP, len(self.events) + 1, EventId.USER_JOINED, 0, {"group_id": "g"})
            self.events.append(e)
            made.append(e)
            if tell:
                for listener in self.listeners:
                    listener(e)
        return made

    async def version(self, app_id: str) -> int:
        return len(self.events)

    async def after(self, app_id: str, version: int, limit: int) -> list[Event] | None:
        if version + 1 < self.retained_from:
            return None
        if self.on_after is not None:
            hook, self.on_after = self.on_after, None
            hook()
        return self.events[version : version + limit]

    async def snapshot(self, app_id: str, group_ids: Sequence[str] | None) -> GroupSnapshot:
        if self.away:
            self.add(1)  # an event meanwhile: held while the sync runs
            raise Unavailable("the store is away")
        return GroupSnapshot(app_id, len(self.events), [])

    def listen(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)


class Owner:
    """The service, minus the store: every app is the caller's."""

    def __init__(self, feed: ListFeed) -> None:
        self.feed = feed

    async def own(self, dev_id: str, app_ids: Sequence[str]) -> None:
        return None

    async def allow(self, dev_id: str, cost: int = 1) -> None:
        return None

    async def snapshot(
        self, dev_id: str, app_id: str, group_ids: Sequence[str] | None
    ) -> GroupSnapshot:
        return await self.feed.snapshot(app_id, group_ids)

    async def version(self, app_id: str) -> int:
        return await self.feed.version(app_id)

    async def after(self, app_id: str, version: int, limit: int) -> list[Event] | None:
        return await self.feed.after(app_id, version, limit)


class Rig:
    def __init__(self, queue: int = 100_000) -> None:
        self.feed = ListFeed()
        service: Any = Owner(self.feed)
        self.closed: list[tuple[int, str]] = []
        self.session = Session(
            service, "d" * 32, "t", queue, lambda c, r: self.closed.append((c, r))
        )
        self.subs = Subscribers()
        self.requests = Requests(service, self.subs)
        self.feed.listen(self.fanout)

    def fanout(self, event: Event) -> None:
        for s in list(self.subs.by_app.get(event.app_id, ())):
            s.offer(event, dumps(event.push()))

    async def ask(self, rid: int, **data: Any) -> None:
        await self.requests.handle(self.session, Request(rid, {"business": "EGW", **data}))

    def sent(self) -> list[dict[str, Any]]:
        out = []
        while not self.session.outbox.empty():
            out.append(json.loads(self.session.outbox.get_nowait()))
        return out


def versions(frames: list[dict[str, Any]]) -> list[int]:
    return [f["version"] for f in frames if f["id"] == int(EventId.USER_JOINED)]


async def test_replay_meets_live_events_without_gap_or_duplicate() -> None:
    rig = Rig()
    rig.feed.add(BATCH + 10, tell=False)  # more than one read of the log
    await rig.ask(p.SUBSCRIBE, app_list=[{"app_id": APP}])
    # Live events arrive while the log is being read: they are held, then sent once.
    rig.feed.on_after = lambda: rig.feed.add(5)
    await rig.ask(p.SYNC, seq="1", app_list=[{"app_id": APP, "from_version": 3}])
    rig.feed.add(2)  # and after the replay, live
    frames = rig.sent()
    assert frames[0]["id"] == p.SUBSCRIBE_REPLY
    assert frames[1] == {
        "id": p.SYNC_REPLY,
        "result": 0,
        "message": p.REPLAY_MESSAGE,
        "replay": True,
        "app_id": APP,
        "version": 3,
        "from_version": 3,
        "seq": "1",
    }
    assert versions(frames) == list(range(4, BATCH + 10 + 5 + 2 + 1))


async def test_full_sync_then_live_events_from_its_version_on() -> None:
    rig = Rig()
    rig.feed.add(4)
    await rig.ask(p.SUBSCRIBE, app_list=[{"app_id": APP}])
    rig.feed.add(1)  # live before the sync: sent (version 5)
    await rig.ask(p.SYNC, app_list=[{"app_id": APP}])
    rig.feed.add(1)
    frames = rig.sent()
    sync = next(f for f in frames if f["id"] == p.SYNC_REPLY)
    assert sync["version"] == 5 and sync["group_list"] == [] and "seq" not in sync
    assert versions(frames) == [5, 6]


async def test_a_missed_event_is_read_from_the_log() -> None:
    rig = Rig()
    await rig.ask(p.SUBSCRIBE, app_list=[{"app_id": APP}])
    rig.feed.add(1)
    rig.feed.add(2, tell=False)  # the listener never heard of 2 and 3
    rig.feed.add(1)  # 4 shows the gap: 2..4 come from the log
    await asyncio.wait_for(asyncio.gather(*rig.session._catching_up), 5)
    rig.feed.add(1)
    assert versions(rig.sent()) == [1, 2, 3, 4, 5]


async def test_a_version_no_longer_kept_gets_a_full_sync() -> None:
    rig = Rig()
    rig.feed.add(10, tell=False)
    rig.feed.retained_from = 6
    await rig.ask(p.SYNC, app_list=[{"app_id": APP, "from_version": 2}])
    (reply,) = rig.sent()
    assert reply["message"] == "synchronize all data successful"
    assert reply["version"] == 10 and "replay" not in reply
    # from_version subscribed the app: live events follow the snapshot
    rig.feed.add(1)
    assert versions(rig.sent()) == [11]


async def test_a_version_ahead_of_the_log_gets_a_full_sync() -> None:
    rig = Rig()
    rig.feed.add(2, tell=False)
    await rig.ask(p.SYNC, app_list=[{"app_id": APP, "from_version": 7}])
    (reply,) = rig.sent()
    assert reply["version"] == 2 and "group_list" in reply


async def test_a_sync_of_an_app_not_subscribed_subscribes_nothing() -> None:
    rig = Rig()
    await rig.ask(p.SYNC, app_list=[{"app_id": APP}])
    rig.feed.add(1)
    assert [f["id"] for f in rig.sent()] == [p.SYNC_REPLY]
    assert rig.session.streams == {} and rig.subs.by_app == {}


async def test_unsubscribe_stops_the_pushes() -> None:
    rig = Rig()
    await rig.ask(p.SUBSCRIBE, app_list=[{"app_id": APP}])
    await rig.ask(p.UNSUBSCRIBE)
    rig.feed.add(1)
    assert [f["id"] for f in rig.sent()] == [p.SUBSCRIBE_REPLY, p.UNSUBSCRIBE_REPLY]
    assert rig.subs.by_app == {}


async def test_a_slow_subscriber_is_closed_not_buffered() -> None:
    rig = Rig(queue=16)
    await rig.ask(p.SUBSCRIBE, app_list=[{"app_id": APP}])
    rig.feed.add(40)  # nobody reads the outbox
    assert rig.session.outbox.qsize() == 16
    assert rig.closed == [(p.CLOSE_TOO_SLOW, "too slow to read: resume with from_version")]
    assert rig.session.ended and rig.session.streams == {}


async def test_a_sync_that_fails_leaves_the_stream_live() -> None:
    rig = Rig()
    await rig.ask(p.SUBSCRIBE, app_list=[{"app_id": APP}])
    rig.feed.away = True
    await rig.ask(p.SYNC, app_list=[{"app_id": APP}])
    rig.feed.add(1)
    frames = rig.sent()
    # the one held during the sync goes on at once, the refusal, then live
    assert [(f["id"], f.get("result"), f.get("version")) for f in frames] == [
        (20005, 0, None),
        (20100, None, 1),
        (20009, 606000006, None),
        (20100, None, 2),
    ]
    assert rig.session.streams[APP].pending is None
