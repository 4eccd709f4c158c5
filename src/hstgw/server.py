"""Run the gateway on its HTTP server (``hstgw serve``).

SIGINT and SIGTERM stop it: it stops accepting, lets requests in flight finish
(bounded by ``_GRACE_S``), then runs the lifespan shutdown, which closes the store.
"""

from __future__ import annotations

import gc

from hstgw.api import create_app
from hstgw.api.http import HttpApi
from hstgw.connections import Connections
from hstgw.log import setup_logging
from hstgw.serving import Deadlines, HttpServer
from hstgw.serving.granian import GranianServer
from hstgw.settings import Settings

__all__ = ["freeze_startup_objects", "http_server", "serve"]

_GRACE_S = 10


def http_server(
    settings: Settings, app: HttpApi | None = None, *, freeze: bool = False
) -> HttpServer | GranianServer:
    """The server for ``app`` (by default the gateway of ``settings``) on the REST port:
    ``hstgw.serving``, or granian's where ``settings.http_server`` says so.

    ``freeze``: what start-up made is frozen once it is done (``freeze_startup_objects``);
    for a process that is the server, not for one that runs servers among other work."""
    if app is None:
        app = create_app(settings, connections=Connections.from_settings(settings))
    connections: Connections = app.state["connections"]
    on_started = freeze_startup_objects if freeze else None
    if settings.http_server == "granian":
        return GranianServer(
            app,
            host=settings.host,
            port=settings.port,
            header_timeout=min(settings.http_header_timeout, settings.http_keep_alive),
            max_connections=connections.http.total,  # (lowered to fit the open-files limit)
            grace=_GRACE_S,
            on_started=on_started,
        )
    return HttpServer(
        app,
        host=settings.host,
        port=settings.port,
        gate=connections.http,
        deadlines=Deadlines(
            keep_alive=settings.http_keep_alive,
            header=settings.http_header_timeout,
            body=settings.http_body_timeout,
        ),
        max_body=settings.max_body_bytes,
        grace=_GRACE_S,
        on_started=on_started,
    )


def freeze_startup_objects() -> None:
    """Leave what start-up made out of the cyclic garbage collector's walks for good.

    Why: a full collection walks every tracked object, and the modules, models,
    schemas and routes, and what the app's start-up builds (~52,000 objects), live as
    long as the process. With 10,000 terminals a full collection took 150-250 ms
    (measured, ~20% of it these objects), a pause of every request and push in flight. Frozen, they
    are not walked again (and, living as long as the process, would seldom have been
    freed by a walk). Objects made later, the terminals' included, are collected as
    usual; the thresholds stay: no collection fell in a steady unicast load (measured,
    docs/performance.md).
    """
    gc.collect()
    gc.freeze()


def serve(settings: Settings) -> bool:
    """Serve until stopped; False if the gateway could not start, or its server ended
    on its own (the log says why)."""
    setup_logging(settings.log_level, settings.log_format)
    server = http_server(settings, freeze=True)
    server.run()
    return server.started and not server.failed
