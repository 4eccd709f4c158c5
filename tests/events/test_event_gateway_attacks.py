"""The event gateway against a hostile subscriber of its own developer: what one
connection may make the gateway hold or do, on a real gateway."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from hstgw.abuse import LocalBuckets
from hstgw.egw.outbox import MAX_WAITED_CHARS
from hstgw.events.model import Entry, EventId
from tests.clocks import ManualClock
from tests.conftest import Gateway, start_gateway
from tests.events.event_gateway_rig import Sub, append, crowd, listener, make_app
from tests.waiting import eventually

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    yield from start_gateway(Path(tmp_path_factory.mktemp("egw-attacks")), auth_cache_ttl=0)


def _big_group(i: int) -> Entry:
    body = {"group_id": f"g{i:04d}-" + "x" * 100, "user_id": "u" * 128}
    return Entry(EventId.USER_JOINED, body, holder=f"h-{i}")


async def test_snapshots_never_read_are_bounded_in_memory(gw: Gateway) -> None:
    dev = gw.new_dev()
    app_id = make_app(gw, dev)
    await append(gw, app_id, *(_big_group(i) for i in range(1500)))  # a ~400 KB snapshot
    sub = await Sub.open(gw)
    assert (await sub.login(dev.dev_id, gw.access_token(dev)))["result"] == 0
    for _ in range(60):  # asks again and again, and reads nothing
        await sub.send(20008, app_list=[{"app_id": app_id}])
    [session] = [s for s in listener(gw).sessions if s.dev_id == dev.dev_id]
    outbox = session.outbox
    # The gateway stops taking requests once its replies wait past the bound, instead
    # of holding HSTGW_EVENT_QUEUE snapshots (hundreds of megabytes) for this client.
    assert await eventually(lambda: outbox.chars >= MAX_WAITED_CHARS, 20)
    frame = max(len(t) for t in list(outbox._queue))
    assert outbox.chars <= MAX_WAITED_CHARS + frame
    await sub.close()


async def test_a_sync_costs_a_call_per_app(tmp_path: Path) -> None:
    # 10 calls a second, bursts of 20: one sync of 15 apps is 15 snapshot reads
    for g in start_gateway(tmp_path, limit_calls_per_developer=10):
        dev = g.new_dev()
        app_id = make_app(g, dev)
        sub = await Sub.open(g)
        assert (await sub.login(dev.dev_id, g.access_token(dev)))["result"] == 0
        apps = [{"app_id": app_id}] + [{"app_id": f"{i:032x}"} for i in range(14)]
        await sub.send(20008, app_list=apps)
        replies = [await sub.recv() for _ in apps]
        assert replies[0]["result"] == 0
        assert {r["result"] for r in replies[1:]} == {606000003}  # not its apps
        # the bucket is spent: the next sync of as many apps is refused whole
        busy = await sub.ask(20008, app_list=apps)
        assert (busy["id"], busy["result"]) == (20009, 606000006)
        busy = await sub.ask(20004, app_list=apps)  # a subscribe's lookups the same
        assert (busy["id"], busy["result"]) == (20005, 606000006)
        await sub.close()


@pytest.mark.parametrize("names_groups", [False, True], ids=["full", "of-its-groups"])
async def test_syncing_a_large_app_again_costs_what_it_reads(
    tmp_path: Path, names_groups: bool
) -> None:
    # 10 calls a second, bursts of 20; a sync of the app reads 100 groups and their
    # 1000 users: a call and 11 more, once its size is known
    for g in start_gateway(tmp_path, limit_calls_per_developer=10):
        g.app.state["gateway"].guard.buckets = LocalBuckets(ManualClock())  # (no refill)
        dev = g.new_dev()
        app_id = make_app(g, dev)
        await append(g, app_id, *crowd(100, 10))
        sub = await Sub.open(g)
        assert (await sub.login(dev.dev_id, g.access_token(dev)))["result"] == 0
        entry: dict[str, object] = {"app_id": app_id}
        if names_groups:  # (every group by name: as much read as a full sync)
            entry["group_list"] = [f"g{i:03d}" for i in range(100)]
        first = await sub.ask(20008, app_list=[entry])  # a call
        assert first["result"] == 0 and len(first["group_list"]) == 100
        # 12 calls each now: the 18 calls left hold one (a call each, dozens would pass)
        replies = [await sub.ask(20008, app_list=[entry]) for _ in range(2)]
        assert (20009, 606000006) in [(r["id"], r["result"]) for r in replies]
        await sub.close()


async def test_logging_in_again_with_bad_tokens_counts_as_failures(tmp_path: Path) -> None:
    for g in start_gateway(tmp_path, limit_auth_failures_per_address=3):
        dev = g.new_dev()
        sub = await Sub.open(g)
        assert (await sub.login(dev.dev_id, g.access_token(dev)))["result"] == 0
        results = [(await sub.login(dev.dev_id, f"{i:032x}"))["result"] for i in range(4)]
        # a logged-in connection cannot guess tokens past the address's budget
        assert results == [606000000] * 3 + [606000006]
        await sub.close()


async def test_one_developer_cannot_take_every_session(tmp_path: Path) -> None:
    for g in start_gateway(tmp_path, event_max_sessions_per_developer=2):
        dev, other = g.new_dev(), g.new_dev()
        token = g.access_token(dev)
        subs = [await Sub.open(g) for _ in range(3)]
        results = [(await s.login(dev.dev_id, token))["result"] for s in subs]
        assert results == [0, 0, 606000006]
        assert (await subs[2].closed())[0] == 4000
        neighbour = await Sub.open(g)  # another developer is not held up
        assert (await neighbour.login(other.dev_id, g.access_token(other)))["result"] == 0
        await subs[0].close()  # a session ended frees its place
        assert await eventually(partial(_logs_in, g, dev.dev_id, token))
        await subs[1].close()
        await neighbour.close()


async def _logs_in(g: Gateway, dev_id: str, token: str) -> bool:
    sub = await Sub.open(g)
    ok = (await sub.login(dev_id, token))["result"] == 0
    await sub.close()
    return ok
