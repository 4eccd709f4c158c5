"""The server side of bench/rest.py: the gateway and a raw ASGI baseline, one server.

``GET /bench/raw`` answers a fixed JSON body straight from ASGI (``PUT /bench/raw``
sets it, before the measurement); every other path goes
to the real gateway (real store, real auth, access log on). Both share one
uvicorn process, loop and HTTP parser, so their ratio measures the gateway alone.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import uvicorn

from hstgw.log import setup_logging
from hstgw.server import uvicorn_config
from hstgw.settings import Settings


def main(port: int, data_dir: str) -> None:
    # One developer at wrk's full rate: its call limit is raised (not turned off: the
    # check itself is part of what is measured).
    settings = Settings(
        port=port,
        terminal_port=0,  # any free port: never the default 28001 a gateway may be using
        data_dir=Path(data_dir),
        limit_calls_per_developer=10**9,
    )
    setup_logging(settings.log_level)
    config = uvicorn_config(settings)
    gateway = config.app
    raw = {"body": b"{}"}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/bench/raw":
            if scope["method"] == "PUT":
                chunks = []
                while True:
                    message = await receive()
                    chunks.append(message.get("body", b""))
                    if not message.get("more_body"):
                        break
                raw["body"] = b"".join(chunks)
            body = raw["body"]
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json;charset=UTF-8"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await gateway(scope, receive, send)

    config.app = app
    config.loaded = False
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
