"""Many terminals in one process, driven by bench/terminals.py over stdin/stdout.

Commands (one JSON object per line in, one per line out):
  {"cmd": "connect", "url", "n", "login", "app_id", "app_secret", "per_company", ["first"]}
      -> {"connected": n, "seconds": s}   (users u<first>..u<first+n-1>; more connects add)
  {"cmd": "expect", "msg_id", "n"}  -> {"received": n, "at": wall time of the last}
  {"cmd": "latency", "count"}       -> {"p50_ms", "p99_ms", "max_ms", "count"}
  {"cmd": "groups", "rate", "seconds"}
      -> {"sent", "joins", "errors", "reply_p50_ms", "reply_p99_ms"}
  {"cmd": "close"}                  -> {"closed": n}   (the process ends with its stdin)
Latency commands carry ``trans_mess.t``, the sender's wall time. ``groups`` has the
terminals join and leave groups at ``rate`` frames/s (each terminal in turn: it leaves
the group it is in, or joins a new one); a joined group's id carries the sender's wall
time (``j<microseconds>_<n>``), so whoever hears the event knows when it was sent.
A connect with ``egw: {"dev_id", "token", "app_id"}`` makes event gateway subscribers
instead of terminals (login 20000, subscribe 20004).
"""

from __future__ import annotations

import asyncio
import json
import resource
import statistics
import sys
import time
from typing import Any, Protocol, cast

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from _http import no_gc_pauses
from hstgw.tokens.fsp import build

_TEXT, _CLOSE = WSMsgType.TEXT, WSMsgType.CLOSE
# The frames of a fan-out or a latency run start so (the gateway's JSON is compact,
# keys in this order, byte for byte what the plain broadcast server is given).
_TRANS = b'{"type":"trans_cmd","msg_id":'


class Conn(WSListener):  # type: ignore[misc]
    """One client connection on picows: its frames go to ``Clients.frame``, or to the
    future of a reply awaited while logging in.

    Why picows and not ``websockets``' asyncio client: with a reader task per
    connection, reading one fan-out frame on each of 10,000 connections cost this
    process more CPU (230-290 ms) than either server spent writing them, so the
    fan-out ratio measured the load generator. picows parses frames in C and calls
    back once per frame, no task, no queue."""

    def __init__(self, clients: Clients) -> None:
        super().__init__()
        self.clients = clients
        self.index = -1
        self.transport: WSTransport | None = None
        self.waiting: asyncio.Future[bytes] | None = None
        self.want = b""  # the reply awaited contains this

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is not _TEXT:
            if frame.msg_type is _CLOSE:  # (ours echoed, or the server's: echo it)
                if not transport.is_close_frame_sent:
                    transport.send_close(WSCloseCode.OK)
                transport.disconnect()
            return
        raw = frame.get_payload_as_bytes()
        waiting = self.waiting
        if waiting is not None and self.want in raw:
            self.waiting = None
            if not waiting.done():
                waiting.set_result(raw)
            return
        self.clients.frame(self.index, raw)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        waiting, self.waiting = self.waiting, None
        if waiting is not None and not waiting.done():
            waiting.set_exception(ConnectionError("closed before the reply"))

    async def ask(self, frame: dict[str, Any], want: bytes) -> dict[str, Any]:
        """Send ``frame``, then the first frame that contains ``want``, parsed."""
        assert self.transport is not None
        self.want = want
        self.waiting = asyncio.get_running_loop().create_future()
        self.transport.send(_TEXT, json.dumps(frame).encode())
        return dict(json.loads(await asyncio.wait_for(self.waiting, 60)))


