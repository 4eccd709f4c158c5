"""Two cluster nodes against one: REST throughput, fan-out to terminals, and
unicast latency from a REST call on one node to terminals on the other.

    python bench/cluster.py [--terminals 10000] [--seconds 5] [--rounds 3] [--rate 500]

Needs wrk, and PostgreSQL and Redis (``HSTGW_BENCH_DATABASE_URL``, default
postgresql://postgres@127.0.0.1:5432/test; ``HSTGW_BENCH_REDIS_URL``, default
redis://127.0.0.1:6379/0). Starts two ``hstgw serve`` nodes in cluster mode on a
fresh schema (dropped at the end, with its Redis keys), then:

1. REST, the load of bench/rest.py (authenticated ``GET /v1/app``, 64 connections):
   wrk against node A alone, then two wrk processes at once, 32 connections each,
   against A and B; rounds alternate. Prints both rates and their ratio.
2. Terminals, the load of bench/terminals.py: N terminals all on node A, one
   trans-cmd fanned out to all of them through A; then the same N split over A and
   B, fanned out through A (half of them cross nodes). Prints both times.
3. Unicast at a fixed rate through node A's REST API to terminals on A (same node)
   and to terminals on B (cross node): p50 and p99 from the REST call to the
   terminal's receipt.

On a 2-core machine both nodes, wrk, the terminals, PostgreSQL and Redis share the
same two cores: the REST ratio shows the cost of the cluster, not its scaling, which
needs a machine per node (docs/performance.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _http import free_port, hstgw_json, wait_http
from hstgw.sdk import Client
from rest import LUA, wrk
from terminals import Harness, fan_out, rss_kib, unicast

DATABASE_URL = os.environ.get(
    "HSTGW_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("HSTGW_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


class Node:
    def __init__(
        self, work: Path, name: str, env: dict[str, str], profile: str | None = None
    ) -> None:
        self.port, self.tport, self.eport = free_port(), free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = (work / f"{name}.log").open("w")
        # profile: a file for cProfile's figures of the node (written when it stops)
        run = ["-m", "cProfile", "-o", profile] if profile else []
        self.proc = subprocess.Popen(
            [sys.executable, *run, "-m", "hstgw", "serve"],
            env={
                **env,
                "HSTGW_PORT": str(self.port),
                "HSTGW_TERMINAL_PORT": str(self.tport),
                "HSTGW_EVENT_PORT": str(self.eport),
                "HSTGW_DATA_DIR": str(work / name),
            },
            stderr=self.log,
        )
        wait_http(f"{self.base}/healthz")
        self.ws_url = f"ws://127.0.0.1:{self.tport}/"
        self.egw_url = f"ws://127.0.0.1:{self.eport}/"

    def stop(self) -> None:
        # (either signal stops the server, which returns: cProfile then writes its file)
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        self.log.close()


def wrk_both(
    urls: list[str], seconds: int, connections: int, lua: str, headers: list[str]
) -> float:
    """The sum of the rates of one wrk per url, run at the same time."""
    rates: list[float] = []
    threads = [
        threading.Thread(
            target=lambda u=u: rates.append(wrk(u, seconds, connections, lua, headers))
        )
        for u in urls
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(rates)


def redis_memory() -> int:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    used = int(client.info("memory")["used_memory"])
    client.close()
    return used


def drop(schema: str) -> None:
    import asyncpg
    import redis

    async def go() -> None:
        conn = await asyncpg.connect(DATABASE_URL)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()

    asyncio.run(go())
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"hstgw:{schema}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--terminals", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=int, default=500, help="unicast commands per second")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench/cluster.py needs wrk: apt-get install wrk", file=sys.stderr)
        return 2
    n = args.terminals - args.terminals % 2
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    work = Path(tempfile.mkdtemp(prefix="hstgw-bench-cluster-"))
    schema = f"bench_{secrets.token_hex(4)}"
    env = {
        **os.environ,
        "HSTGW_DATABASE_URL": DATABASE_URL,
        "HSTGW_DATABASE_SCHEMA": schema,
        "HSTGW_REDIS_URL": REDIS_URL,
        "HSTGW_SECRET_KEY": secrets.token_hex(32),
        "HSTGW_HEARTBEAT_INTERVAL": "600",
        # one developer and one app at the load's full rate: limits raised, still checked
        "HSTGW_LIMIT_CALLS_PER_DEVELOPER": str(10**9),
        "HSTGW_LIMIT_LOGINS_PER_APP": str(10**6),
        "HSTGW_LIMIT_TERMINALS_PER_APP": str(10**6),
        # every bench terminal connects from 127.0.0.1: one address, raised (still checked)
        "HSTGW_TERMINAL_MAX_CONNECTIONS_PER_ADDRESS": str(10**6),
        "HSTGW_ACCESS_LOG": "true",
    }
    lua = work / "check.lua"
    lua.write_text(LUA)
    nodes: list[Node] = []
    harness: Harness | None = None
    out: dict[str, Any] = {}
    try:
        nodes = [Node(work, "a", env), Node(work, "b", env)]
        a, b = nodes
        dev = hstgw_json("dev", "create", env=env)
        with Client(a.base, dev["dev_id"], dev["dev_secret"]) as client:
            app = client.apps.create("bench_cluster", [3, 4, 6, 7], status="online")
            token = client.get_access_token()

        # 1. REST
        path = f"/v1/app?app_id={app.app_id}"
        headers = [f"Authorization: {token}"]
        wrk(a.base + path, 1, 64, str(lua), headers)
        wrk(b.base + path, 1, 64, str(lua), headers)
        one, two = [], []
        for _ in range(args.rounds):
            one.append(wrk(a.base + path, args.seconds, 64, str(lua), headers))
            two.append(
                wrk_both([a.base + path, b.base + path], args.seconds, 32, str(lua), headers)
            )
        out["rest"] = (one, two)

        # 2. and 3. Terminals
        harness = Harness()
        connect = {"n": n, "login": True, "app_id": app.app_id, "app_secret": app.app_secret}
        before, redis_before = rss_kib(a.proc.pid), redis_memory()
        logged_in = harness.call(cmd="connect", url=a.ws_url, per_company=100, **connect)
        time.sleep(1.0)
        out["kib_one"] = (rss_kib(a.proc.pid) - before) / n
        out["redis_bytes"] = (redis_memory() - redis_before) / n
        out["logins_per_s"] = n / logged_in["seconds"]
        fan_one = []
        for r in range(args.rounds):
            harness.send(cmd="expect", msg_id=r + 1, n=n)
            assert harness.read()["ready"]
            t0 = asyncio.run(fan_out(a.base, token, app.app_id, n, r + 1))
            fan_one.append(harness.read()["at"] - t0)
        count = int(args.rate * args.seconds)
        harness.send(cmd="latency", count=count)
        assert harness.read()["ready"]
        asyncio.run(unicast(a.port, token, app.app_id, n, args.rate, count))
        out["same"] = harness.read()
        harness.call(cmd="close")
        time.sleep(1.0)

        # other users than before (the first ones are still being listed offline)
        half = n // 2
        harness.call(
            cmd="connect", url=a.ws_url, per_company=100, first=n, **{**connect, "n": half}
        )
        harness.call(
            cmd="connect", url=b.ws_url, per_company=100, first=n + half, **{**connect, "n": half}
        )
        fan_two = []
        for r in range(args.rounds):
            harness.send(cmd="expect", msg_id=100 + r, n=n)
            assert harness.read()["ready"]
            t0 = asyncio.run(fan_out(a.base, token, app.app_id, n, 100 + r, first=n))
            fan_two.append(harness.read()["at"] - t0)
        harness.send(cmd="latency", count=count)
        assert harness.read()["ready"]
        asyncio.run(unicast(a.port, token, app.app_id, half, args.rate, count, first=n + half))
        out["cross"] = harness.read()
        harness.call(cmd="close")
        out["fan"] = (fan_one, fan_two)
    finally:
        if harness is not None:
            harness.proc.terminate()
            harness.proc.wait(30)
        for node in nodes:
            node.stop()
        drop(schema)
        shutil.rmtree(work, ignore_errors=True)

    one, two = out["rest"]
    r1, r2 = statistics.median(one), statistics.median(two)
    for label, rate, runs in (("one node", r1, one), ("two nodes", r2, two)):
        each = ", ".join(f"{x:.0f}" for x in runs)
        print(f"REST GET /v1/app, {label:<11} {rate:8.0f} req/s  (runs: {each})")
    print(f"ratio two/one                 {r2 / r1:8.2f}  (2 cores shared by everything)")
    fan_one, fan_two = out["fan"]
    f1, f2 = statistics.median(fan_one), statistics.median(fan_two)
    print(
        f"terminals                     {n}; {out['kib_one']:.1f} KiB each on a cluster node, "
        f"{out['redis_bytes']:.0f} bytes each in Redis; {out['logins_per_s']:.0f} logins/s"
    )
    print(f"fan-out, all on node A        {f1 * 1000:8.0f} ms")
    print(f"fan-out, half on node B       {f2 * 1000:8.0f} ms  (sent through A)")
    for label, key in (("same node", "same"), ("cross node", "cross")):
        u = out[key]
        print(
            f"unicast {args.rate}/s, {label:<10}  p50 {u['p50_ms']:.1f} ms, "
            f"p99 {u['p99_ms']:.1f} ms, max {u['max_ms']:.1f} ms over {u['count']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
