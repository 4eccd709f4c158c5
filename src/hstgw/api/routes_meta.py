"""Routes about the gateway itself: liveness, readiness, and where its services are.

``/healthz`` says the process answers; ``/readyz`` that it can serve (its store and, in
a cluster, Redis answer and it holds its lease): a balancer or a Kubernetes readiness
probe takes a node out on 503 without restarting it (docs/operations.md).
``/server/address`` is the platform's discovery call (``appType=10``: the business
gateway; ``appType=8``: the event gateway), answered with the platform's own envelope
for it, ``{"code", "message", "result"}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import orjson
from pydantic import BaseModel

from hstgw import __version__
from hstgw.api.http import Call, Response, Route
from hstgw.errors import Code
from hstgw.gateway import Gateway
from hstgw.validation import QUERY_CONFIG

__all__ = ["build_meta_routes", "request_host"]

# What a Host header may hold to be copied into a URL we hand out: a name or an
# address, and a port; anything else (a path, a user, spaces, quotes) is ignored.
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.-]{1,253})(:[0-9]{1,5})?")
_BUSINESS_GATEWAY = "10"
_EVENT_GATEWAY = "8"


def request_host(header: str) -> tuple[str, str] | None:
    """``(host, ":port" or "")`` of a well-formed Host header, else None."""
    match = _HOST.fullmatch(header)
    if match is None:
        return None
    return match.group(1), match.group(2) or ""


class ServerAddressQuery(BaseModel):
    model_config = QUERY_CONFIG
    appType: str
    app_id: str = ""  # the public cloud picks a region by it; one gateway has one


def _platform_envelope(code: Code, message: str, result: str | None = None) -> Response:
    body: dict[str, object] = {"code": code.value, "message": message}
    if result is not None:
        body["result"] = result
    return Response(orjson.dumps(body), code=code.value)


def build_meta_routes(
    gw: Gateway, public_url: str, default_host: str, event_url: Callable[[str], str]
) -> list[Route]:
    """``public_url``: the business gateway's URL if configured; otherwise it is made
    from the request's Host header when well-formed, else ``default_host``.
    ``event_url``: the event gateway's URL, given the request's Host header."""

    async def healthz(call: Call) -> Response:
        return Response(orjson.dumps({"status": "ok", "version": __version__}))

    async def readyz(call: Call) -> Response:
        ready, checks = await gw.readiness()
        return Response(
            orjson.dumps({"status": "ready" if ready else "unready", "checks": checks}),
            status=200 if ready else 503,
        )

    async def server_address(call: Call) -> Response:
        q: ServerAddressQuery = call.query
        if q.appType == _BUSINESS_GATEWAY:
            if public_url:
                return _platform_envelope(Code.OK, "OK", public_url)
            host = request_host(call.headers.get("host", ""))
            where = f"{host[0]}{host[1]}" if host is not None else default_host
            return _platform_envelope(Code.OK, "OK", f"http://{where}")
        if q.appType == _EVENT_GATEWAY:
            return _platform_envelope(Code.OK, "OK", event_url(call.headers.get("host", "")))
        return _platform_envelope(Code.PARAMETER_INVALID, "appType: must be 10 or 8")

    return [
        Route("GET", "/healthz", healthz, "Liveness", "meta", auth=None, raw=True),
        Route(
            "GET",
            "/readyz",
            readyz,
            "Readiness",
            "meta",
            auth=None,
            raw=True,
            description="200 when the store (and, in a cluster, Redis and the node's "
            "lease) answer; 503 with the failing check otherwise.",
        ),
        Route(
            "GET",
            "/server/address",
            server_address,
            "Where the gateway's services are",
            "meta",
            auth=None,
            query=ServerAddressQuery,
            raw=True,
            description="The platform's discovery call: `appType=10` answers the business "
            'gateway\'s URL as `{"code":0,"message":"OK","result":"<url>"}`; `appType=8` '
            "the event gateway's WebSocket URL (`ws://host:29200`).",
        ),
    ]
