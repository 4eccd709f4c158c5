"""Faults, for real: a node killed with SIGKILL, Redis restarted under two nodes.

(PostgreSQL restarted under a node: tests/store/test_postgres_restart.py, which runs
in cluster mode too.)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from hstgw.settings import Settings
from tests.billing.test_limits_and_gateway_usage import now_event
from tests.cluster.conftest import REDIS_URL, cluster_settings, nodes
from tests.cluster.proxy import Proxy
from tests.cluster.test_cluster import on, users
from tests.conftest import Clock, Gateway, free_port
from tests.online.conftest import OnlineApp, make_app, raw_login
from tests.waiting import eventually, eventually_sync

pytestmark = pytest.mark.anyio


class NodeProcess:
    """``hstgw serve`` in a process of its own."""

    def __init__(self, data_dir: Path, settings: dict[str, Any], terminal_url: str) -> None:
        self.port, self.terminal_port = free_port(), free_port()
        env = {
            **os.environ,
            **{f"HSTGW_{k.upper()}": str(v) for k, v in settings.items()},
            "HSTGW_PORT": str(self.port),
            "HSTGW_TERMINAL_PORT": str(self.terminal_port),
            "HSTGW_TERMINAL_PUBLIC_URL": terminal_url,
            "HSTGW_DATA_DIR": str(data_dir),
            "HSTGW_ACCESS_LOG": "false",
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hstgw", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def up() -> bool:
            assert self.proc.poll() is None, "node exited at start"
            try:
                return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).is_success
            except httpx.HTTPError:
                return False

        assert eventually_sync(up, 20), "node did not start"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextmanager
def two_processes(tmp: Path) -> Iterator[tuple[Gateway, NodeProcess, NodeProcess]]:
    """Two node processes behind one REST and one WebSocket address (the proxies)."""
    with cluster_settings() as settings, Proxy([]) as rest, Proxy([]) as ws:
        started: list[NodeProcess] = []
        try:
            for name in ("a", "b"):
                started.append(NodeProcess(tmp / name, settings, f"ws://127.0.0.1:{ws.port}/"))
            a, b = started
            rest.backends = [a.port, b.port]
            ws.backends = [a.terminal_port, b.terminal_port]
            front = Gateway(
                f"http://127.0.0.1:{rest.port}", tmp, Clock(), Settings(data_dir=tmp, **settings)
            )
            with front.http:
                yield front, a, b
        finally:
            for node in started:
                node.stop()


async def test_kill_9_of_a_node(tmp_path: Path) -> None:
    with two_processes(tmp_path) as (front, a, b):
        app = make_app(front)
        direct_b = dataclasses_replace_ws(app, f"ws://127.0.0.1:{b.terminal_port}/")
        direct_a = dataclasses_replace_ws(app, f"ws://127.0.0.1:{a.terminal_port}/")
        # k: the SDK terminal with reconnect, through the front (so on A);
        # gone: a raw terminal on A that will not come back; stay: on B.
        k = app.terminal("k", reconnect=True, client_guid="k-1")
        await k.connect()
        gone, _ = await raw_login(direct_a, "gone", client_guid="gone-1")
        stay, _ = await raw_login(direct_b, "stay", client_guid="stay-1")
        assert [u[2] for u in users(app)] == [1, 1, 1]

        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait()
        killed_at = time.monotonic()

        async def next_event(kind: str) -> dict[str, Any]:
            async for event in k.events():
                if event["type"] == kind:
                    return event
            raise AssertionError("events ended")

        # k comes back through the front, now reaching B
        await asyncio.wait_for(next_event("reconnected"), 15)
        # the dead node's other terminal is listed offline within the lease (2 s) and a
        # housekeeping tick (0.5 s), with margin for a loaded machine
        assert await eventually(
            lambda: ("gone", "web", 0, "gone-1") in users(app), killed_at + 8 - time.monotonic()
        ), users(app)
        assert users(app) == [
            ("gone", "web", 0, "gone-1"),
            ("k", "web", 1, "k-1"),
            ("stay", "web", 1, "stay-1"),
        ]
        # and k is reachable again
        reply = app.rest(
            "POST",
            "/v1/online/trans-cmd",
            json={
                "app_id": app.app_id,
                "msg_id": 1,
                "trans_mess": {"after": "kill"},
                "user_list": [{"user_id": "k", "mutex_type": "web", "client_guid": ""}],
            },
        )
        assert [u["result"] for u in reply["result"]["user_list"]] == [0]
        await k.close()
        await stay.close()
        await gone.close()


def dataclasses_replace_ws(app: OnlineApp, ws_url: str) -> OnlineApp:
    return dataclasses.replace(app, ws_url=ws_url)


REDIS_START = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "-::1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    "/var/lib/redis",
    "--logfile",
    "/var/log/redis/ci.log",
]


@pytest.mark.skipif(
    not (shutil.which("redis-server") and REDIS_URL == "redis://127.0.0.1:6379/0"),
    reason="needs the machine's own Redis, which this test stops and starts",
)
async def test_redis_restart(tmp_path: Path) -> None:
    with nodes(tmp_path, 2) as (a, b):
        dev = a.new_dev()
        app_a = make_app(a, dev=dev)
        app_b = on(app_a, b)
        key = a.new_node("media")
        t, _ = await raw_login(app_a, "t", client_guid="t-1")
        u, _ = await raw_login(app_b, "u", client_guid="u-1")
        client = redis.Redis.from_url(REDIS_URL)

        def usage(node: Gateway, event_id: str) -> dict[str, Any]:
            return node.call(
                "POST",
                "/internal/v1/usage",
                headers={"Authorization": f"Bearer {key}"},
                json={"events": [now_event(event_id, app_a.app_id, 6, total_sig_num=1)]},
            )

        assert usage(a, "before")["result"]["accepted"] == 1
        with contextlib.suppress(redis.ConnectionError):  # it closes the connection as it goes
            client.shutdown(nosave=True)
        client.close()
        try:
            # meanwhile: REST answers 606000006 quickly, terminals are told to retry,
            # and usage from nodes is still taken (it goes to PostgreSQL)
            started = time.monotonic()
            reply = app_b.rest(
                "GET", "/v1/online/user/state", params={"app_id": app_a.app_id, "msg_id": 1}
            )
            assert reply["code"] == 606000006
            # a refused connection, not a wait for the 2 s command timeout (the time is
            # what is tested; the work itself is a few ms)
            assert time.monotonic() - started < 2.0
            busy = await u.request({"type": "list_online", "seq": 7})
            assert busy["code"] == 1000107
            assert usage(b, "during")["result"]["accepted"] == 1
        finally:
            subprocess.run(REDIS_START, check=True, capture_output=True, timeout=30)  # noqa: ASYNC221
        back = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)

        def answers() -> bool:  # its return: when it answers
            with contextlib.suppress(redis.ConnectionError):
                return bool(back.ping())
            return False

        assert await eventually(answers, 30), "Redis did not come back"
        back.close()
        returned = time.monotonic()
        # Back within 5 s: the nodes claim their terminals again. This Redis keeps
        # nothing on disk, so access tokens are gone: the developer fetches a new one.
        fresh = ""

        def healthy() -> bool:
            nonlocal fresh
            if not fresh:
                r = a.http.get(
                    f"{a.url}/access/token", headers={"Authorization": a.dev_authorization(dev)}
                ).json()
                fresh = r["result"]["access_token"] if r["code"] == 0 else ""
                if not fresh:
                    return False
            for node in (a, b):  # (each node's own connections to Redis back)
                reply = node.call(
                    "GET",
                    "/v1/online/user/state",
                    fresh,
                    params={"app_id": app_a.app_id, "msg_id": 1},
                )
                if reply["code"] != 0:
                    return False
                states = {(x["user_id"], x["state"]) for x in reply["result"]["user_list"]}
                if states != {("t", 1), ("u", 1)}:
                    return False
            return True

        assert await eventually(healthy, returned + 5.0 - time.monotonic()), (
            "not recovered within 5 s"
        )
        # routing works again both ways
        reply = b.call(
            "POST",
            "/v1/online/trans-cmd",
            fresh,
            json={
                "app_id": app_a.app_id,
                "msg_id": 2,
                "trans_mess": {},
                "user_list": [{"user_id": "t", "mutex_type": "web", "client_guid": ""}],
            },
        )
        assert reply["code"] == 0, reply  # (what it was, should it fail)
        assert [x["result"] for x in reply["result"]["user_list"]] == [0]
        assert (await u.request({"type": "list_online", "seq": 8}))["code"] == 0
        # the outage is on record in /metrics
        metrics = b.http.get(f"{b.url}/metrics").text
        [errors] = [x for x in metrics.splitlines() if x.startswith("hstgw_redis_errors_total ")]
        assert float(errors.split()[1]) >= 1
        # no usage lost: before, during (and a copy of it, once) all counted
        assert usage(a, "after")["result"]["accepted"] == 1
        assert usage(a, "during")["result"]["duplicates"] == 1
        await t.close()
        await u.close()
