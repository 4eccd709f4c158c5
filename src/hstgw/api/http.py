"""A thin ASGI layer for the REST API: static routes, the envelope, the access log.

Why not a framework's router: every path of the API is static, so one dict
lookup routes a request; and each layer a framework adds per request (request
object, middleware stack, dependency resolution) costs throughput that this
gateway is measured on (docs/performance.md). What frameworks do well and this
layer needs, it takes from libraries: pydantic parses, orjson serializes,
uvicorn speaks HTTP.
"""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson
from pydantic import BaseModel

from hstgw.abuse import Guard
from hstgw.connections import TrustedProxies
from hstgw.errors import AuthenticationFailed, Code, GatewayError, ParameterInvalid, SystemBusy
from hstgw.idempotency import Idempotency, fingerprint
from hstgw.ids import request_ids
from hstgw.log import AccessLog
from hstgw.metrics import Metrics
from hstgw.store import Unavailable
from hstgw.validation import parse_body, parse_query

__all__ = ["Call", "HttpApi", "Response", "Route"]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

error_log = logging.getLogger("hstgw.error")

JSON_TYPE = b"application/json;charset=UTF-8"
_MAX_REQUEST_ID = 128


@dataclass(slots=True)
class Response:
    """A response sent as it is (documents, health), outside the envelope."""

    body: bytes
    content_type: bytes = JSON_TYPE
    status: int = 200
    code: int = 0  # the envelope's code, when the body is one (for logs and metrics)


@dataclass(slots=True)
class Call:
    """What an endpoint gets: the parsed request, and who is calling."""

    headers: Mapping[str, str]
    query: Any = None
    body: Any = None
    dev_id: str = ""  # with auth "access"
    node_id: str = ""  # with auth "node"
    address: str = ""  # the client's address (the proxy's forwarded one, if trusted)


Endpoint = Callable[[Call], Awaitable[Any]]
# The Authorization header -> who is calling (dev_id, node_id); raises if nobody.
Authenticator = Callable[[str | None], Awaitable[str]]


@dataclass(slots=True)
class Route:
    method: str
    path: str
    endpoint: Endpoint
    summary: str
    tag: str
    # Who may call: "access" (a developer's access_token), "node" (a node key), None (anyone).
    auth: str | None = "access"
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    # The model of ``result``; None: the envelope carries no result.
    result: type[BaseModel] | None = None
    # The endpoint returns a ``Response``, not a result for the envelope ...
    raw: bool = False
    # ... of this media type (for the OpenAPI document).
    media_type: str = "application/json"
    description: str = ""


_WRITES = frozenset({"POST", "PATCH", "DELETE"})
# Request headers, names and values, in all (docs/security.md).
MAX_HEADER_BYTES = 16 * 1024


def _params(scope: Scope) -> dict[str, str]:
    return dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))


class ClientGone(Exception):
    """The client closed before its request was whole: nothing of it is executed."""


def envelope(code: int, msg: str, result: Any = None, with_result: bool = False) -> bytes:
    body: dict[str, Any] = {"code": code, "msg": msg}
    if with_result:
        body["result"] = result
    return orjson.dumps(body)


