"""Faults under the event log, for real (node processes, the machine's own Redis and
PostgreSQL, nothing mocked): a subscriber's node killed with SIGKILL, a webhook
receiver down for minutes, Redis and PostgreSQL restarted with events flowing. Each
time the subscribers and the webhook end with every version of the app once, in
order (tests/cluster/event_fault_rig.py keeps and checks what they handled).

Like tests/cluster/test_faults.py and tests/store/test_postgres_restart.py, these
stop and start the shared servers: run them alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from hstgw.sdk import AsyncClient
from hstgw.settings import Settings
from tests.cluster.conftest import REDIS_URL, cluster_settings, nodes
from tests.cluster.event_fault_rig import (
    Producers,
    RawSubscriber,
    SdkSubscriber,
    Seen,
    assert_continues,
    assert_whole,
    close_all,
    delivery,
    head,
    offline,
    once_each,
    receiving,
    redis_answers,
    settle,
    terminals,
)
from tests.cluster.proxy import Proxy
from tests.cluster.test_cluster import on
from tests.cluster.test_faults import REDIS_START, NodeProcess, dataclasses_replace_ws
from tests.conftest import Clock, Gateway, free_port
from tests.events.event_gateway_rig import ws_url
from tests.online.conftest import make_app
from tests.store.test_postgres_restart import CLUSTER
from tests.store.test_postgres_restart import cluster as pg_cluster
from tests.store.test_postgres_restart import wait_ready as pg_ready
from tests.waiting import eventually
from tests.webhooks.conftest import HOOK_SETTINGS, deliveries

# The producers toggle group membership as fast as the nodes answer: the per-terminal
# group frame limit (an abuse limit, tests/online/test_groups_attacks.py) is off here,
# where what is tested is what faults do to the events, not the limit.
PRODUCING: dict[str, Any] = {"limit_group_frames_per_terminal": 0}

pytestmark = pytest.mark.anyio


class EventNode(NodeProcess):
    """A node process with an event gateway port of its own, telling backends to use
    ``egw_url`` (the proxy in front of the nodes)."""

    def __init__(
        self, data_dir: Path, settings: dict[str, Any], terminal_url: str, egw_url: str
    ) -> None:
        self.event_port = free_port()
        own = {**settings, "event_port": self.event_port, "event_public_url": egw_url}
        super().__init__(data_dir, own, terminal_url)


@contextmanager
def event_processes(tmp: Path) -> Iterator[tuple[Gateway, EventNode, EventNode]]:
    """Two node processes behind one REST, one terminal and one event gateway address
    (proxies that take the first node that accepts: A while it lives)."""
    with cluster_settings() as cluster, Proxy([]) as rest, Proxy([]) as ws, Proxy([]) as egw:
        settings = {**cluster, **PRODUCING}
        started: list[EventNode] = []
        try:
            for name in ("a", "b"):
                started.append(
                    EventNode(
                        tmp / name,
                        settings,
                        f"ws://127.0.0.1:{ws.port}/",
                        f"ws://127.0.0.1:{egw.port}/",
                    )
                )
            a, b = started
            rest.backends = [a.port, b.port]
            ws.backends = [a.terminal_port, b.terminal_port]
            egw.backends = [a.event_port, b.event_port]
            front = Gateway(
                f"http://127.0.0.1:{rest.port}", tmp, Clock(), Settings(data_dir=tmp, **settings)
            )
            with front.http:
                yield front, a, b
        finally:
            for node in started:
                node.stop()


async def test_kill_9_of_the_subscribers_node(tmp_path: Path) -> None:
    """The subscribers are on node A (the SDK through the proxies, the raw one on A's
    own port); A is killed while terminals on B keep appending. Both resume on B from
    their last version: no gap, no duplicate, no snapshot again."""
    with event_processes(tmp_path) as (front, a, b):
        dev = front.new_dev()
        app = make_app(front, dev=dev)
        on_b = dataclasses_replace_ws(app, f"ws://127.0.0.1:{b.terminal_port}/")
        on_a = dataclasses_replace_ws(app, f"ws://127.0.0.1:{a.terminal_port}/")
        doomed = await terminals(on_a, ["doomed"])  # in a group when its node dies
        joined = await doomed["doomed"].request({"type": "join_group", "group_id": "r"})
        assert joined["code"] == 0, joined
        makers = await terminals(on_b, ["p1", "p2", "p3"])
        async with AsyncClient(front.url, dev.dev_id, dev.dev_secret) as client:
            sdk = SdkSubscriber(client, app.app_id)
            urls = [f"ws://127.0.0.1:{n.event_port}/" for n in (a, b)]
            raw = RawSubscriber(client, app.app_id, urls)
            producers = Producers(makers)
            both = (sdk.seen, raw.seen)
            assert await eventually(lambda: all(len(s.pushes) >= 30 for s in both), 15)
            assert raw.connections == 1

            a.proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(a.proc.wait)
            killed_at, ok_at_kill = time.monotonic(), producers.ok()
            # events appended on B after the kill; and the dead node's terminal leaves
            # its group and goes offline (B appends both once A's lease ran out)
            assert await eventually(lambda: producers.ok() >= ok_at_kill + 60, 15)
            gone = await eventually(lambda: offline(sdk.seen.pushes, {"doomed"}), 15)
            assert gone, "no 20901 for the dead node's terminal"
            assert left(sdk.seen, "doomed")
            final = await settle(front.settings, app.app_id, producers, makers, [*both])
            assert producers.failed() == []
            await sdk.close()
            await raw.close()
        assert_whole(sdk.seen, final, None)
        assert_whole(raw.seen, final)
        assert (sdk.snapshots, raw.resyncs, raw.connections) == (1, 0, 2), raw.odd
        print(
            f"\nkill -9: {final} events; resumed on B after "
            f"{sdk.seen.first_after(killed_at) * 1000:.0f} ms (SDK), "
            f"{raw.seen.first_after(killed_at) * 1000:.0f} ms (raw)"
        )
        await close_all(doomed)


def left(seen: Seen, user: str) -> bool:
    return any(e["id"] == 20101 and e.get("user_id") == user for e in seen.pushes)


# HSTGW_WEBHOOK_RETRY_FIRST: 0.02 s instead of the default 1 s, so every back-off wait
# is 50 times shorter (the wait after the n-th failed attempt is first * 2^(n-1) s,
# half of it random).
RETRY_FIRST_S = 0.02
DOWN_ATTEMPTS = 9  # 8 waits between them: 128..255 s with the default, 2.6..5.1 s here


async def test_a_webhook_receiver_down_for_minutes(tmp_path: Path) -> None:
    """A webhook's receiver is really down (its port closed: each attempt's connection
    is refused) while terminals on both nodes keep appending, then comes back: it gets
    every event from then on, in order, each version once.

    "Minutes" are compressed by the settings, not faked: HSTGW_WEBHOOK_RETRY_FIRST is
    0.02 s instead of 1 s, which shortens every back-off wait 50 times, and the receiver
    stays down until the delivery in flight has failed ``DOWN_ATTEMPTS`` (9) attempts,
    all refused: with the default settings those waits add up to 128..255 s, 2 to 4
    minutes; here 2.6..5.1 s. HSTGW_WEBHOOK_RETRY_FOR keeps its 24 h, so the endpoint
    is never marked failing."""
    hooks = {**HOOK_SETTINGS, **PRODUCING, "webhook_retry_first": RETRY_FIRST_S}
    with receiving() as receiver, nodes(tmp_path, 2, **hooks) as (a, b):
        app = make_app(a)
        made = app.rest("POST", "/v1/webhooks", json={"url": receiver.url, "app_id": app.app_id})
        assert made["code"] == 0, made
        hook_id = made["result"]["webhook_id"]
        makers = {**await terminals(app, ["p1", "p2"]), **await terminals(on(app, b), ["p3"])}
        producers = Producers(makers)
        assert await eventually(lambda: len(receiver.versions()) >= 20, 10)

        receiver.stop()
        down_at = time.monotonic()

        async def refused_enough() -> dict[str, Any] | None:
            rows = await asyncio.to_thread(deliveries, a, app.token, hook_id)
            pending = [r for r in rows if r["status"] == "pending"]
            if pending and pending[0]["attempts"] >= DOWN_ATTEMPTS:
                return pending[0]
            return None

        stuck = await eventually(refused_enough, 30)
        assert stuck, "the delivery was not retried while the receiver was down"
        assert stuck["last_error"].startswith("ConnectError"), stuck  # (refused)
        down_s = time.monotonic() - down_at
        received_while_down = len(receiver.versions())
        receiver.start()
        up_at, ok_at_up = time.monotonic(), producers.ok()
        # the next attempt comes when the back-off wait in progress ends
        assert await eventually(lambda: len(receiver.versions()) > received_while_down, 15)
        back_s = time.monotonic() - up_at
        assert await eventually(lambda: producers.ok() >= ok_at_up + 60, 15)
        final = await settle(a.settings, app.app_id, producers, makers, [], receiver)
        assert producers.failed() == []
        kept, repeats = once_each(receiver.versions())
        assert kept == list(range(1, final + 1))
        assert repeats == 0  # (no acknowledgement was lost: none sent twice)
        row = await asyncio.to_thread(delivery, a, app.token, hook_id, stuck["delivery_id"])
        assert row["status"] == "delivered" and row["attempts"] > DOWN_ATTEMPTS, row
        print(
            f"\nwebhook: down {down_s:.1f} s ({row['attempts'] - 1} attempts refused), "
            f"delivering again {back_s:.1f} s after it was up, "
            f"{len(kept) - received_while_down} deliveries since, {final} events in all"
        )


@pytest.mark.skipif(
    not (shutil.which("redis-server") and REDIS_URL == "redis://127.0.0.1:6379/0"),
    reason="needs the machine's own Redis, which this test stops and starts",
)
async def test_redis_restart_with_events_flowing(tmp_path: Path) -> None:
    """Redis stops under two nodes while terminals on both append (the log is in
    PostgreSQL: appends go on; the nodes' broadcasts are lost meanwhile) and comes
    back empty (access tokens gone: the subscribers log in again). Subscribers on each
    node and a webhook end with every version once, in order."""
    # (access tokens asked again every 0.5 s: the sessions find theirs gone quickly)
    checked = {**HOOK_SETTINGS, **PRODUCING, "event_token_check": 0.5}
    with receiving() as receiver, nodes(tmp_path, 2, **checked) as (a, b):
        dev = a.new_dev()
        app = make_app(a, dev=dev)
        made = app.rest("POST", "/v1/webhooks", json={"url": receiver.url, "app_id": app.app_id})
        assert made["code"] == 0, made
        makers = {**await terminals(app, ["p1", "p2"]), **await terminals(on(app, b), ["p3"])}
        async with AsyncClient(b.url, dev.dev_id, dev.dev_secret) as client:
            sdk = SdkSubscriber(client, app.app_id)
            raw = RawSubscriber(client, app.app_id, [ws_url(a)])
            producers = Producers(makers)
            subs = (sdk.seen, raw.seen)
            assert await eventually(lambda: all(len(s.pushes) >= 20 for s in subs), 10)
            assert await eventually(lambda: len(receiver.versions()) >= 20, 10)
            down_at = time.monotonic()
            try:
                r = redis.Redis.from_url(REDIS_URL)
                with contextlib.suppress(redis.ConnectionError):  # it closes as it goes
                    r.shutdown(nosave=True)
                r.close()
                # down long enough for a few housekeeping ticks and token checks (0.5 s)
                asked = len(producers.replies)
                assert await eventually(lambda: len(producers.replies) >= asked + 150, 15)
            finally:
                await asyncio.to_thread(
                    subprocess.run, REDIS_START, check=True, capture_output=True, timeout=30
                )
                assert await eventually(redis_answers, 30), "Redis did not come back"
            down_s = time.monotonic() - down_at
            up_at, target, ok_up = (
                time.monotonic(),
                await head(a.settings, app.app_id),
                producers.ok(),
            )

            def caught_up() -> bool:
                hook = receiver.versions()[-1:]
                return all(s.last >= target for s in subs) and bool(hook) and hook[0] >= target

            assert await eventually(caught_up, 15)
            caught_up_s = time.monotonic() - up_at
            assert await eventually(lambda: producers.ok() >= ok_up + 60, 15)
            final = await settle(a.settings, app.app_id, producers, makers, [*subs], receiver)
            await sdk.close()
            await raw.close()
        assert_continues(sdk.seen, final)
        assert_whole(raw.seen, final)  # (replays only: from 0, every version)
        kept, repeats = once_each(receiver.versions())
        assert kept == list(range(1, final + 1))
        # while Redis was away a terminal request may be refused as busy, nothing else
        assert {r[2] for r in producers.failed()} <= {1000107}, producers.failed()[:5]
        print(
            f"\nRedis restart: down {down_s:.1f} s, {final} events; "
            f"SDK {sdk.snapshots} snapshot(s), raw {raw.connections} connections, "
            f"webhook repeats {repeats}; "
            f"{len(producers.failed())} terminal requests refused busy; everything "
            f"appended during the outage heard {caught_up_s * 1000:.0f} ms after Redis was up"
        )


def _after(seen: Seen, moment: float) -> float:
    return seen.first_after(moment) * 1000


@pytest.mark.skipif(
    not (shutil.which("pg_ctlcluster") and CLUSTER and os.geteuid() == 0),
    reason="needs a local PostgreSQL cluster this user may stop and start",
)
async def test_postgres_restart_with_events_flowing(tmp_path: Path) -> None:
    """PostgreSQL stops under two nodes while terminals on both append and subscribers
    listen. Appends meanwhile fail cleanly: terminals get 1000107 (busy), a media node's
    batch 606000006, and nothing of either is written (the batch sent again is accepted
    whole, a duplicate of nothing). Afterwards the subscribers and the webhook go on:
    every version once, in order, exactly the appends that were answered."""
    with receiving() as receiver, nodes(tmp_path, 2, **HOOK_SETTINGS, **PRODUCING) as (a, b):
        dev = a.new_dev()
        app = make_app(a, dev=dev)
        made = app.rest("POST", "/v1/webhooks", json={"url": receiver.url, "app_id": app.app_id})
        assert made["code"] == 0, made
        node_key = {"Authorization": f"Bearer {a.new_node('media')}"}
        batch = {
            "events": [
                {"event_id": f"m-{i}", "app_id": app.app_id, "id": 20100,
                 "group_id": "stage", "user_id": f"m{i}"}
                for i in range(5)
            ]
        }  # fmt: skip

        def report(node: Gateway) -> dict[str, Any]:
            return node.call("POST", "/internal/v1/events", json=batch, headers=node_key)

        makers = {**await terminals(app, ["p1", "p2"]), **await terminals(on(app, b), ["p3"])}
        async with AsyncClient(a.url, dev.dev_id, dev.dev_secret) as client:
            sdk = SdkSubscriber(client, app.app_id)
            raw = RawSubscriber(client, app.app_id, [ws_url(b)])
            producers = Producers(makers)
            subs = (sdk.seen, raw.seen)
            assert await eventually(lambda: all(len(s.pushes) >= 20 for s in subs), 10)
            assert await eventually(lambda: len(receiver.versions()) >= 20, 10)
            down_at = time.monotonic()
            try:
                await asyncio.to_thread(pg_cluster, "stop")
                refused = await asyncio.to_thread(report, b)
                assert refused["code"] == 606000006, refused
                busy = len(producers.failed())
                assert await eventually(lambda: len(producers.failed()) >= busy + 10, 10)
            finally:
                await asyncio.to_thread(pg_cluster, "start")
                await asyncio.to_thread(pg_ready)
            down_s = time.monotonic() - down_at
            up_at = time.monotonic()

            async def accepted() -> dict[str, Any] | None:
                got = await asyncio.to_thread(report, a)
                return got if got["code"] == 0 else None

            again = await eventually(accepted, 10)
            assert again and again["result"] == {"accepted": 5, "duplicates": 0, "ignored": []}
            ok_up = producers.ok()
            assert await eventually(lambda: producers.ok() >= ok_up + 60, 15)
            final = await settle(a.settings, app.app_id, producers, makers, [*subs], receiver)
            await sdk.close()
            await raw.close()
        assert_whole(sdk.seen, final, None)
        assert_whole(raw.seen, final)
        kept, repeats = once_each(receiver.versions())
        assert kept == list(range(1, final + 1))
        failed = producers.failed()
        assert failed and {r[2] for r in failed} == {1000107}, failed[:5]
        # Nothing half-written: the producers' group events in the log are exactly the
        # requests answered 0, with the versions they were told.
        told = sorted(r[3] for r in producers.replies if r[2] == 0 and r[3] is not None)
        logged = sorted(
            e["version"]
            for e in raw.seen.pushes
            if e["id"] in (20100, 20101) and e["user_id"] in makers
        )
        assert logged == told
        media = [e for e in raw.seen.pushes if e.get("group_id") == "stage"]
        assert [e["user_id"] for e in media] == [f"m{i}" for i in range(5)]
        print(
            f"\nPostgreSQL restart: down {down_s:.1f} s, {final} events; "
            f"{len(failed)} terminal appends refused busy; SDK pushed again "
            f"{_after(sdk.seen, up_at):.0f} ms, raw {_after(raw.seen, up_at):.0f} ms "
            f"after it was up; webhook repeats {repeats}"
        )
