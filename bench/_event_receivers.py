"""What bench/events.py measures with: an event gateway subscriber on a raw WebSocket
and a webhook receiver (a plain HTTP/1.1 server on 127.0.0.1), both in the bench's
own process.

Each records, for every 20100 (user joined) it hears, the time from the terminal's
``join_group`` (its wall time is in the group id, ``j<microseconds>_<n>``, see
bench/_terminal_clients.py) to the receipt here. The webhook receiver also counts what
arrives out of version order (it should not happen: one delivery in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from _terminal_clients import egw_login

JOINED = 20100


def sent_at(group_id: str) -> float:
    """The terminal's wall time at ``join_group``, from the group id."""
    return int(group_id[1:].split("_", 1)[0]) / 1e6


class Heard:
    """Latencies of the joins one receiver heard, in ms."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.slow: list[tuple[float, float]] = []  # (sent at, ms) of those over 10 ms
        self.events = 0
        self.out_of_order = 0
        self._last: dict[str, int] = {}
        self._want = 0
        self._enough = asyncio.Event()

    def reset(self) -> None:
        self.latencies, self.slow = [], []

    def hear(self, event: dict[str, Any], now: float) -> None:
        self.events += 1
        last = self._last.get(event["app_id"], 0)
        if event["version"] <= last:
            self.out_of_order += 1
        self._last[event["app_id"]] = max(last, event["version"])
        if event["id"] == JOINED and event["group_id"].startswith("j"):
            sent = sent_at(event["group_id"])
            self.latencies.append((now - sent) * 1000)
            if now - sent > 0.01:
                self.slow.append((sent, (now - sent) * 1000))
            if len(self.latencies) >= self._want:
                self._enough.set()

    async def wait_for(self, count: int, limit_s: float) -> float:
        """Until ``count`` joins are heard (or ``limit_s``); the seconds it took."""
        started = time.perf_counter()
        self._want, self._enough = count, asyncio.Event()
        if len(self.latencies) < count:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._enough.wait(), limit_s)
        return time.perf_counter() - started


class Subscriber:
    """One event gateway session, subscribed to one app."""

    def __init__(self) -> None:
        self.heard = Heard()
        self._conn: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self, url: str, dev_id: str, token: str, app_id: str) -> None:
        self._conn = await connect(url, compression=None, ping_interval=None, max_queue=None)
        await egw_login(self._conn, {"dev_id": dev_id, "token": token, "app_id": app_id})
        self._reader = asyncio.create_task(self._read(self._conn))

    async def _read(self, conn: ClientConnection) -> None:
        async for raw in conn:
            now = time.time()
            frame = json.loads(raw)
            if "version" in frame and "result" not in frame:  # a push, not a reply
                self.heard.hear(frame, now)

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self._conn is not None:
            await self._conn.close()


class WebhookReceiver:
    """Answers every POST 200 at once, keep-alive; what it got goes to ``heard``."""

    def __init__(self) -> None:
        self.heard = Heard()
        self._server: asyncio.Server | None = None
        self._handlers: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers[writer] = task
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                body = await reader.readexactly(length)
                now = time.time()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                self.heard.hear(json.loads(body), now)
        self._handlers.pop(writer, None)
        writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            handlers = list(self._handlers.values())
            for writer in list(self._handlers):
                writer.close()  # (its handler ends on the closed stream)
            await asyncio.gather(*handlers, return_exceptions=True)
