"""The baseline of bench/terminals.py: a plain ``websockets`` broadcast server.

Every connection is a client, except one that sends a frame: that frame is
broadcast, as it is, to all the others with ``websockets.broadcast``, the
library's own fan-out, as a typical broadcast server does.
"""

from __future__ import annotations

import asyncio
import resource
import sys

from websockets.asyncio.server import ServerConnection, broadcast, serve

CLIENTS: set[ServerConnection] = set()


async def handler(conn: ServerConnection) -> None:
    CLIENTS.add(conn)
    try:
        async for message in conn:
            CLIENTS.discard(conn)  # the sender is the trigger, not a client
            broadcast(CLIENTS, message)
    finally:
        CLIENTS.discard(conn)


async def main(port: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    async with serve(handler, "127.0.0.1", port, compression=None, ping_interval=None) as server:
        print("ready", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main(int(sys.argv[1])))
    except ImportError:
        asyncio.run(main(int(sys.argv[1])))
