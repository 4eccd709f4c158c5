"""Soak: mixed REST and terminal load for a number of minutes, then the accounts.

    python bench/soak.py [--minutes 10] [--terminals 300] [--rate 200]

Starts `hstgw serve` (embedded default, usage flushed every second) and, in this
process, keeps up for the whole run:

- N terminals logged in, a few a second leaving and logging in again (some with the
  resume credential of their last login, some with a new token, some forced);
- REST at about `--rate` calls a second, mixed: app reads, user/state, trans-cmd to
  random terminals, invites, creates with an Idempotency-Key (some sent twice), usage
  batches from a node (a tenth of them sent again), and now and then a new access token;
- terminals sending each other messages.

Then it asserts, and prints:

- no HTTP 5xx and no 606000005 (an internal error) on any call;
- billing: every usage event accepted exactly once (records counted by the gateway
  equal the distinct events sent; resends only ever counted as duplicates), and the
  gateway's own signaling records add up to exactly the frames it delivered
  (``hstgw_terminal_messages_delivered_total``; the terminals read at most as many:
  one that leaves may not read what was written to it just before);
- the server's own (anonymous) memory grew less than 10% between the end of the
  warm-up (the first fifth of the run, at least a minute) and the end; the resident
  total is printed too, with the database file SQLite maps (file-backed pages that
  the OS may drop, growing with the file up to the map size by design).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from _http import free_port, hstgw_json, wait_http
from hstgw.sdk import Client
from hstgw.settings import Settings
from hstgw.tokens.fsp import build


def memory_kib(pid: int) -> tuple[int, int, int]:
    """(resident, of it anonymous, of it file-backed) KiB of ``pid``."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
            fields[name] = int(value.split()[0])
    return fields["VmRSS"], fields["RssAnon"], fields["RssFile"] + fields.get("RssShmem", 0)


RECEPTIONS = ('"type":"trans_cmd"', '"type":"message"', '"type":"invite"')