class Clients:
    def __init__(self) -> None:
        self.conns: list[Conn] = []
        self.expect_prefix: bytes | None = None
        self.expect_n = 0
        self.got = 0
        self.last_at = 0.0
        self.done: asyncio.Future[None] | None = None
        self.latencies: list[float] = []
        self.latency_want = 0
        self.group_of: list[str | None] = []  # per connection: the group it is in
        self.sent_at: dict[int, float] = {}  # a group frame's seq -> when it was sent
        self.replies: list[float] = []
        self.errors = 0

    async def connect(self, cmd: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        gate = asyncio.Semaphore(200)

        async def one(i: int) -> None:
            async with gate:
                conn = await self.open(cmd["url"])
                if cmd.get("egw"):
                    await egw_login(conn, cmd["egw"])
                elif cmd["login"]:
                    user = f"u{i}"
                    token = build(cmd["app_id"], cmd["app_secret"], uid=user)
                    login = {
                        "type": "login",
                        "app_id": cmd["app_id"],
                        "token": token,
                        "user_id": user,
                        "company_id": f"c{i // cmd['per_company']}",
                        "client_guid": f"g{i}",
                    }
                    reply = await conn.ask(login, b'"login_result"')
                    if reply["code"] != 0:
                        raise RuntimeError(f"login {i}: {reply}")
                conn.index = len(self.conns)
                self.conns.append(conn)
                self.group_of.append(None)

        first = cmd.get("first", 0)
        await asyncio.gather(*(one(i) for i in range(first, first + cmd["n"])))
        return {"connected": len(self.conns), "seconds": time.perf_counter() - started}

    async def open(self, url: str) -> Conn:
        """A connection, its handshake done. On a busy machine a server may drop a
        connection before its handshake (picows then gives no listener): tried again."""
        for attempt in range(5):
            _, conn = await ws_connect(
                lambda: Conn(self),
                url,
                websocket_handshake_timeout=60,
                max_frame_size=1 << 20,
                read_buffer_init_size=1024,  # (grows if a frame needs it)
            )
            if conn is not None:
                return cast(Conn, conn)
            await asyncio.sleep(0.1 * (attempt + 1))
        raise ConnectionError(f"{url}: closed before the handshake, 5 times")

    def frame(self, index: int, raw: bytes) -> None:
        """A frame of connection ``index`` (not a reply awaited by ``Conn.ask``)."""
        now = time.time()
        prefix = self.expect_prefix
        if prefix is not None and raw.startswith(prefix):  # (the fan-out: no parsing)
            self.got += 1
            self.last_at = now
            if self.got >= self.expect_n and self.done and not self.done.done():
                self.done.set_result(None)
            return
        if b'_group_result"' in raw:
            reply = json.loads(raw)
            if reply["code"] != 0:
                self.errors += 1
            sent = self.sent_at.pop(reply["seq"], None)
            if sent is not None:
                self.replies.append((now - sent) * 1000)
            return
        if not raw.startswith(_TRANS):
            return  # presence pushes and replies
        t = json.loads(raw)["trans_mess"].get("t")
        if t is not None:
            self.latencies.append((now - t) * 1000)
            if self.done and len(self.latencies) >= self.latency_want and not self.done.done():
                self.done.set_result(None)

    async def expect(self, cmd: dict[str, Any]) -> dict[str, Any]:
        self.expect_prefix = _TRANS + b"%d," % cmd["msg_id"]
        self.expect_n, self.got = cmd["n"], 0
        self.done = asyncio.get_running_loop().create_future()
        try:
            with no_gc_pauses():
                print(json.dumps({"ready": True}), flush=True)
                await asyncio.wait_for(self.done, 120)
        finally:
            self.expect_prefix = None
        return {"received": self.got, "at": self.last_at}

    async def latency(self, cmd: dict[str, Any]) -> dict[str, Any]:
        self.latencies, self.latency_want = [], cmd["count"]
        self.done = asyncio.get_running_loop().create_future()
        with no_gc_pauses():
            print(json.dumps({"ready": True}), flush=True)
            await asyncio.wait_for(self.done, 120)
        q = statistics.quantiles(self.latencies, n=100)
        return {
            "p50_ms": q[49],
            "p99_ms": q[98],
            "max_ms": max(self.latencies),
            "count": len(self.latencies),
        }

    async def groups(self, cmd: dict[str, Any]) -> dict[str, Any]:
        rate, count = cmd["rate"], int(cmd["rate"] * cmd["seconds"])
        self.replies, self.errors, joins = [], 0, 0
        start = time.perf_counter()
        for k in range(count):
            delay = start + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            i = k % len(self.conns)
            group, seq = self.group_of[i], 1_000_000 + k
            if group is None:
                now = time.time()
                group = f"j{int(now * 1e6)}_{k}"
                frame = {"type": "join_group", "seq": seq, "group_id": group}
                self.group_of[i] = group
                joins += 1
            else:
                frame = {"type": "leave_group", "seq": seq, "group_id": group}
                self.group_of[i] = None
                now = time.time()
            self.sent_at[seq] = now
            transport = self.conns[i].transport
            assert transport is not None
            transport.send(_TEXT, json.dumps(frame).encode())
        for _ in range(200):  # the last replies
            if not self.sent_at:
                break
            await asyncio.sleep(0.05)
        q = statistics.quantiles(self.replies, n=100)
        return {
            "sent": count,
            "joins": joins,
            "errors": self.errors + len(self.sent_at),
            "reply_p50_ms": q[49],
            "reply_p99_ms": q[98],
        }

    async def close(self) -> dict[str, Any]:
        n = len(self.conns)
        transports = [c.transport for c in self.conns if c.transport is not None]
        for transport in transports:
            transport.send_close(WSCloseCode.OK)
        try:  # (the close handshake, then the server closes TCP)
            await asyncio.wait_for(
                asyncio.gather(
                    *(t.wait_disconnected() for t in transports), return_exceptions=True
                ),
                30,
            )
        except TimeoutError:
            for transport in transports:
                transport.disconnect()
        self.conns, self.group_of = [], []
        return {"closed": n}


class _Sends(Protocol):
    async def send(self, message: str) -> None: ...
    async def recv(self) -> str | bytes: ...


async def egw_login(conn: _Sends | Conn, egw: dict[str, str]) -> None:
    """Log in to the event gateway and subscribe to the app (docs/events.md), on one of
    this process's connections or a ``websockets`` one (bench/_event_receivers.py)."""
    login = {"business": "EGW", "id": 20000, "dev_id": egw["dev_id"], "token": egw["token"]}
    subscribe = {"business": "EGW", "id": 20004, "app_list": [{"app_id": egw["app_id"]}]}
    for frame, want in ((login, 20001), (subscribe, 20005)):
        if isinstance(conn, Conn):
            reply = await conn.ask(frame, b"")  # (the first frame that comes)
        else:
            await conn.send(json.dumps(frame))
            reply = json.loads(await conn.recv())
        if reply.get("id") != want or reply.get("result") != 0:
            raise RuntimeError(f"event gateway {frame['id']}: {reply}")


async def main() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    clients = Clients()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        cmd = json.loads(line)
        if cmd["cmd"] == "connect":
            out = await clients.connect(cmd)
        elif cmd["cmd"] == "expect":
            out = await clients.expect(cmd)
        elif cmd["cmd"] == "latency":
            out = await clients.latency(cmd)
        elif cmd["cmd"] == "groups":
            out = await clients.groups(cmd)
        else:
            out = await clients.close()
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
