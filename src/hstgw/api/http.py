"""A thin ASGI layer for the REST API: static routes, the envelope, the access log.

Why not a framework's router: every path of the API is static, so one dict
lookup routes a request; and each layer a framework adds per request (request
object, middleware stack, dependency resolution) costs throughput that this
gateway is measured on (docs/performance.md). What frameworks do well and this
layer needs, it takes from libraries: pydantic parses, orjson serializes,
httptools parses HTTP (``hstgw.serving``).
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from hstgw.abuse import Guard
from hstgw.api.route import (
    JSON_TYPE,
    Authenticator,
    Call,
    Endpoint,
    Receive,
    Response,
    Route,
    Scope,
    Send,
)
from hstgw.api.wrappers import ClientGone, Exchange, Handler, compose, envelope
from hstgw.connections import TrustedProxies
from hstgw.errors import Code, GatewayError, ParameterInvalid, SystemBusy
from hstgw.idempotency import Idempotency
from hstgw.ids import request_ids
from hstgw.log import AccessLog
from hstgw.metrics import Metrics
from hstgw.store import Unavailable

__all__ = [
    "JSON_TYPE",
    "MAX_HEADER_BYTES",
    "Authenticator",
    "Call",
    "Endpoint",
    "HttpApi",
    "Receive",
    "Response",
    "Route",
    "Scope",
    "Send",
]

error_log = logging.getLogger("hstgw.error")

_MAX_REQUEST_ID = 128
# Request headers, names and values, in all (docs/security.md).
MAX_HEADER_BYTES = 16 * 1024


class HttpApi:
    """The ASGI application for HTTP; ``lifespan`` and WebSockets go to ``other``.

    Each route's endpoint is wrapped once, here, in what it needs (authentication,
    the developer's rate, Idempotency-Key: ``wrappers.compose``); a request is then
    one dict lookup by (method, path) and a call of the composed handler.
    """

    def __init__(
        self,
        routes: list[Route],
        authenticators: Mapping[str, Authenticator],
        *,
        max_body_bytes: int,
        access_log: AccessLog | None = None,
        metrics: Metrics | None = None,
        idempotency: Idempotency | None = None,
        guard: Guard | None = None,
        proxies: TrustedProxies | None = None,
        other: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None,
        mounts: Mapping[str, Callable[[Scope, Receive, Send], Awaitable[None]]] | None = None,
    ) -> None:
        """``mounts``: prefix -> ASGI app for the paths under it (the console's
        ``/console``), which answers them in its own way (pages, not envelopes)."""
        self.routes = routes
        self._table: dict[tuple[str, str], tuple[str, Handler]] = {
            (route.method, route.path): (
                route.path,
                compose(
                    route,
                    authenticators,
                    max_body=max_body_bytes,
                    idempotency=idempotency,
                    guard=guard,
                ),
            )
            for route in routes
        }
        self._paths = frozenset(route.path for route in routes)  # a 405, not a 404
        self._request_ids = request_ids()
        self._access_log = access_log
        self._metrics = metrics
        self._proxies = proxies or TrustedProxies()
        self._other = other
        self._mounts: tuple[tuple[str, Callable[[Scope, Receive, Send], Awaitable[None]]], ...] = ()
        for prefix, mounted in (mounts or {}).items():
            self.mount(prefix, mounted)
        # Application-wide objects (the gateway), for tests and embedding.
        self.state: dict[str, Any] = {}

    def mount(self, prefix: str, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        """Let ``app`` answer ``prefix`` and the paths under it, in its own way."""
        self._mounts = (*self._mounts, (prefix, app))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if self._other is None:
                return
            await self._other(scope, receive, send)
            return
        for prefix, mounted in self._mounts:
            path = scope["path"]
            if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/"):
                await mounted(scope, receive, send)
                return
        started = time.perf_counter()
        raw_headers = scope["headers"]
        if sum(len(k) + len(v) for k, v in raw_headers) > MAX_HEADER_BYTES:
            await self._refuse_headers(send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw_headers}
        # (the server gives names in lower case; fewer names than headers: one came twice)
        twice = len(headers) < len(raw_headers) and _repeated_authorization(raw_headers)
        request_id = headers.get("x-request-id", "")
        if not (0 < len(request_id) <= _MAX_REQUEST_ID and request_id.isprintable()):
            request_id = next(self._request_ids)
        code = Code.OK.value
        status = 200
        route_name = "unmatched"
        extra: list[tuple[bytes, bytes]] = []  # headers of the reply beyond the usual
        method = scope["method"]
        path = scope["path"]
        try:
            found = self._table.get((method, path))
            if found is None and method == "HEAD":
                found = self._table.get(("GET", path))  # the GET's reply without its body
            if twice:
                raise ParameterInvalid("authorization", "must be given once")
            if found is None:
                status = 405 if path in self._paths else 404
                code = Code.PARAMETER_INVALID.value
                what = "method" if status == 405 else "path"
                body = envelope(code, f"{what}: no such {what} for {path}")
                content_type = JSON_TYPE
            else:
                route_name, handler = found
                try:
                    out = await handler(Exchange(scope, receive, self._call(scope, headers), extra))
                except ClientGone:
                    self._log(scope, 499, code, route_name, request_id, started)
                    return
                body, content_type, status, code = out.body, out.content_type, out.status, out.code
        except GatewayError as exc:
            code = exc.code.value
            body = envelope(code, exc.msg)
            content_type = JSON_TYPE
        except Unavailable as exc:
            code = Code.SYSTEM_BUSY.value
            if self._metrics is not None and exc.counted_by_store_errors:
                self._metrics.store_errors.inc()
            error_log.warning("unavailable: %s", exc, extra={"request_id": request_id})
            body = envelope(code, SystemBusy().msg)
            content_type = JSON_TYPE
        except Exception:
            # Never a 500 nor a trace to the caller: the trace goes to the log.
            code = Code.OPERATION_FAILED.value
            error_log.error(
                "unhandled error\n%s", traceback.format_exc(), extra={"request_id": request_id}
            )
            body = envelope(code, f"internal error, request id {request_id}")
            content_type = JSON_TYPE
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-request-id", request_id.encode("latin-1")),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body if method != "HEAD" else b""})
        self._log(scope, status, code, route_name, request_id, started)

    def _call(self, scope: Scope, headers: dict[str, str]) -> Call:
        client = scope.get("client")
        peer = client[0] if client else ""
        if self._proxies:
            return Call(headers, address=self._proxies.client_address(peer, _forwarded_for(scope)))
        return Call(headers, address=peer)

    def _log(
        self, scope: Scope, status: int, code: int, route: str, request_id: str, started: float
    ) -> None:
        elapsed = time.perf_counter() - started
        if self._metrics is not None:
            self._metrics.observe(route, scope["method"], code, elapsed)
        if self._access_log is not None:
            self._access_log.request(
                scope["method"], scope["path"], status, code, elapsed * 1000, request_id
            )

    async def _refuse_headers(self, send: Send) -> None:
        body = envelope(
            Code.PARAMETER_INVALID.value, f"headers: larger than {MAX_HEADER_BYTES} bytes in all"
        )
        await send(
            {
                "type": "http.response.start",
                "status": 431,
                "headers": [
                    (b"content-type", JSON_TYPE),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _forwarded_for(scope: Scope) -> str:
    """Every X-Forwarded-For header as one list (a header given twice is one list)."""
    return ",".join(v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for")


def _repeated_authorization(raw_headers: list[tuple[bytes, bytes]]) -> bool:
    return sum(1 for name, _ in raw_headers if name == b"authorization") > 1
