"""Run the gateway under uvicorn (``hstgw serve``).

uvicorn handles SIGINT and SIGTERM: it stops accepting, lets requests in flight
finish (bounded by ``_GRACE_S``), then runs the lifespan shutdown, which closes
the store.
"""

from __future__ import annotations

import importlib.util

import uvicorn

from hstgw.api import create_app
from hstgw.api.http import HttpApi
from hstgw.api.protocol import Deadlines, guarded_protocol
from hstgw.connections import Connections
from hstgw.log import setup_logging
from hstgw.settings import Settings

__all__ = ["serve", "uvicorn_config"]

_GRACE_S = 10


def uvicorn_config(settings: Settings, app: HttpApi | None = None) -> uvicorn.Config:
    """The server for ``app`` (by default the gateway of ``settings``) on the REST port."""
    if app is None:
        app = create_app(settings, connections=Connections.from_settings(settings))
    connections: Connections = app.state["connections"]
    fast = importlib.util.find_spec("uvloop") is not None
    protocol = guarded_protocol(
        connections.http,
        Deadlines(
            keep_alive=settings.http_keep_alive,
            header=settings.http_header_timeout,
            body=settings.http_body_timeout,
        ),
        settings.max_body_bytes,
    )
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop" if fast else "asyncio",
        http=protocol,
        ws="none",  # terminals have a listener of their own (hstgw.online.endpoint)
        # Forwarded headers are read by the gateway, from HSTGW_TRUSTED_PROXIES only,
        # the same way on both ports (hstgw.connections); uvicorn's trust 127.0.0.1.
        proxy_headers=False,
        timeout_keep_alive=max(1, round(settings.http_keep_alive)),
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
