"""Throughput of authenticated ``GET /v1/app?app_id=`` against raw ASGI, same server.

    python bench/rest.py [--seconds 5] [--rounds 3] [--connections 64] [--no-cache]

Starts one server (bench/_rest_server.py) on a free port with a fresh data dir,
creates a developer and an app, then alternates wrk runs against the gateway
route and the raw route (which answers a body of the same size), and prints the
median rate of each and their ratio. A Lua check counts any response that is
not ``"code":0``; the run fails if there is one. ``--no-cache`` turns off the
access-token and app caches, so that every request reads SQLite twice (for
comparison; the target applies to the default settings). Needs wrk
(``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from _http import free_port, hstgw_json
from hstgw.sdk import Client

HERE = Path(__file__).resolve().parent
TARGET = 0.30
NO_CACHE = {"HSTGW_AUTH_CACHE_TTL": "0", "HSTGW_APP_CACHE_SIZE": "0"}

LUA = """
bad = 0
response = function(status, headers, body)
  if status ~= 200 or not string.find(body, '"code":0', 1, true) then bad = bad + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("BAD %d\\n", bad))
end
"""


def wrk(url: str, seconds: int, connections: int, script: str, headers: list[str]) -> float:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", script, url]
    for h in headers:
        cmd[1:1] = ["-H", h]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    bad = int(re.search(r"BAD (\d+)", out).group(1))  # type: ignore[union-attr]
    if bad:
        raise SystemExit(f"{bad} responses were not code 0 for {url}:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--no-cache", action="store_true", help="every request reads the store")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench/rest.py needs wrk: apt-get install wrk", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="hstgw-bench-"))
    data_dir, lua = work / "data", work / "check.lua"
    lua.write_text(LUA)
    dev = hstgw_json("dev", "create", "--data-dir", str(data_dir))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (work / "server.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "_rest_server.py"),
            str(port),
            str(data_dir),
        ],
        stderr=log,
        env={**os.environ, "PYTHONPATH": str(HERE), **(NO_CACHE if args.no_cache else {})},
    )
    try:
        for _ in range(100):
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        with Client(base, dev["dev_id"], dev["dev_secret"]) as client:
            app = client.apps.create("bench_app", [3, 4, 6, 7], status="online")
            token = client.get_access_token()
        gw_url = f"{base}/v1/app?app_id={app.app_id}"
        body = httpx.get(gw_url, headers={"Authorization": token}).content
        httpx.put(f"{base}/bench/raw", content=body)  # the raw route answers the same bytes
        headers = [f"Authorization: {token}"]
        wrk(gw_url, 1, args.connections, str(lua), headers)  # warm-up
        wrk(f"{base}/bench/raw", 1, args.connections, str(lua), [])
        raw_rates, gw_rates = [], []
        for _ in range(args.rounds):
            raw_rates.append(wrk(f"{base}/bench/raw", args.seconds, args.connections, str(lua), []))
            gw_rates.append(wrk(gw_url, args.seconds, args.connections, str(lua), headers))
    finally:
        server.terminate()
        server.wait(10)
        log.close()
    raw_rate, gw_rate = statistics.median(raw_rates), statistics.median(gw_rates)
    ratio = gw_rate / raw_rate
    print(
        f"body size           {len(body)} bytes, {args.connections} connections, "
        f"{args.rounds} x {args.seconds}s alternating"
    )
    for label, rate, runs in (
        ("raw ASGI", raw_rate, raw_rates),
        ("GET /v1/app", gw_rate, gw_rates),
    ):
        each = ", ".join(f"{r:.0f}" for r in runs)
        print(f"{label:<20}{rate:10.0f} req/s  (runs: {each})")
    setting = "caches off" if args.no_cache else "default settings"
    print(f"ratio               {ratio:10.2f}  (target >= {TARGET:.2f}, {setting})")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
