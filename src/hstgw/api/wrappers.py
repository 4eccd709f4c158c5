"""Behaviour around an endpoint: authentication, the calls' rate limit, Idempotency-Key.

Each wrapper takes a handler and gives one back (starlette's middleware, but per
endpoint). ``compose`` wraps a route's endpoint once, when the ``HttpApi`` is built,
with only what that route needs: an unauthenticated route pays for nothing, and the
dispatcher does not grow with each behaviour.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson

from hstgw.abuse import Guard
from hstgw.api.route import Authenticator, Call, Receive, Response, Route, Scope
from hstgw.errors import AuthenticationFailed, Code, GatewayError, ParameterInvalid, SystemBusy
from hstgw.idempotency import Idempotency, fingerprint
from hstgw.validation import parse_body, parse_query

__all__ = [
    "ClientGone",
    "Exchange",
    "Handler",
    "any_origin",
    "authenticated",
    "compose",
    "envelope",
    "idempotent",
    "query_params",
    "rate_limited",
    "read_body",
    "serve",
]

_WRITES = frozenset({"POST", "PATCH", "DELETE"})
# Parsed query strings kept per route (``serve``): how many, and up to what length.
_KEPT_QUERIES = 1024
_KEPT_QUERY_BYTES = 256


class ClientGone(Exception):
    """The client closed before its request was whole: nothing of it is executed."""


@dataclass(slots=True)
class Exchange:
    """One request on its way through a route's wrappers."""

    scope: Scope
    receive: Receive
    call: Call
    reply_headers: list[tuple[bytes, bytes]]  # headers of the reply beyond the usual
    raw: bytes | None = None  # the body, once a wrapper has read it


Handler = Callable[[Exchange], Awaitable[Response]]


def envelope(code: int, msg: str, result: Any = None, with_result: bool = False) -> bytes:
    body: dict[str, Any] = {"code": code, "msg": msg}
    if with_result:
        body["result"] = result
    return orjson.dumps(body)


