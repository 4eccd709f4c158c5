"""The REST port's HTTP/1.1 server: httptools parses, uvloop moves the bytes.

Why a server of our own (docs/architecture.md, "The HTTP server"): measured on the same
machine, uvicorn's own steps cost ~29 us a request where these cost ~13, a served
``GET /v1/app`` 62 us against ~45, and uvicorn, held in front of hostile clients,
needed its internals subclassed for connection caps, deadlines and bodies behind an
``Upgrade`` offer. It serves what the gateway needs: ASGI 3 ``http`` and
``lifespan`` over HTTP/1.1 with keep-alive and pipelining; no WebSocket (terminals
have a listener of their own), no HTTP/2.
"""

from hstgw.serving.link import Deadlines
from hstgw.serving.server import HttpServer

__all__ = ["Deadlines", "HttpServer"]
