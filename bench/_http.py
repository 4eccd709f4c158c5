"""A plain HTTP/1.1 keep-alive client for the benchmarks."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class KeepAlive:
    """A pool of plain HTTP/1.1 keep-alive connections: a load generator light enough
    that at 500 requests/s it measures the server, not itself (httpx costs ~1 ms of
    CPU a request, which on two cores shows up as latency)."""

    def __init__(self, host: str, port: int, token: str, size: int = 16) -> None:
        self.host, self.port, self.token, self.size = host, port, token, size
        self.pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )

    async def open(self) -> None:
        for _ in range(self.size):
            self.pool.put_nowait(await asyncio.open_connection(self.host, self.port))

    async def post(self, path: str, body: bytes) -> dict[str, Any]:
        return await self.request("POST", path, body)

    async def get(self, path: str) -> dict[str, Any]:
        return await self.request("GET", path, b"")

    async def request(self, method: str, path: str, body: bytes) -> dict[str, Any]:
        reader, writer = await self.pool.get()
        try:
            writer.write(
                f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: {self.token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            return dict(json.loads(await reader.readexactly(length)))
        finally:
            self.pool.put_nowait((reader, writer))

    async def close(self) -> None:
        while not self.pool.empty():
            _, writer = self.pool.get_nowait()
            writer.close()


@contextmanager
def no_gc_pauses() -> Iterator[None]:
    """No garbage collection in this process while a measurement runs: the load
    generator and the terminals' process are tools, and a full collection of the one
    process that holds 10,000 terminals (~400 ms, measured) or of the generator (~35 ms)
    would show up as latency of the server. The server's own collections still count."""
    gc.collect()
    gc.freeze()  # (what is there now is not looked at again)
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, tries: int = 200) -> None:
    """Until ``url`` answers (a server starting)."""
    for _ in range(tries):
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def hstgw_json(*args: str, env: dict[str, str] | None = None) -> Any:
    """``hstgw <args> --json`` as the operator runs it, its JSON output."""
    out = subprocess.run(
        [sys.executable, "-m", "hstgw", *args, "--json"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return json.loads(out.stdout)
