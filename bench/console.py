"""The console's pages at 100,000 records: each page's latency, beside the API's
records call as the anchor.

    python bench/console.py [--records 100000] [--requests 200]

Starts ``hstgw serve`` (embedded default) on a fresh data dir with one developer of 5
apps and one node, and ingests ``--records`` usage events through
``POST /internal/v1/usage``: every charge term, start times spread over the last 90
days (so this month and the last 30 days hold about a third of them). Signs in to the
console as a browser does (the sign-in page's CSRF cookie, then the form), then asks
each page ``--requests`` times, one request at a time on a keep-alive connection, and
reports p50/p99 per page; then the same for ``GET /v1/consuming/records`` (this month,
page 1 of 50), the API call the billing page makes.

Target (issue 14): every page p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from _http import KeepAlive, free_port, wait_http
from hstgw.sdk import Client

DAY = 86_400_000
SPAN_DAYS = 90
APPS, BATCH = 5, 1000
TARGET_MS = 50.0


def event(n: int, app_id: str, now: int, rng: random.Random, total: int) -> str:
    start = now - SPAN_DAYS * DAY + n * (SPAN_DAYS * DAY // total) - 2 * 3_600_000
    term = rng.choice((1, 2, 2, 2, 4, 6, 8, 9, 10, 11, 12))
    extra = ""
    if term in (2, 8):
        extra = f',"resolution":"{rng.choice(("1280*720", "1920*1080"))}","parties":2'
    elif term == 6:
        extra = f',"total_sig_num":{rng.randrange(1, 5000)}'
    elif term in (9, 10):
        extra = f',"quantity":{rng.randrange(1, 100)}.5'
    return (
        f'{{"event_id":"c-{n:09d}","app_id":"{app_id}","charge_term":{term},'
        f'"start_time":{start},"end_time":{start + rng.randrange(1000, 3_600_000)},'
        f'"user_id":"u{n % 1000}"{extra}}}'
    )


async def ingest(port: int, node_key: str, apps: list[str], total: int) -> None:
    rng = random.Random(1)
    now = int(time.time() * 1000)
    http = KeepAlive("127.0.0.1", port, f"Bearer {node_key}", size=1)
    await http.open()
    for b in range(0, total, BATCH):
        events = ",".join(
            event(n, rng.choice(apps), now, rng, total) for n in range(b, min(b + BATCH, total))
        )
        reply = await http.post("/internal/v1/usage", f'{{"events":[{events}]}}'.encode())
        assert reply["code"] == 0 and reply["result"]["duplicates"] == 0, reply
    await http.close()


def sign_in(base: str, dev: dict[str, str]) -> str:
    """The console session's cookie, signed in as a browser does."""
    with httpx.Client(base_url=base, follow_redirects=False) as c:
        page = c.get("/console/signin")
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found is not None
        form = {"csrf": found.group(1), "dev_id": dev["dev_id"], "dev_secret": dev["dev_secret"]}
        reply = c.post("/console/signin", data=form)
        assert reply.status_code == 303, reply.text
        return f"hstgw_console={c.cookies['hstgw_console']}"


async def timed_gets(port: int, headers: str, path: str, count: int) -> list[float]:
    """``count`` GETs of ``path`` one after another on one connection; their latencies
    in ms (each answer read whole, and checked to be a 200)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode()
    latencies = []
    try:
        for _ in range(count):
            t = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - t) * 1000)
            assert head.startswith(b"HTTP/1.1 200"), (path, head[:80])
    finally:
        writer.close()
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the data dir (printed)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hstgw-bench-console-"))
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

    dev = cli("dev", "create")
    node = cli("node", "create")
    log = (work / "server.log").open("w")
    env = {
        "HSTGW_PORT": str(port),
        "HSTGW_TERMINAL_PORT": str(free_port()),
        "HSTGW_EVENT_PORT": "0",
        "HSTGW_DATA_DIR": str(work),
        "HSTGW_LIMIT_CALLS_PER_DEVELOPER": "100000",  # one developer at full speed
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "hstgw", "serve"], env={**os.environ, **env}, stderr=log
    )
    results: list[tuple[str, list[float]]] = []
    try:
        wait_http(f"{base}/healthz")
        with Client(base, dev["dev_id"], dev["dev_secret"]) as client:
            apps = [
                client.apps.create(f"app{i}", [3, 4, 5, 6, 7, 8, 9]).app_id for i in range(APPS)
            ]
            token = client.get_access_token()
        started = time.perf_counter()
        asyncio.run(ingest(port, node["node_key"], apps, args.records))
        print(
            f"seeded            {args.records:,} records in {time.perf_counter() - started:.1f} s"
        )
        cookie = sign_in(base, dev)
        app = urllib.parse.quote(apps[0])
        pages = [
            "/console/overview",
            "/console/apps",
            f"/console/online?app_id={app}",
            f"/console/online/rows?app_id={app}",
            "/console/billing",
            f"/console/billing?charge_term=2&app_id={app}&page=5",
            "/console/billing/summary",
            f"/console/events?app_id={app}",
            "/console/webhooks",
        ]
        for path in pages:
            asyncio.run(timed_gets(port, f"Cookie: {cookie}\r\n", path, 5))  # warm
            results.append(
                (path, asyncio.run(timed_gets(port, f"Cookie: {cookie}\r\n", path, args.requests)))
            )
        zone = ZoneInfo("Asia/Shanghai")
        now = datetime.now(zone)
        first = int(
            now.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000
        )
        anchor = (
            f"/v1/consuming/records?start_time={first}&end_time={int(now.timestamp() * 1000)}"
            "&page=1&page_size=50"
        )
        asyncio.run(timed_gets(port, f"Authorization: {token}\r\n", anchor, 5))
        results.append(
            (
                "API " + anchor.split("?")[0] + " (this month, page 1 of 50)",
                asyncio.run(timed_gets(port, f"Authorization: {token}\r\n", anchor, args.requests)),
            )
        )
    finally:
        server.terminate()
        server.wait(60)
        log.close()
    worst = 0.0
    for path, latencies in results:
        q = statistics.quantiles(latencies, n=100)
        if not path.startswith("API"):
            worst = max(worst, q[98])
        print(f"{path:58s} p50 {q[49]:6.2f} ms  p99 {q[98]:6.2f} ms  max {max(latencies):6.2f} ms")
    print(
        f"console pages     worst p99 {worst:.2f} ms over {args.requests} requests each with "
        f"{args.records:,} records (target p99 <= {TARGET_MS:.0f})"
    )
    if args.keep:
        print(f"data dir          {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if worst <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
