"""Run the gateway under uvicorn (``hstgw serve``).

uvicorn handles SIGINT and SIGTERM: it stops accepting, lets requests in flight
finish (bounded by ``_GRACE_S``), then runs the lifespan shutdown, which closes
the store.
"""

from __future__ import annotations

import importlib.util

import uvicorn

from hstgw.api import create_app
from hstgw.log import setup_logging
from hstgw.settings import Settings

__all__ = ["serve", "uvicorn_config"]

_GRACE_S = 10


def uvicorn_config(settings: Settings) -> uvicorn.Config:
    fast = importlib.util.find_spec("uvloop") is not None
    return uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop" if fast else "asyncio",
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
        lifespan="on",
        log_config=None,
        access_log=False,  # the gateway writes its own structured access log
        server_header=False,
        timeout_graceful_shutdown=_GRACE_S,
    )


def serve(settings: Settings) -> bool:
    """Serve until stopped; False if the gateway could not start (the log says why)."""
    setup_logging(settings.log_level, settings.log_format)
    server = uvicorn.Server(uvicorn_config(settings))
    server.run()
    return server.started
