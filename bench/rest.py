"""Throughput of authenticated ``GET /v1/app?app_id=`` against raw ASGI.

    python bench/rest.py [--seconds 5] [--rounds 3] [--connections 64] [--no-cache]
                         [--server hstgw|granian]

Starts the gateway (bench/_rest_server.py) on a free port with a fresh data dir, and
beside it granian 1 worker serving a raw ASGI callable (bench/_raw_app.py: the same
448 bytes, nothing else), creates a developer and an app, then alternates wrk runs:
granian's raw callable (the anchor of issue 16's target), the same callable inside
the gateway's own server, and the gateway route. It prints the median rate of each
and the gateway's ratio to both. A Lua check counts any response that is not
``"code":0``; the run fails if there is one. ``--no-cache`` turns off the
access-token and app caches, so that every request reads SQLite twice (for
comparison; the target applies to the default settings). ``--server granian`` runs
the gateway as ``hstgw serve --http-server granian`` does (granian's embedded server,
for a gateway behind a proxy: docs/deployment.md); "own server" is then that server.
Needs wrk (``apt-get install wrk``) and granian (the dev extra).
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
# Issue 16: the gateway at half of granian's raw ASGI rate (issue 2: 0.30 of its own
# server's raw rate).
TARGET = 0.50
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
    parser.add_argument(
        "--server", choices=("hstgw", "granian"), default="hstgw", help="the gateway's server"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench/rest.py needs wrk: apt-get install wrk", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="hstgw-bench-"))
    data_dir, lua = work / "data", work / "check.lua"
    lua.write_text(LUA)
    dev = hstgw_json("dev", "create", "--data-dir", str(data_dir))
    port, anchor_port = free_port(), free_port()
    base, anchor = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{anchor_port}"
    env = {**os.environ, "PYTHONPATH": str(HERE), **(NO_CACHE if args.no_cache else {})}
    log = (work / "server.log").open("w")
    servers = [
        subprocess.Popen(
            [sys.executable, str(HERE / "_rest_server.py"), str(port), str(data_dir), args.server],
            stderr=log,
            env=env,
        ),
        subprocess.Popen(
            [
                *(sys.executable, "-m", "granian", "--interface", "asgi", "--workers", "1"),
                *("--no-ws", "--host", "127.0.0.1", "--port", str(anchor_port)),
                *("--log-level", "warning", "_raw_app:app"),
            ],
            stderr=log,
            env=env,
            cwd=HERE,
        ),
    ]
    try:
        for url in (f"{base}/healthz", f"{anchor}/bench/raw"):
            for _ in range(100):
                try:
                    httpx.get(url, timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
        with Client(base, dev["dev_id"], dev["dev_secret"]) as client:
            app = client.apps.create("bench_app", [3, 4, 6, 7], status="online")
            token = client.get_access_token()
        gw_url = f"{base}/v1/app?app_id={app.app_id}"
        body = httpx.get(gw_url, headers={"Authorization": token}).content
        targets = {  # label -> (url, headers); each raw route answers the same bytes
            "raw ASGI, granian": (f"{anchor}/bench/raw", []),
            "raw ASGI, own server": (f"{base}/bench/raw", []),
            "GET /v1/app": (gw_url, [f"Authorization: {token}"]),
        }
        for url, _ in list(targets.values())[:2]:
            httpx.put(url, content=body)
        for url, headers in targets.values():  # warm-up
            wrk(url, 1, args.connections, str(lua), headers)
        rates: dict[str, list[float]] = {label: [] for label in targets}
        for _ in range(args.rounds):
            for label, (url, headers) in targets.items():
                rates[label].append(wrk(url, args.seconds, args.connections, str(lua), headers))
    finally:
        for server in servers:
            server.terminate()
            server.wait(10)
        log.close()
    medians = {label: statistics.median(runs) for label, runs in rates.items()}
    gw_rate = medians["GET /v1/app"]
    ratio = gw_rate / medians["raw ASGI, granian"]
    print(
        f"body size           {len(body)} bytes, {args.connections} connections, "
        f"{args.rounds} x {args.seconds}s alternating, gateway on {args.server}"
    )
    for label, runs in rates.items():
        each = ", ".join(f"{r:.0f}" for r in runs)
        print(f"{label:<20}{medians[label]:10.0f} req/s  (runs: {each})")
    same = gw_rate / medians["raw ASGI, own server"]
    print(f"ratio, own server   {same:10.2f}")
    setting = "caches off" if args.no_cache else "default settings"
    print(f"ratio, granian      {ratio:10.2f}  (target >= {TARGET:.2f}, {setting})")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