class Load:
    def __init__(self, base: str, ws_url: str, app: Any, token: str, node_key: str) -> None:
        self.base, self.ws_url, self.app = base, ws_url, app
        self.token, self.node_key = token, node_key
        self.statuses: Counter[int] = Counter()
        self.codes: Counter[int] = Counter()
        self.received = 0  # signaling frames terminals received
        self.events_sent: set[str] = set()
        self.accepted = 0
        self.duplicates = 0
        self.resends = 0
        self.terminals: dict[str, ClientConnection] = {}
        self.resume: dict[str, str] = {}
        self.readers: set[asyncio.Task[None]] = set()
        self.stop = False

    def note(self, r: httpx.Response) -> dict[str, Any]:
        self.statuses[r.status_code] += 1
        body: dict[str, Any] = r.json()
        self.codes[body["code"]] += 1
        return body

    # terminals

    async def login(self, user: str) -> None:
        conn = await connect(self.ws_url, compression=None, ping_interval=None)
        frame: dict[str, Any] = {
            "type": "login",
            "seq": 1,
            "app_id": self.app.app_id,
            "user_id": user,
            "client_guid": user,
            "company_id": f"c{int(user[1:]) % 10}",
            "force_login": random.random() < 0.2,
        }
        if user in self.resume and random.random() < 0.5:
            frame["resume"] = self.resume[user]
        else:
            frame["token"] = build(self.app.app_id, self.app.app_secret, uid=user)
        await conn.send(json.dumps(frame))
        reply = json.loads(await conn.recv())
        if reply["code"] != 0:
            await conn.close()
            return
        self.resume[user] = reply["resume"]
        self.terminals[user] = conn
        task = asyncio.create_task(self.read(user, conn))
        self.readers.add(task)
        task.add_done_callback(self.readers.discard)

    async def read(self, user: str, conn: ClientConnection) -> None:
        try:
            async for raw in conn:
                if isinstance(raw, str) and any(r in raw for r in RECEPTIONS):
                    self.received += 1
        except Exception:
            pass
        finally:
            if self.terminals.get(user) is conn:
                del self.terminals[user]

    async def churn(self, n: int) -> None:
        while not self.stop:
            users = list(self.terminals)
            if users:
                leaving = random.choice(users)
                conn = self.terminals.pop(leaving, None)
                if conn is not None:
                    await conn.close()
            missing = [f"u{i}" for i in range(n) if f"u{i}" not in self.terminals]
            for user in missing[:3]:
                await self.login(user)
            await asyncio.sleep(0.3)

    async def chat(self) -> None:
        seq = 0
        while not self.stop:
            users = list(self.terminals)
            if len(users) >= 2:
                a, b = random.sample(users, 2)
                seq += 1
                frame = {"type": "message", "seq": seq, "to_user_id": b, "body": {"n": seq}}
                with contextlib.suppress(Exception):
                    await self.terminals[a].send(json.dumps(frame))
            await asyncio.sleep(0.05)

    # REST

    async def rest(self, http: httpx.AsyncClient, rate: float) -> None:
        auth = {"Authorization": self.token}
        node = {"Authorization": f"Bearer {self.node_key}"}
        app_id = self.app.app_id
        batch_no = 0
        while not self.stop:
            started = time.perf_counter()
            pick = random.random()
            if pick < 0.3:
                self.note(await http.get("/v1/app", params={"app_id": app_id}, headers=auth))
            elif pick < 0.45:
                params = {"app_id": app_id, "msg_id": 1, "page_size": 100}
                self.note(await http.get("/v1/online/user/state", params=params, headers=auth))
            elif pick < 0.65:
                users = random.sample(range(len(self.resume) or 1), k=min(5, len(self.resume) or 1))
                body = {
                    "app_id": app_id,
                    "msg_id": random.randrange(1 << 30),
                    "trans_mess": {"soak": True},
                    "user_list": [
                        {"user_id": f"u{i}", "mutex_type": "web", "client_guid": ""} for i in users
                    ],
                }
                self.note(await http.post("/v1/online/trans-cmd", json=body, headers=auth))
            elif pick < 0.72:
                body = {
                    "app_id": app_id,
                    "group_id": "room",
                    "user_id_list": [f"u{random.randrange(len(self.resume) or 1)}"],
                    "seq_id": random.randrange(1 << 30),
                }
                self.note(await http.post("/v1/online/invite", json=body, headers=auth))
            elif pick < 0.9:
                batch_no += 1
                events = []
                for _ in range(20):
                    event_id = f"soak-{uuid.uuid4().hex}"
                    self.events_sent.add(event_id)
                    now = int(time.time() * 1000)
                    events.append(
                        {
                            "event_id": event_id,
                            "app_id": app_id,
                            "charge_term": 1,
                            "start_time": now - 60_000,
                            "end_time": now,
                        }
                    )
                for attempt in range(2 if batch_no % 10 == 0 else 1):
                    reply = self.note(
                        await http.post("/internal/v1/usage", json={"events": events}, headers=node)
                    )
                    if reply["code"] == 0:
                        self.accepted += reply["result"]["accepted"]
                        self.duplicates += reply["result"]["duplicates"]
                        self.resends += attempt
            elif pick < 0.98:
                name = f"soak_{uuid.uuid4().hex[:12]}"
                key = {"Idempotency-Key": name, **auth}
                body = {"app_name": name, "service": [{"service_id": 3}]}
                first = self.note(await http.post("/v1/app", json=body, headers=key))
                if random.random() < 0.3:
                    again = self.note(await http.post("/v1/app", json=body, headers=key))
                    assert again == first, (first, again)
                if first["code"] == 0:  # apps come and go, as a developer's do
                    gone = {"Idempotency-Key": f"del-{name}", **auth}
                    params = {"app_id": first["result"]["app_id"]}
                    self.note(await http.delete("/v1/app", params=params, headers=gone))
            else:
                self.token = await asyncio.to_thread(self._new_token)
                auth = {"Authorization": self.token}
            await asyncio.sleep(max(0.0, 1 / rate - (time.perf_counter() - started)))

    def _new_token(self) -> str:
        with Client(self.base, self.dev_id, self.dev_secret) as client:
            return client.get_access_token()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--terminals", type=int, default=300)
    parser.add_argument("--rate", type=float, default=200, help="REST calls a second")
    parser.add_argument(
        "--sqlite-cache-mib",
        type=int,
        default=16,
        help="the embedded store's page cache (HSTGW_SQLITE_CACHE_MIB; default there 128)",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hstgw-soak-"))
    port, tport = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "HSTGW_PORT": str(port),
        "HSTGW_TERMINAL_PORT": str(tport),
        "HSTGW_DATA_DIR": str(work),
        "HSTGW_USAGE_FLUSH_INTERVAL": "1",
        # SQLite's page cache fills as the billing tables grow, by design, up to its
        # size: bounded here so that what is measured is the gateway's own memory.
        "HSTGW_SQLITE_CACHE_MIB": str(args.sqlite_cache_mib),
        "HSTGW_ACCESS_LOG": "false",
        # one developer and one address at the whole load's rate
        "HSTGW_LIMIT_TOKENS_PER_DEVELOPER": "100000",
    }
    dev = hstgw_json("dev", "create", env=env)
    node_key = hstgw_json("node", "create", env=env)["node_key"]
    log = (work / "server.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "hstgw", "serve"], env=env, stderr=log)
    samples: list[tuple[float, tuple[int, int, int]]] = []
    try:
        wait_http(f"{base}/healthz")
        with Client(base, dev["dev_id"], dev["dev_secret"]) as client:
            app = client.apps.create("soak", [3, 6, 7], status="online")
            token = client.get_access_token()
        ws_url = httpx.get(f"{base}/v1/online/address").json()["result"]["ws_url"]
        load = Load(base, ws_url, app, token, node_key)
        load.dev_id, load.dev_secret = dev["dev_id"], dev["dev_secret"]  # type: ignore[attr-defined]
        seconds = args.minutes * 60
        warmup = max(60.0, seconds / 5) if seconds >= 120 else seconds / 5
        run_started = time.time()

        async def run() -> None:
            async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                for i in range(args.terminals):
                    await load.login(f"u{i}")
                tasks = [
                    asyncio.create_task(load.churn(args.terminals)),
                    asyncio.create_task(load.chat()),
                    asyncio.create_task(load.rest(http, args.rate)),
                ]
                start = time.monotonic()
                while time.monotonic() - start < seconds:
                    await asyncio.sleep(5)
                    samples.append((time.monotonic() - start, memory_kib(server.pid)))
                load.stop = True
                await asyncio.gather(*tasks, return_exceptions=True)
                for conn in list(load.terminals.values()):
                    await conn.close()
                # the last receptions, and the counters' flush (housekeeping ticks every
                # 5 s at the default heartbeat interval)
                await asyncio.sleep(12)

        asyncio.run(run())
        # Every month the records fell in, in the gateway's zone (not this machine's):
        # a run may cross a month's start; events began up to a minute before it.
        zone = Settings().zone
        months = sorted(
            {
                datetime.fromtimestamp(at, zone).strftime("%Y-%m")
                for at in (run_started - 60, time.time())
            }
        )
        with Client(base, dev["dev_id"], dev["dev_secret"]) as client:
            summaries = [client.records.summary(month) for month in months]
        metrics = httpx.get(f"{base}/metrics").text
        delivered = int(
            float(
                next(
                    line.split()[1]
                    for line in metrics.splitlines()
                    if line.startswith("hstgw_terminal_messages_delivered_total ")
                )
            )
        )
    finally:
        server.terminate()
        server.wait(30)
        log.close()

    records_t1 = signaling = 0
    for summary in summaries:
        for a in summary.apps:
            if a.app_id == app.app_id:
                for t in a.terms:
                    if t.charge_term == 1:
                        records_t1 += t.records
                    elif t.charge_term == 6:
                        signaling += t.total_sig_num
    # The gateway's own memory is the anonymous part: the file-backed part is the
    # database file mapped by SQLite (mmap), pages the OS may drop at any time, and it
    # grows with the file up to its map size by design.
    after_warmup = next(m for t, m in samples if t >= warmup)
    final = tuple(int(statistics.mean(m[i] for _, m in samples[-3:])) for i in range(3))
    growth = (final[1] - after_warmup[1]) / after_warmup[1]
    bad_status = sum(n for s, n in load.statuses.items() if s >= 500)
    internal = load.codes.get(606000005, 0)
    calls = sum(load.statuses.values())
    print(f"run                      {args.minutes:g} min, {calls} REST calls, ", end="")
    print(f"{args.terminals} terminals")
    print(f"codes                    {dict(sorted(load.codes.items()))}")
    print(f"HTTP 5xx / 606000005     {bad_status} / {internal}")
    print(
        f"usage events             {len(load.events_sent)} sent once, {load.resends} batches "
        f"sent again; accepted {load.accepted}, duplicates {load.duplicates}; "
        f"records {records_t1}"
    )
    print(
        f"signaling                delivered {delivered} (terminals read {load.received} "
        f"before closing), records say {signaling}"
    )
    print(
        f"memory, anonymous        {after_warmup[1] / 1024:.1f} MiB after warm-up "
        f"({warmup:.0f} s), {final[1] / 1024:.1f} MiB at the end: {growth * 100:+.1f}%"
    )
    print(
        f"memory, resident         {after_warmup[0] / 1024:.1f} -> {final[0] / 1024:.1f} MiB "
        f"(of it the mapped database file: {after_warmup[2] / 1024:.1f} -> "
        f"{final[2] / 1024:.1f} MiB)"
    )
    shutil.rmtree(work, ignore_errors=True)
    ok = (
        bad_status == 0
        and internal == 0
        and load.accepted == len(load.events_sent) == records_t1
        and signaling == delivered
        and load.received <= delivered
        and growth < 0.10
    )
    print("result                   " + ("OK" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
