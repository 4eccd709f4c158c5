"""Billing at scale: usage ingestion beside a naive insert of the same rows, and the
records page and monthly summary over up to 10,000,000 records.

    python bench/billing.py [--events 1000000] [--records 10000000] [--queries 2000]
                            [--random-ids] [--senders 2] [--in-process]

Starts ``hstgw serve`` (embedded default) on a fresh data dir, with 10 developers of
10 apps each and one node. Ingests ``--events`` through ``POST /internal/v1/usage`` in
batches of 1000: every charge term, start times rising over 90 days as reports of
ended calls do, event ids a node's own sequence (``--random-ids``: random 128-bit
hex, as UUIDs), two connections each sending its next batch when its last is
answered; reports events/s (``--in-process``: the same events, made as the bulk fill
below makes them, through the store's ingestion in this process in batches of 1000:
no HTTP, no parse, nothing else sharing the GIL, the most a writer process of its own
could reach). Then, in the same run, the naive in-process insert of the
same rows (the records the gateway wrote, read back): a fresh SQLite file in WAL mode
with synchronous=NORMAL as the gateway's, SQLite's default page cache, the records'
columns with ``event_id`` UNIQUE, 1000 rows a transaction with ``executemany``.

Then the store is filled up to ``--records`` in bulk (the gateway's own ingestion code
in process, batches of 10,000, the same kind of events spread over the same 90 days),
and the server started again: ``GET /v1/consuming/records`` (a random developer, a
random window of 1 to 7 days, a random one of the first 5 pages of 100) and
``GET /v1/consuming/summary`` (a random developer, a random month of the span), one
query at a time; p50/p99 of each, and the store's size per million records.

Targets (issue 16, embedded default): ingestion >= 1.0 of the naive insert; records
page and summary p99 <= 5 ms at 10,000,000 records.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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


async def query(port: int, tokens: list[str], count: int) -> tuple[list[float], list[float]]:
    """Latencies (ms) of records pages, then of monthly summaries."""
    rng = random.Random(2)
    clients = []
    for token in tokens:
        c = KeepAlive("127.0.0.1", port, token, size=1)
        await c.open()
        clients.append(c)
    pages, summaries = [], []
    for _ in range(count):
        c = rng.choice(clients)
        start = T0 + rng.randrange((SPAN_DAYS - 7) * DAY)
        end = start + rng.randrange(1, 8) * DAY
        page = rng.randrange(1, 6)
        path = f"/v1/consuming/records?start_time={start}&end_time={end}&page={page}&page_size=100"
        t = time.perf_counter()
        reply = await c.get(path)
        pages.append((time.perf_counter() - t) * 1000)
        assert reply["code"] == 0, reply
    for _ in range(count):
        c = rng.choice(clients)
        t = time.perf_counter()
        reply = await c.get(f"/v1/consuming/summary?month={rng.choice(MONTHS)}")
        summaries.append((time.perf_counter() - t) * 1000)
        assert reply["code"] == 0 and reply["result"]["apps"], reply
    for c in clients:
        await c.close()
    return pages, summaries


MONTHS = ("2025-11", "2025-12", "2026-01", "2026-02")
NAIVE_TABLE = """CREATE TABLE usage_records (
    record_id INTEGER PRIMARY KEY, event_id TEXT NOT NULL, dev_id TEXT NOT NULL,
    app_id TEXT NOT NULL, charge_term SMALLINT NOT NULL, product_id SMALLINT NOT NULL,
    start_time BIGINT NOT NULL, end_time BIGINT NOT NULL, total_time BIGINT NOT NULL,
    group_id TEXT NOT NULL, user_id TEXT NOT NULL, client_id TEXT NOT NULL,
    stream_id TEXT NOT NULL, resolution TEXT NOT NULL, transfer_type SMALLINT NOT NULL,
    total_sig_num BIGINT NOT NULL, billed_sig_num BIGINT NOT NULL, quantity TEXT NOT NULL,
    parties INTEGER NOT NULL, price_micro BIGINT NOT NULL, amount_micro BIGINT NOT NULL,
    node_id TEXT NOT NULL, received_at BIGINT NOT NULL)"""


def naive(source: Path, target: Path, prefix: int) -> tuple[int, float]:
    """The naive in-process insert of the records ``source`` holds after its first
    ``prefix`` (copied in untimed, as the store it is compared with holds them):
    (rows, seconds)."""
    conn = sqlite3.connect(target, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(NAIVE_TABLE)
    conn.execute("ATTACH DATABASE ? AS gw", (str(source),))
    conn.execute(
        f"INSERT INTO usage_records SELECT {NAIVE_COLUMNS} FROM gw.usage_records"
        " WHERE record_id <= ? ORDER BY record_id",
        (prefix,),
    )
    conn.execute("CREATE UNIQUE INDEX usage_records_event ON usage_records (event_id)")
    rows = conn.execute(
        f"SELECT {NAIVE_COLUMNS} FROM gw.usage_records WHERE record_id > ? ORDER BY record_id",
        (prefix,),
    ).fetchall()
    conn.execute("DETACH DATABASE gw")
    marks = ", ".join("?" * len(rows[0]))
    insert = f"INSERT INTO usage_records ({NAIVE_COLUMNS}) VALUES ({marks})"
    started = time.perf_counter()
    for b in range(0, len(rows), BATCH):
        conn.execute("BEGIN")
        conn.executemany(insert, rows[b : b + BATCH])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return len(rows), elapsed


NAIVE_COLUMNS = (
    "record_id, event_id, dev_id, app_id, charge_term, product_id, start_time, end_time,"
    " total_time, group_id, user_id, client_id, stream_id, resolution, transfer_type,"
    " total_sig_num, billed_sig_num, quantity, parties, price_micro, amount_micro, node_id,"
    " received_at"
)


def seed(
    work: Path,
    apps: list[str],
    count: int,
    random_ids: bool,
    batch: int = 10_000,
    node_id: str = "seed",
) -> float:
    """Fill the store with ``count`` records with the gateway's own ingestion code in
    process (no HTTP), the server stopped, ``batch`` events a transaction as
    ``node_id`` reports them, their start times over the whole span: seconds taken."""
    from decimal import Decimal

    from hstgw.billing.ingestion import rater
    from hstgw.billing.prices import PriceTable
    from hstgw.billing.rating import UsageEvent
    from hstgw.settings import Settings
    from hstgw.store import open_store

    settings = Settings(_env_file=None, data_dir=work)
    rate = rater(PriceTable(), settings.zone)
    rng = random.Random(node_id)

    def make(n: int) -> UsageEvent:
        start = T0 + n * (SPAN_DAYS * DAY // count) + rng.randrange(3_600_000)
        term = rng.choice((1, 2, 2, 2, 4, 6, 8, 9, 10, 11, 12))
        return UsageEvent(
            event_id=f"{rng.getrandbits(128):032x}" if random_ids else f"seed-{n:09d}",
            app_id=rng.choice(apps),
            charge_term=term,
            start_time=start,
            end_time=start + rng.randrange(1000, 3_600_000),
            user_id=f"u{n % 1000}",
            stream_id=f"s{n % 97}",
            transfer_type=rng.choice((1, 2, 2)),
            resolution=rng.choice(("1280*720", "1920*1080", "640*360")) if term in (2, 8) else "",
            parties=2 if term in (2, 8) else 0,
            total_sig_num=rng.randrange(1, 5000) if term == 6 else 0,
            quantity=Decimal(f"{rng.randrange(1, 100)}.5") if term in (9, 10) else Decimal(0),
        )

    async def fill() -> float:
        store = open_store(settings)
        await store.open()
        started = time.perf_counter()
        try:
            for b in range(0, count, batch):
                events = [make(n) for n in range(b, min(b + batch, count))]
                await store.ingest(events, rate, node_id, int(time.time() * 1000))
        finally:
            await store.close()
        return time.perf_counter() - started

    return asyncio.run(fill())


def percentiles(latencies: list[float]) -> str:
    q = statistics.quantiles(latencies, n=100)
    return f"p50 {q[49]:.2f} ms, p99 {q[98]:.2f} ms, max {max(latencies):.2f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--records", type=int, default=0, help="records for the queries")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--random-ids", action="store_true", help="random 128-bit event ids")
    parser.add_argument("--senders", type=int, default=2, help="connections sending batches")
    parser.add_argument(
        "--in-process", action="store_true", help="ingest through the store in process, no HTTP"
    )
    args = parser.parse_args()
    records = max(args.records, args.events)
    work = Path(tempfile.mkdtemp(prefix="hstgw-bench-billing-"))
    db = work / "hstgw.sqlite3"

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
    apps, tokens = [], []
    with serving(work) as port:
        base = f"http://127.0.0.1:{port}"
        for d in devs:
            with Client(base, d["dev_id"], d["dev_secret"]) as client:
                apps += [
                    client.apps.create(f"app{i}", [3, 4, 5, 6, 8, 9]).app_id
                    for i in range(APPS_PER_DEV)
                ]
    # The store first holds what the ingestion is measured on top of.
    prefix = records - args.events
    seeded = seed(work, apps, prefix, args.random_ids) if prefix else 0
    if args.in_process:
        elapsed = seed(work, apps, args.events, args.random_ids, BATCH, node["node_id"])
    with serving(work) as port:
        if not args.in_process:
            elapsed = asyncio.run(
                ingest(port, node["node_key"], apps, args.events, args.random_ids, args.senders)
            )
        rate = args.events / elapsed
        for d in devs:
            with Client(f"http://127.0.0.1:{port}", d["dev_id"], d["dev_secret"]) as client:
                tokens.append(client.get_access_token())
        pages, summaries = asyncio.run(query(port, tokens, args.queries))
    naive_rows, naive_elapsed = naive(db, work / "naive.sqlite3", prefix)
    naive_rate = naive_rows / naive_elapsed
    (work / "naive.sqlite3").unlink()
    with sqlite3.connect(db) as conn:  # the WAL into the file, as it stays
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = db.stat().st_size / 2**20
    ids = "random" if args.random_ids else "sequential"
    ratio = rate / naive_rate
    if seeded:
        print(
            f"bulk fill         {prefix:,} records first in {seeded:.1f} s "
            f"({prefix / seeded:,.0f}/s, the store's ingestion in process)"
        )
    print(
        f"ingestion         {args.events:,} events in {elapsed:.1f} s on top of {prefix:,}: "
        f"{rate:,.0f} events/s (batches of {BATCH}, {DEVS * APPS_PER_DEV} apps, {ids} event ids"
        f"{', in process: no HTTP' if args.in_process else ''})"
    )
    print(
        f"naive insert      the same {naive_rows:,} rows on top of the same {prefix:,}: "
        f"{naive_elapsed:.1f} s, {naive_rate:,.0f} rows/s; gateway / naive = {ratio:.2f} "
        "(target >= 1.0)"
    )
    print(
        f"records page      {percentiles(pages)} over {len(pages)} queries with "
        f"{records:,} records (target p99 <= 5)"
    )
    print(
        f"monthly summary   {percentiles(summaries)} over {len(summaries)} queries "
        "(target p99 <= 5)"
    )
    print(
        f"store             {size:,.0f} MiB: {size / (records / 1e6):,.0f} MiB per million records"
    )
    shutil.rmtree(work, ignore_errors=True)
    p99s = statistics.quantiles(pages, n=100)[98], statistics.quantiles(summaries, n=100)[98]
    return 0 if ratio >= 1.0 and max(p99s) <= 5 else 1


@contextlib.contextmanager
def serving(work: Path) -> Iterator[int]:
    """``hstgw serve`` on ``work`` until the block ends: its port."""
    port = free_port()
    env = {
        "HSTGW_PORT": str(port),
        "HSTGW_TERMINAL_PORT": str(free_port()),
        "HSTGW_DATA_DIR": str(work),
    }
    with (work / "server.log").open("a") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "hstgw", "serve"], env={**os.environ, **env}, stderr=log
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz", tries=1200)
            yield port
        finally:
            server.terminate()
            server.wait(120)


if __name__ == "__main__":
    sys.exit(main())
