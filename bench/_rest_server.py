"""The server side of bench/rest.py: the gateway and a raw ASGI baseline, one server.

    python bench/_rest_server.py PORT DATA_DIR [hstgw|granian]

``/bench/raw`` is the raw callable of bench/_raw_app.py; every other path goes to
the real gateway (real store, real auth, access log on). Both share one process,
loop and HTTP parser, so their ratio measures the gateway alone.

``hstgw`` (the default) is ``hstgw serve``'s own server (``hstgw.serving``: connection
caps, deadlines, h2c bodies). ``granian`` is ``hstgw serve --http-server granian``
(granian's embedded server, none of those limits: it serves behind a proxy, here
127.0.0.1 named as one, which wrk's connections come from without X-Forwarded-For).
"""

from __future__ import annotations

import sys
from pathlib import Path

from _raw_app import raw
from hstgw.api import create_app
from hstgw.connections import Connections
from hstgw.log import setup_logging
from hstgw.server import http_server
from hstgw.settings import Settings


def main(port: int, data_dir: str, server: str) -> None:
    # One developer at wrk's full rate: its call limit is raised (not turned off: the
    # check itself is part of what is measured).
    settings = Settings(
        port=port,
        terminal_port=0,  # any free port: never the default 28001 a gateway may be using
        event_port=0,
        data_dir=Path(data_dir),
        limit_calls_per_developer=10**9,
        http_server=server,
        trusted_proxies=["127.0.0.1"] if server == "granian" else [],
    )
    setup_logging(settings.log_level)
    gateway = create_app(settings, connections=Connections.from_settings(settings))
    # (a mount, as the console is: no layer of the bench's own in front of the gateway)
    gateway.mount("/bench/raw", raw)
    http_server(settings, gateway, freeze=True).run()  # (as `hstgw serve` does)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "hstgw")
