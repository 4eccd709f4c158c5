"""Billing at scale: usage ingestion rate, and records-query latency over 1,000,000 records.

    python bench/billing.py [--events 1000000] [--queries 2000] [--random-ids] [--senders 2]

Starts ``hstgw serve`` (embedded default) on a fresh data dir, with 10 developers of
10 apps each and one node. Ingests the events through ``POST /internal/v1/usage`` in
batches of 1000: every charge term, start times rising over 90 days as reports of
ended calls do, event ids a node's own sequence (``--random-ids``: random 128-bit
hex, as UUIDs), two connections each sending its next batch when its last is
answered; reports events/s. Then times ``GET /v1/consuming/records``: a random
developer, a random window of 1 to 7 days, a random one of the first 5 pages of 100,
one query at a time; reports p50/p99.

Targets (issue 4, embedded default): >= 20,000 events/s; query p99 <= 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _http import KeepAlive, free_port, wait_http
from hstgw.sdk import Client

DAY = 86_400_000
T0 = 1_764_000_000_000  # 2025-11-25
SPAN_DAYS = 90
DEVS, APPS_PER_DEV, BATCH = 10, 10, 1000


def event(
    n: int, app_id: str, rng: random.Random, total: int = 1_000_000, random_ids: bool = False
) -> str:
    # Nodes report usage as calls end: start times rise through the run (with an hour
    # of jitter), covering SPAN_DAYS in all. Event ids are the node's own sequence
    # ("node-000000042"), or with random_ids random 128-bit hex, as UUIDs are.
    start = T0 + n * (SPAN_DAYS * DAY // total) + rng.randrange(3_600_000)
    event_id = f"{rng.getrandbits(128):032x}" if random_ids else f"node-{n:09d}"
    term = rng.choice((1, 2, 2, 2, 4, 6, 8, 9, 10, 11, 12))
    extra = ""
    if term in (2, 8):
        extra = f',"resolution":"{rng.choice(("1280*720", "1920*1080", "640*360"))}","parties":2'
    elif term == 6:
        extra = f',"total_sig_num":{rng.randrange(1, 5000)}'
    elif term in (9, 10):
        extra = f',"quantity":{rng.randrange(1, 100)}.5'
    return (
        f'{{"event_id":"{event_id}","app_id":"{app_id}","charge_term":{term},'
        f'"start_time":{start},"end_time":{start + rng.randrange(1000, 3_600_000)},'
        f'"user_id":"u{n % 1000}","stream_id":"s{n % 97}",'
        f'"transfer_type":{rng.choice((1, 2, 2))}{extra}}}'
    )


async def ingest(
    port: int, node_key: str, apps: list[str], total: int, random_ids: bool, senders: int
) -> float:
    rng = random.Random(1)
    bodies = []
    for b in range(0, total, BATCH):
        events = ",".join(
            event(n, rng.choice(apps), rng, total, random_ids)
            for n in range(b, min(b + BATCH, total))
        )
        bodies.append(f'{{"events":[{events}]}}'.encode())
    http = KeepAlive("127.0.0.1", port, f"Bearer {node_key}", size=senders)
    await http.open()
    queue = list(reversed(bodies))

    async def sender() -> None:
        while queue:
            reply = await http.post("/internal/v1/usage", queue.pop())
            assert reply["code"] == 0 and reply["result"]["duplicates"] == 0, reply

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(senders)))
    elapsed = time.perf_counter() - started
    await http.close()
    return elapsed


async def query(port: int, tokens: list[str], count: int) -> list[float]:
    rng = random.Random(2)
    clients = []
    for token in tokens:
        c = KeepAlive("127.0.0.1", port, token, size=1)
        await c.open()
        clients.append(c)
    latencies = []
    for _ in range(count):
        c = rng.choice(clients)
        start = T0 + rng.randrange((SPAN_DAYS - 7) * DAY)
        end = start + rng.randrange(1, 8) * DAY
        page = rng.randrange(1, 6)
        path = f"/v1/consuming/records?start_time={start}&end_time={end}&page={page}&page_size=100"
        t = time.perf_counter()
        reply = await c.get(path)
        latencies.append((time.perf_counter() - t) * 1000)
        assert reply["code"] == 0, reply
    for c in clients:
        await c.close()
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--random-ids", action="store_true", help="random 128-bit event ids")
    parser.add_argument("--senders", type=int, default=2, help="connections sending batches")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hstgw-bench-billing-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    def cli(*a: str) -> Any:
        out = subprocess.run(
            [sys.executable, "-m", "hstgw", *a, "--data-dir", str(work), "--json"],
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(out.stdout)

    devs = [cli("dev", "create") for _ in range(DEVS)]
    node = cli("node", "create")
    log = (work / "server.log").open("w")
    env = {
        "HSTGW_PORT": str(port),
        "HSTGW_TERMINAL_PORT": str(free_port()),
        "HSTGW_DATA_DIR": str(work),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "hstgw", "serve"], env={**os.environ, **env}, stderr=log
    )
    try:
        wait_http(f"{base}/healthz")
        apps, tokens = [], []
        for d in devs:
            with Client(base, d["dev_id"], d["dev_secret"]) as client:
                apps += [
                    client.apps.create(f"app{i}", [3, 4, 5, 6, 8, 9]).app_id
                    for i in range(APPS_PER_DEV)
                ]
                tokens.append(client.get_access_token())
        elapsed = asyncio.run(
            ingest(port, node["node_key"], apps, args.events, args.random_ids, args.senders)
        )
        rate = args.events / elapsed
        latencies = asyncio.run(query(port, tokens, args.queries))
    finally:
        server.terminate()
        server.wait(60)
        log.close()
    q = statistics.quantiles(latencies, n=100)
    size = (work / "hstgw.sqlite3").stat().st_size / 2**20
    ids = "random" if args.random_ids else "sequential"
    print(
        f"ingestion         {args.events} events in {elapsed:.1f} s: {rate:,.0f} events/s "
        f"(target >= 20,000; batches of {BATCH}, {DEVS * APPS_PER_DEV} apps, {ids} event ids)"
    )
    print(
        f"records query     p50 {q[49]:.2f} ms, p99 {q[98]:.2f} ms, max {max(latencies):.2f} ms "
        f"over {len(latencies)} queries with {args.events:,} records (target p99 <= 20)"
    )
    print(f"store             {size:,.0f} MiB")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if rate >= 20_000 and q[98] <= 20 else 1


if __name__ == "__main__":
    sys.exit(main())
