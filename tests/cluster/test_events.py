"""The event log in a cluster: one gap-free sequence per app whatever node appends,
every node's listeners hear every event once and in order, and a dead node's
terminals leave their groups."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from hstgw.events.log import EventLog, GroupLimits
from hstgw.events.model import Entry, Event, EventId
from hstgw.store import open_store
from tests.cluster.conftest import REDIS_URL, nodes
from tests.cluster.test_cluster import on
from tests.conftest import Gateway
from tests.online.conftest import make_app, raw_login
from tests.waiting import eventually

pytestmark = pytest.mark.anyio


class Heard:
    """What a node's listeners hear (called on the node's own thread)."""

    def __init__(self, node: Gateway) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()
        self.stop = node.app.state["gateway"].events.listen(self._heard)

    def _heard(self, e: Event) -> None:
        with self._lock:
            self.events.append(e)

    def of(self, app_id: str) -> list[Event]:
        with self._lock:
            return [e for e in self.events if e.app_id == app_id]


async def test_terminals_on_both_nodes_make_one_sequence_heard_everywhere(
    tmp_path: Path,
) -> None:
    with nodes(tmp_path, 2) as two:
        heard = [Heard(n) for n in two]
        app_a = make_app(two[0])
        app_b = on(app_a, two[1])
        terminals = []
        for i in range(6):
            t, reply = await raw_login(app_a if i % 2 else app_b, f"u{i}")
            assert reply["code"] == 0, reply
            terminals.append(t)

        async def churn(i: int, t: Any) -> None:
            for g in range(5):
                r = await t.request({"type": "join_group", "group_id": f"g{g}"})
                assert r["code"] in (0, 1000111), r  # (16 groups per terminal)
                await t.request(
                    {"type": "start_media", "group_id": f"g{g}", "media_id": "cam", "media_type": 2}
                )
                await t.request({"type": "leave_group", "group_id": f"g{g}"})

        await asyncio.gather(*(churn(i, t) for i, t in enumerate(terminals)))
        for t in terminals:
            await t.close()
        # 6 online, 6 x 5 x (join, start, stop, leave), 6 offline
        total = 6 + 6 * 5 * 4 + 6

        def all_heard() -> bool:
            return all(len(h.of(app_a.app_id)) == total for h in heard)

        assert await eventually(all_heard, 15), [len(h.of(app_a.app_id)) for h in heard]
        for h in heard:
            got = h.of(app_a.app_id)
            assert [e.version for e in got] == list(range(1, total + 1))  # in order, once
        # both nodes heard the same events
        assert [e.push() for e in heard[0].of(app_a.app_id)] == [
            e.push() for e in heard[1].of(app_a.app_id)
        ]
        # a node's own terminal's events, and the other's, reach each listener
        nodes_of_users = {e.body["user_id"] for e in heard[1].of(app_a.app_id)}
        assert nodes_of_users == {f"u{i}" for i in range(6)}
        for h in heard:
            h.stop()


async def test_a_missed_broadcast_is_read_from_the_store(tmp_path: Path) -> None:
    """Events appended by a process no node hears (its broadcasts lost) reach the
    listeners with the next event, or the next housekeeping tick."""
    with nodes(tmp_path, 1) as [node]:
        heard = Heard(node)
        app = make_app(node)
        store = open_store(node.settings)
        await store.open()
        silent = EventLog(store, GroupLimits(), node="silent")  # no relay: nobody told
        await silent.start()
        try:
            body = {"user_id": "x", "mutex_type": "web", "client_guid": "", "company_id": ""}
            await silent.append(app.app_id, [Entry(EventId.TERMINAL_ONLINE, body)] * 3)
            got = await eventually(lambda: len(heard.of(app.app_id)) == 3, 10)
            assert got, heard.of(app.app_id)
            assert [e.version for e in heard.of(app.app_id)] == [1, 2, 3]
        finally:
            await silent.stop()
            await store.close()
            heard.stop()


async def test_a_dead_nodes_terminals_leave_their_groups(tmp_path: Path) -> None:
    with nodes(tmp_path, 1) as [node]:
        app = make_app(node)
        t, _ = await raw_login(app, "alive")
        assert (await t.request({"type": "join_group", "group_id": "room"}))["code"] == 0
        # A node that died with a terminal in the room: its membership, and its name
        # listed among the cluster's nodes without a lease.
        store = open_store(node.settings)
        await store.open()
        ghost = EventLog(store, GroupLimits(), node="ghost")
        await ghost.start()
        joined = Entry(
            EventId.USER_JOINED, {"group_id": "room", "user_id": "gone"}, holder="c1", node="ghost"
        )
        media = Entry(
            EventId.MEDIA_STARTED,
            {"group_id": "room", "user_id": "gone", "media_id": "mic", "media_type": 1},
            holder="c1",
        )
        assert all(isinstance(r, Event) for r in await ghost.append(app.app_id, [joined, media]))
        await ghost.stop()
        r = aioredis.Redis.from_url(REDIS_URL)
        await r.sadd(f"hstgw:{node.settings.database_schema}:nodes", "ghost")
        await r.aclose()

        async def users() -> list[str]:
            snap = await store.group_snapshot(app.app_id, ["room"])
            return [u["user_id"] for g in snap.group_list for u in g["user_list"]]

        assert await eventually(lambda: _eq(users(), ["alive"]), 10)
        tail = await store.events_after(app.app_id, 4, 10)
        assert tail is not None
        assert [(int(e.id), e.body["user_id"]) for e in tail] == [(20103, "gone"), (20101, "gone")]
        await store.close()
        await t.close()


async def _eq(aw: Any, expected: Any) -> bool:
    return bool(await aw == expected)


async def test_a_node_taken_for_dead_takes_its_groups_up_again(two: list[Gateway]) -> None:
    """Node A's lease lapses (a long pause) and another node reaps it: its terminal
    leaves its group. A, alive after all, claims its sessions again and joins again."""
    app_a = make_app(two[0])
    t = app_a.terminal("paused")  # (it sends its heartbeats)
    await t.connect()
    await t.join_group("room")
    await t.start_media("room", "cam", 2)
    node_a = two[0].app.state["gateway"].cluster.node_id
    r = aioredis.Redis.from_url(REDIS_URL)
    store = open_store(two[0].settings)
    await store.open()
    reaper = EventLog(store, GroupLimits(), node="reaper")
    try:
        # what the reaping node does to A's groups, then A finds its lease gone
        assert await reaper.leave_node(node_a) == 1  # (its media stop with it)
        await r.delete(f"hstgw:{two[0].settings.database_schema}:lease:{node_a}")

        async def in_the_room() -> list[Any]:
            snap = await store.group_snapshot(app_a.app_id, ["room"])
            return snap.group_list

        assert await eventually(in_the_room, 10)
        assert await in_the_room() == [
            {
                "group_id": "room",
                "group_media_list": [],
                "user_list": [
                    {"user_id": "paused", "media_info": [{"media_id": "cam", "media_type": 2}]}
                ],
            }
        ]
        await t.leave_group("room")  # the terminal's own leave still works
        assert await in_the_room() == []
    finally:
        await reaper.stop()
        await store.close()
        await r.aclose()
        await t.close()


async def test_memberships_of_a_node_redis_forgot_are_left(tmp_path: Path) -> None:
    """A node that died while Redis was away is listed nowhere: its memberships are
    found in the store (a node without a lease) and left all the same."""
    with nodes(tmp_path, 1) as [node]:
        app = make_app(node)
        store = open_store(node.settings)
        await store.open()
        try:
            lost = EventLog(store, GroupLimits(), node="forgotten")
            body = {"group_id": "room", "user_id": "x"}
            entry = Entry(EventId.USER_JOINED, body, holder="c9", node="forgotten")
            assert isinstance((await lost.append(app.app_id, [entry]))[0], Event)
            await lost.stop()

            async def empty() -> bool:
                return (await store.group_snapshot(app.app_id, None)).group_list == []

            assert await eventually(empty, 15)  # (every 10 ticks of 0.5 s)
        finally:
            await store.close()