class HttpApi:
    """The ASGI application for HTTP; ``lifespan`` and WebSockets go to ``other``."""

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
    ) -> None:
        self.routes = routes
        self._table: dict[str, dict[str, Route]] = {}
        for route in routes:
            self._table.setdefault(route.path, {})[route.method] = route
        self._authenticators = authenticators
        self._max_body = max_body_bytes
        self._request_ids = request_ids()
        self._access_log = access_log
        self._metrics = metrics
        self._idempotency = idempotency
        self._guard = guard
        self._proxies = proxies or TrustedProxies()
        self._other = other
        # Application-wide objects (the gateway), for tests and embedding.
        self.state: dict[str, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if self._other is None:
                return
            await self._other(scope, receive, send)
            return
        started = time.perf_counter()
        raw_headers = scope["headers"]
        if sum(len(k) + len(v) for k, v in raw_headers) > MAX_HEADER_BYTES:
            await self._refuse_headers(send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw_headers}
        # (uvicorn gives names in lower case; fewer names than headers: one came twice)
        twice = len(headers) < len(raw_headers) and _repeated_authorization(raw_headers)
        request_id = headers.get("x-request-id", "")
        if not (0 < len(request_id) <= _MAX_REQUEST_ID and request_id.isprintable()):
            request_id = next(self._request_ids)
        code = Code.OK.value
        status = 200
        route_name = "unmatched"
        extra: list[tuple[bytes, bytes]] = []  # headers of the reply beyond the usual
        method = scope["method"]
        try:
            methods = self._table.get(scope["path"])
            route = methods.get(method) if methods else None
            if route is None and method == "HEAD" and methods is not None:
                route = methods.get("GET")  # HEAD: the GET's reply without its body
            if twice:
                raise ParameterInvalid("authorization", "must be given once")
            if route is None:
                status = 404 if methods is None else 405
                code = Code.PARAMETER_INVALID.value
                what = "path" if methods is None else "method"
                body = envelope(code, f"{what}: no such {what} for {scope['path']}")
                content_type = JSON_TYPE
            else:
                route_name = route.path
                try:
                    out = await self._handle(route, scope, receive, headers, extra)
                except ClientGone:
                    self._log(scope, 499, code, route_name, request_id, started)
                    return
                if isinstance(out, Response):
                    body, content_type, status = out.body, out.content_type, out.status
                    code = out.code
                else:
                    body = envelope(code, "OK", out, route.result is not None)
                    content_type = JSON_TYPE
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

    def _log(
        self, scope: Scope, status: int, code: int, route: str, request_id: str, started: float
    ) -> None:
        elapsed = time.perf_counter() - started
        if self._metrics is not None:
            self._metrics.observe(route, scope["method"], code, elapsed)
        if self._access_log is not None:
            self._access_log.write(
                {
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "code": code,
                    "latency_ms": round(elapsed * 1000, 3),
                    "request_id": request_id,
                }
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

    async def _authenticate(self, auth: str, call: Call, extra: list[tuple[bytes, bytes]]) -> None:
        """Who is calling, within the abuse limits (``extra``: the reply's headers)."""
        guard = self._guard
        if guard is not None:
            await guard.check_address(call.address)
        try:
            who = await self._authenticators[auth](call.headers.get("authorization"))
        except AuthenticationFailed:
            if guard is not None:
                await guard.failed(call.address)
            raise
        if auth == "node":
            call.node_id = who
            return
        call.dev_id = who
        if guard is not None:
            decision = await guard.call(who)
            if decision is not None:
                extra.extend(decision.headers())
                if not decision.allowed:
                    raise SystemBusy(
                        "too many calls for this developer; retry after X-RateLimit-Reset"
                    )

    async def _handle(
        self,
        route: Route,
        scope: Scope,
        receive: Receive,
        headers: dict[str, str],
        extra: list[tuple[bytes, bytes]],
    ) -> Any:
        client = scope.get("client")
        peer = client[0] if client else ""
        call = Call(
            headers,
            address=self._proxies.client_address(peer, _forwarded_for(scope["headers"]))
            if self._proxies
            else peer,
        )
        # Authentication comes before any parsing: a stranger learns nothing of the schema.
        if route.auth is not None:
            await self._authenticate(route.auth, call, extra)
        key = headers.get("idempotency-key")
        if (
            key is not None
            and self._idempotency is not None
            and scope["method"] in _WRITES
            and route.auth is not None
        ):
            return await self._idempotent(route, call, scope, receive, headers, key)
        raw = await self._read_body(receive, headers) if route.body is not None else b""
        return await self._serve(route, call, scope, raw)

    @staticmethod
    async def _serve(route: Route, call: Call, scope: Scope, raw: bytes) -> Any:
        """Parse the query and body into ``call`` and run the endpoint."""
        if route.query is not None:
            call.query = parse_query(route.query, _params(scope))
        if route.body is not None:
            call.body = parse_body(route.body, raw)
        return await route.endpoint(call)

    async def _idempotent(
        self,
        route: Route,
        call: Call,
        scope: Scope,
        receive: Receive,
        headers: dict[str, str],
        key: str,
    ) -> Response:
        """Serve a write with an Idempotency-Key: its first response, made once."""
        assert self._idempotency is not None
        idem = self._idempotency
        raw = await self._read_body(receive, headers)
        owner = call.dev_id or f"node:{call.node_id}"
        first = await idem.begin(
            owner, key, fingerprint(scope["method"], scope["path"], scope["query_string"], raw)
        )
        if first is not None:
            return Response(first.encode(), code=orjson.loads(first)["code"])
        try:
            out = await self._serve(route, call, scope, raw)
            body, code = envelope(0, "OK", out, route.result is not None), 0
        except GatewayError as exc:
            if exc.code is Code.SYSTEM_BUSY:
                await idem.release(owner, key)
                raise
            body, code = envelope(exc.code.value, exc.msg), exc.code.value
        except BaseException:
            # Not served: the key goes back, so that a retry does the work.
            with contextlib.suppress(Exception):
                await idem.release(owner, key)
            raise
        await idem.finish(owner, key, body.decode())
        return Response(body, code=code)

    async def _read_body(self, receive: Receive, headers: dict[str, str]) -> bytes:
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_body:
            raise ParameterInvalid("body", f"larger than {self._max_body} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                # Shorter than declared, or cut off mid-body: never executed.
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                raise ParameterInvalid("body", f"larger than {self._max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _forwarded_for(raw_headers: list[tuple[bytes, bytes]]) -> str:
    """Every X-Forwarded-For header as one list (a header given twice is one list)."""
    return ",".join(v.decode("latin-1") for k, v in raw_headers if k == b"x-forwarded-for")


def _repeated_authorization(raw_headers: list[tuple[bytes, bytes]]) -> bool:
    return sum(1 for name, _ in raw_headers if name == b"authorization") > 1