async def read_body(receive: Receive, headers: Mapping[str, str], max_body: int) -> bytes:
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_body:
        raise ParameterInvalid("body", f"larger than {max_body} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            # Shorter than declared, or cut off mid-body: never executed.
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_body:
            raise ParameterInvalid("body", f"larger than {max_body} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def query_params(query_string: bytes) -> dict[str, str]:
    """A query string's parameters (the last of a name given twice), blank ones kept:
    ``parse_qsl``'s answer. A query without escapes (``%``, ``+``), as SDKs send it, is
    split here: parse_qsl spent a fifth of a ``GET /v1/app``'s time in process."""
    text = query_string.decode("latin-1")
    if "%" in text or "+" in text:
        return dict(parse_qsl(text, keep_blank_values=True))
    params: dict[str, str] = {}
    for piece in text.split("&"):
        if piece:
            name, _, value = piece.partition("=")
            params[name] = value
    return params


def serve(route: Route, max_body: int) -> Handler:
    """The innermost handler: parse the query and body into the call, run the endpoint,
    and put its result in the envelope (a ``Response`` goes out as it is)."""
    endpoint, query, body = route.endpoint, route.query, route.body
    with_result = route.result is not None
    # Query string -> its parse, for a frozen model (validation.QUERY_CONFIG): an SDK
    # asks the same few queries again and again, and a parse was a tenth of a
    # ``GET /v1/app``. Only parses that passed are kept, at most _KEPT_QUERIES of them.
    kept: dict[bytes, Any] | None = (
        {} if query is not None and query.model_config.get("frozen") else None
    )

    async def handle(ex: Exchange) -> Response:
        call = ex.call
        raw = ex.raw
        if body is not None and raw is None:
            raw = await read_body(ex.receive, call.headers, max_body)
        if query is not None:
            text: bytes = ex.scope["query_string"]
            parsed = kept.get(text) if kept is not None else None
            if parsed is None:
                parsed = parse_query(query, query_params(text))
                if kept is not None and len(text) <= _KEPT_QUERY_BYTES:
                    if len(kept) >= _KEPT_QUERIES:
                        kept.clear()  # (many different queries: start again)
                    kept[text] = parsed
            call.query = parsed
        if body is not None:
            call.body = parse_body(body, raw or b"")
        out = await endpoint(call)
        if isinstance(out, Response):
            return out
        return Response(envelope(0, "OK", out, with_result))

    return handle


def idempotent(inner: Handler, idempotency: Idempotency, max_body: int) -> Handler:
    """A write with an Idempotency-Key: its first response, made once."""

    async def handle(ex: Exchange) -> Response:
        call = ex.call
        key = call.headers.get("idempotency-key")
        if key is None:
            return await inner(ex)
        scope = ex.scope
        raw = ex.raw = await read_body(ex.receive, call.headers, max_body)
        owner = call.dev_id or f"node:{call.node_id}"
        first = await idempotency.begin(
            owner, key, fingerprint(scope["method"], scope["path"], scope["query_string"], raw)
        )
        if first is not None:
            return Response(first.encode(), code=orjson.loads(first)["code"])
        try:
            reply = await inner(ex)
        except GatewayError as exc:
            if exc.code is Code.SYSTEM_BUSY:
                await idempotency.release(owner, key)
                raise
            reply = Response(envelope(exc.code.value, exc.msg), code=exc.code.value)
        except BaseException:
            # Not served: the key goes back, so that a retry does the work.
            with contextlib.suppress(Exception):
                await idempotency.release(owner, key)
            raise
        await idempotency.finish(owner, key, reply.body.decode())
        return reply

    return handle


def rate_limited(inner: Handler, guard: Guard) -> Handler:
    """A developer's business call, within its rate (the reply says how it stands)."""

    async def handle(ex: Exchange) -> Response:
        decision = await guard.call(ex.call.dev_id)
        if decision is not None:
            ex.reply_headers.extend(decision.headers())
            if not decision.allowed:
                raise SystemBusy("too many calls for this developer; retry after X-RateLimit-Reset")
        return await inner(ex)

    return handle


def authenticated(
    inner: Handler, authenticate: Authenticator, guard: Guard | None, auth: str
) -> Handler:
    """The caller named (``call.dev_id``, or ``call.node_id`` for a node) before
    anything is parsed: a stranger learns nothing of the schema. With a guard, an
    address past its failed authentications is refused before verifying anything."""
    as_node = auth == "node"

    async def handle(ex: Exchange) -> Response:
        call = ex.call
        if guard is not None:
            await guard.check_address(call.address)
        try:
            caller = await authenticate(call.headers.get("authorization"))
        except AuthenticationFailed:
            if guard is not None:
                await guard.failed(call.address)
            raise
        if as_node:
            call.node_id = caller
        else:
            call.dev_id = caller
        return await inner(ex)

    return handle


def any_origin(handler: Handler) -> Handler:
    """Let a page of any origin read the reply: only for calls without credentials
    (a GET is a "simple" request, so no preflight ever reaches the gateway)."""

    async def wrapped(exchange: Exchange) -> Response:
        exchange.reply_headers.append((b"access-control-allow-origin", b"*"))
        return await handler(exchange)

    return wrapped


def compose(
    route: Route,
    authenticators: Mapping[str, Authenticator],
    *,
    max_body: int,
    idempotency: Idempotency | None,
    guard: Guard | None,
) -> Handler:
    """The route's endpoint inside the wrappers it needs, outermost first:
    authentication, the developer's rate, Idempotency-Key."""
    handler = serve(route, max_body)
    if route.cors:
        handler = any_origin(handler)
    if route.auth is None:
        return handler
    if idempotency is not None and route.method in _WRITES:
        handler = idempotent(handler, idempotency, max_body)
    if guard is not None and route.auth != "node":
        handler = rate_limited(handler, guard)
    return authenticated(handler, authenticators[route.auth], guard, route.auth)
