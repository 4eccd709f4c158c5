"""Events: group join -> subscriber and -> webhook latency at a fixed rate, the event
log's sustained rate, and memory per event gateway subscriber.

    python bench/events.py [--cluster] [--terminals 200] [--rate 1000] [--seconds 10]
                           [--subscribers 2000] [--log-events 50000]

Embedded: one ``hstgw serve`` (SQLite). ``--cluster``: two nodes on PostgreSQL and
Redis as bench/cluster.py starts them (a fresh schema, dropped at the end); the
terminals are on node A, the subscribers on node B. In one run:

1. Terminals (bench/_terminal_clients.py, real logins) join and leave groups through
   the terminal protocol at ``--rate`` frames/s, each frame one event. A subscriber on
   the event gateway (a raw WebSocket, in this process) times each 20100 from the
   terminal's send to its receipt. Anchor: the terminals' own join/leave replies.
2. The same with a webhook endpoint for the app (every event), its receiver a plain
   HTTP server in this process (``HSTGW_WEBHOOK_ALLOW_PRIVATE=true``): send -> POST
   received. Anchor: the subscriber, in the same phase.
3. ``--subscribers`` idle event gateway sessions, each logged in and subscribed: the
   server's resident and anonymous memory growth over N. Anchor: a plain
   ``websockets`` server holding as many connections (bench/_broadcast_server.py).
4. The log's sustained rate, bench/event_log.py's load (500 producers, each appending
   one event and waiting), on the run's store: terminal-online events (no group rule)
   and group joins.

Each latency phase also runs bench/_lag_probe.py, an idle process timing its own 1 ms
sleeps (the machine's noise, an anchor), and reports the servers' CPU time per event;
``--slow`` lists the seconds in which joins took over 10 ms (a stall shows as a burst).

Targets (issue 13): subscriber p99 <= 10 ms, webhook p99 <= 50 ms at 1,000 events/s;
>= 10,000 events/s into the log, embedded; <= 64 KiB per subscriber.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _event_receivers import Heard, Subscriber, WebhookReceiver
from _http import free_port, hstgw_json
from cluster import DATABASE_URL, REDIS_URL, Node, drop
from event_log import run as log_rate
from hstgw.sdk import Client
from soak import memory_kib
from terminals import HERE, Harness

SUBSCRIBER_P99_MS, WEBHOOK_P99_MS, LOG_RATE, SUBSCRIBER_KIB = 10.0, 50.0, 10_000, 64.0


def quantiles(latencies: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(latencies, n=100)
    return q[49], q[98], max(latencies)


def cpu_s(pids: list[int]) -> float:
    """User and system CPU seconds the processes used so far."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def settle(pid: int) -> tuple[int, int]:
    """(resident, anonymous) KiB once the process's memory stopped moving."""
    last = memory_kib(pid)[:2]
    for _ in range(20):
        time.sleep(0.5)
        now = memory_kib(pid)[:2]
        if abs(now[0] - last[0]) < 64:
            return now
        last = now
    return last


async def groups_phase(
    harness: Harness, heard: list[Heard], args: argparse.Namespace, drain_s: float, pids: list[int]
) -> dict[str, Any]:
    """Terminals join and leave at ``rate``; what each receiver heard of the joins, and
    the servers' CPU time per event (until the last receiver had them all)."""
    for h in heard:
        h.reset()
    cpu = cpu_s(pids)
    probe = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "_lag_probe.py"), str(args.seconds), stdout=subprocess.PIPE
    )
    sent = await asyncio.to_thread(harness.call, cmd="groups", rate=args.rate, seconds=args.seconds)
    drained = [await h.wait_for(sent["joins"], drain_s) for h in heard]
    noise, _ = await probe.communicate()
    return {
        "noise": json.loads(noise),
        "sent": sent,
        "drained": drained,
        "latencies": [list(h.latencies) for h in heard],
        "slow": [list(h.slow) for h in heard],
        "cpu_us": (cpu_s(pids) - cpu) / sent["sent"] * 1e6,
    }


async def latencies(args: argparse.Namespace, a: Node, b: Node, app: Any, dev: Any) -> Any:
    token, harness = app["token"], app["harness"]
    pids = sorted({a.proc.pid, b.proc.pid})
    subscriber, receiver = Subscriber(), WebhookReceiver()
    await subscriber.start(b.egw_url, dev["dev_id"], token, app["app_id"])
    await receiver.start()
    try:
        one = await groups_phase(harness, [subscriber.heard], args, 30, pids)
        # (the same client as the token's: a new one would supersede the token)
        await asyncio.to_thread(app["client"].webhooks.create, receiver.url, app_id=app["app_id"])
        heard = [subscriber.heard, receiver.heard]
        both = await groups_phase(harness, heard, args, args.drain, pids)
        both["out_of_order"] = receiver.heard.out_of_order + subscriber.heard.out_of_order
        return one, both
    finally:
        await subscriber.stop()
        await receiver.stop()


def subscriber_memory(args: argparse.Namespace, b: Node, app: Any, dev: Any) -> dict[str, float]:
    n = args.subscribers
    subs = Harness()
    try:
        before = settle(b.proc.pid)
        done = subs.call(
            cmd="connect",
            url=b.egw_url,
            n=n,
            login=False,
            egw={"dev_id": dev["dev_id"], "token": app["token"], "app_id": app["app_id"]},
            app_id="",
            app_secret="",
            per_company=1,
        )
        after = settle(b.proc.pid)
        subs.call(cmd="close")
        plain_port = free_port()
        plain = subprocess.Popen(
            [sys.executable, str(HERE / "_broadcast_server.py"), str(plain_port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert plain.stdout is not None and plain.stdout.readline().strip() == "ready"
            pbefore = settle(plain.pid)
            subs.call(
                cmd="connect",
                url=f"ws://127.0.0.1:{plain_port}/",
                n=n,
                login=False,
                app_id="",
                app_secret="",
                per_company=1,
            )
            pafter = settle(plain.pid)
        finally:
            plain.terminate()
            plain.wait(30)
    finally:
        subs.proc.terminate()
        subs.proc.wait(30)
    return {
        "rss": (after[0] - before[0]) / n,
        "anon": (after[1] - before[1]) / n,
        "plain_rss": (pafter[0] - pbefore[0]) / n,
        "plain_anon": (pafter[1] - pbefore[1]) / n,
        "seconds": done["seconds"],
    }


def environment(work: Path, cluster: bool) -> tuple[dict[str, str], str]:
    env = {
        **os.environ,
        "HSTGW_HEARTBEAT_INTERVAL": "600",
        "HSTGW_SECRET_KEY": secrets.token_hex(32),
        # one developer and one app at the load's full rate: limits raised, still checked
        "HSTGW_LIMIT_CALLS_PER_DEVELOPER": str(10**9),
        "HSTGW_LIMIT_LOGINS_PER_APP": str(10**6),
        "HSTGW_LIMIT_TERMINALS_PER_APP": str(10**6),
        "HSTGW_EVENT_MAX_SESSIONS_PER_DEVELOPER": str(10**6),  # --subscribers of one developer
        # every bench connection comes from 127.0.0.1: one address, raised (still checked)
        "HSTGW_TERMINAL_MAX_CONNECTIONS_PER_ADDRESS": str(10**6),
        "HSTGW_EVENT_MAX_CONNECTIONS": str(10**6),
        "HSTGW_EVENT_MAX_CONNECTIONS_PER_ADDRESS": str(10**6),
        "HSTGW_WEBHOOK_ALLOW_PRIVATE": "true",
    }
    schema = ""
    if cluster:
        schema = f"bench_{secrets.token_hex(4)}"
        env |= {
            "HSTGW_DATABASE_URL": DATABASE_URL,
            "HSTGW_DATABASE_SCHEMA": schema,
            "HSTGW_REDIS_URL": REDIS_URL,
        }
    return env, schema


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cluster", action="store_true", help="two nodes, PostgreSQL + Redis")
    parser.add_argument("--terminals", type=int, default=200)
    parser.add_argument("--rate", type=int, default=1000, help="group frames (events) a second")
    parser.add_argument("--seconds", type=float, default=10.0, help="each latency phase")
    parser.add_argument("--drain", type=float, default=60.0, help="wait for a backlog, s")
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--log-events", type=int, default=50_000)
    parser.add_argument("--producers", type=int, default=500)
    parser.add_argument("--slow", action="store_true", help="list when joins over 10 ms were sent")
    parser.add_argument("--keep", action="store_true", help="keep the nodes' data dirs and logs")
    parser.add_argument("--profile", help="run node A under cProfile, its figures to this file")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    work = Path(tempfile.mkdtemp(prefix="hstgw-bench-events-"))
    env, schema = environment(work, args.cluster)
    nodes: list[Node] = []
    harness: Harness | None = None
    if args.keep:
        print(f"data dirs and logs in {work}", flush=True)
    try:
        if args.cluster:
            nodes = [Node(work, "a", env, args.profile), Node(work, "b", env)]
            dev = hstgw_json("dev", "create", env=env)
        else:
            dev = hstgw_json("dev", "create", "--data-dir", str(work / "a"), env=env)
            nodes = [Node(work, "a", env, args.profile)]
        a, b = nodes[0], nodes[-1]
        client = Client(a.base, dev["dev_id"], dev["dev_secret"])
        made = client.apps.create("bench_events", [3, 4, 6, 7], status="online")
        app = {"app_id": made.app_id, "token": client.get_access_token(), "client": client}
        harness = app["harness"] = Harness()
        harness.call(
            cmd="connect",
            url=a.ws_url,
            n=args.terminals,
            login=True,
            app_id=made.app_id,
            app_secret=made.app_secret,
            per_company=100,
        )
        one, both = asyncio.run(latencies(args, a, b, app, dev))
        harness.call(cmd="close")
        memory = subscriber_memory(args, b, app, dev)
        client.close()
    finally:
        if harness is not None:
            harness.proc.terminate()
            harness.proc.wait(30)
        for node in nodes:
            node.stop()
        # (a failed run leaves nothing behind either: its schema and Redis keys go)
        if schema:
            drop(schema)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    engine = "postgres" if args.cluster else "sqlite"
    rates = {
        kind: asyncio.run(log_rate(engine, kind, args.log_events, args.producers))
        for kind in ("online", "join")
    }
    return report(args, one, both, memory, rates)


def report(
    args: argparse.Namespace,
    one: dict[str, Any],
    both: dict[str, Any],
    memory: dict[str, float],
    rates: dict[str, float],
) -> int:
    where = "cluster: terminals on node A, subscribers on node B" if args.cluster else "embedded"
    print(f"events bench, {where}; {args.terminals} terminals, {args.rate} group frames/s")
    ok = True

    def line(label: str, lat: list[float], target: float) -> None:
        nonlocal ok
        if not lat:
            print(f"{label:<34} nothing heard")
            ok = False
            return
        p50, p99, top = quantiles(lat)
        met = f"  (target p99 <= {target:g}: " + ("met" if p99 <= target else "MISSED") + ")"
        ok = ok and p99 <= target
        print(
            f"{label:<34} p50 {p50:6.1f} ms, p99 {p99:7.1f} ms, max {top:7.1f} ms, "
            f"{len(lat)} joins{met}"
        )

    for name, phase in (("subscriber only", one), ("with a webhook", both)):
        s = phase["sent"]
        print(
            f"-- {name}: {s['sent']} frames, {s['joins']} joins, {s['errors']} refused; "
            f"drained in {', '.join(f'{d:.1f}' for d in phase['drained'])} s; "
            f"server CPU {phase['cpu_us']:.0f} us an event"
        )
        noise = phase["noise"]
        print(
            f"{'machine noise (anchor)':<34} p50 {noise['p50_ms']:6.1f} ms, "
            f"p99 {noise['p99_ms']:7.1f} ms, max {noise['max_ms']:7.1f} ms  "
            "(how late an idle process's 1 ms sleeps woke)"
        )
        print(
            f"{'join/leave -> terminal reply':<34} p50 {s['reply_p50_ms']:6.1f} ms, "
            f"p99 {s['reply_p99_ms']:7.1f} ms  (anchor)"
        )
        line("join -> subscriber", phase["latencies"][0], SUBSCRIBER_P99_MS)
    line("join -> webhook receiver", both["latencies"][1], WEBHOOK_P99_MS)
    if args.slow:
        for name, phase in (("subscriber only", one), ("with a webhook", both)):
            noise = [(at, ms) for at, ms in phase["noise"]["late"]]
            for who, slow in zip(
                ("noise", "subscriber", "webhook"), [noise, *phase["slow"]], strict=False
            ):
                seconds: dict[int, list[float]] = {}
                for at, ms in slow:
                    seconds.setdefault(int(at), []).append(ms)
                each = "; ".join(
                    f"{t % 1000}: {len(v)} up to {max(v):.0f} ms"
                    for t, v in sorted(seconds.items())
                )
                print(f"   over 10 ms, {name}, {who}, by second sent: {each}")
    if both["out_of_order"]:
        print(f"OUT OF ORDER: {both['out_of_order']} events")
        ok = False
    engine = "PostgreSQL, one process" if args.cluster else "embedded"
    for kind, rate in rates.items():
        target = f"  (target >= {LOG_RATE:,}: " + ("met)" if rate >= LOG_RATE else "MISSED)")
        if args.cluster:
            target = "  (the target is the embedded store's)"
        elif kind == "join":
            ok = ok and rate >= LOG_RATE
        print(f"log, {kind + ' events':<14} {engine:<24} {rate:9,.0f} events/s{target}")
    kib = max(memory["rss"], memory["anon"])
    ok = ok and kib <= SUBSCRIBER_KIB
    print(
        f"memory per subscriber ({args.subscribers})  {memory['rss']:.1f} KiB resident, "
        f"{memory['anon']:.1f} KiB anonymous  (target <= {SUBSCRIBER_KIB:g}: "
        f"{'met' if kib <= SUBSCRIBER_KIB else 'MISSED'}; plain websockets server "
        f"{memory['plain_rss']:.1f} / {memory['plain_anon']:.1f} KiB a connection)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
