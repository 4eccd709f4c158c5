"""The ASGI application: routes, lifespan, and the documents made from the routes."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import orjson

from hstgw.api.http import Call, HttpApi, Receive, Response, Route, Scope, Send
from hstgw.api.openapi import docs_html, openapi
from hstgw.api.routes import build_routes
from hstgw.api.routes_billing import build_billing_routes
from hstgw.api.routes_events import build_event_routes
from hstgw.api.routes_meta import build_meta_routes, request_host
from hstgw.api.routes_online import build_online_routes
from hstgw.api.routes_webhooks import build_webhook_routes
from hstgw.connections import Connections
from hstgw.egw.listener import EventListener
from hstgw.egw.service import EventGatewayService
from hstgw.gateway import Gateway
from hstgw.ids import now_ms
from hstgw.log import AccessLog
from hstgw.metrics import CONTENT_TYPE as METRICS_TYPE
from hstgw.online.endpoint import TerminalListener
from hstgw.settings import Settings
from hstgw.store import Store, StoreError

__all__ = ["create_app"]

log = logging.getLogger("hstgw")


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    clock: Callable[[], int] = now_ms,
    ticks: Callable[[], float] = time.monotonic,
    connections: Connections | None = None,
) -> HttpApi:
    gw = Gateway(settings, store=store, clock=clock, ticks=ticks)
    connections = connections or Connections.from_settings(settings)
    gw.metrics.count_connections(
        {"rest": connections.http, "terminal": connections.terminals, "event": connections.events}
    )
    documents: dict[str, bytes] = {}

    async def metrics_text(call: Call) -> Response:
        return Response(gw.metrics.render(), content_type=METRICS_TYPE)

    async def openapi_json(call: Call) -> Response:
        return Response(documents["openapi"])

    async def docs(call: Call) -> Response:
        return Response(documents["docs"], content_type=b"text/html; charset=utf-8")

    listener = TerminalListener(
        gw.online,
        settings.terminal_host or settings.host,
        settings.terminal_port,
        connections.terminals,
        connections.proxies,
    )

    events = EventListener(
        EventGatewayService(
            gw.store,
            gw.access_tokens,
            gw.guard,
            gw.events,
            gw.snapshots,
            max_sessions=settings.event_max_sessions_per_developer,
        ),
        settings.event_host or settings.host,
        settings.event_port,
        connections.events,
        connections.proxies,
        queue=settings.event_queue,
        token_check=settings.event_token_check,
    )
    gw.metrics.count_subscribers(lambda: len(events.sessions))

    def event_url(host_header: str) -> str:
        if settings.event_public_url:
            return settings.event_public_url
        host = request_host(host_header)
        return f"ws://{host[0] if host is not None else settings.host}:{events.port}"

    def terminal_url(host_header: str) -> str:
        if settings.terminal_public_url:
            return settings.terminal_public_url
        # The Host header only where it is a well-formed host: it ends up in a URL
        # that terminals follow.
        host = request_host(host_header)
        return f"ws://{host[0] if host is not None else settings.host}:{listener.port}/"

    routes = [
        *build_routes(gw),
        *build_meta_routes(gw, settings.public_url, f"{settings.host}:{settings.port}", event_url),
        *build_online_routes(gw, terminal_url),
        *build_billing_routes(gw),
        *build_event_routes(gw),
        *build_webhook_routes(gw),
        Route("GET", "/openapi.json", openapi_json, "This document", "meta", auth=None, raw=True),
        Route(
            "GET",
            "/docs",
            docs,
            "API reference page",
            "meta",
            auth=None,
            raw=True,
            media_type="text/html",
        ),
        Route(
            "GET",
            "/metrics",
            metrics_text,
            "Prometheus metrics",
            "meta",
            auth=None,
            raw=True,
            media_type="text/plain",
            description="Prometheus text format; see docs/operations.md.",
        ),
    ]
    spec = openapi(routes)  # made once, from the finished route table
    documents["openapi"] = orjson.dumps(spec)
    documents["docs"] = docs_html(spec).encode()

    access_log = AccessLog() if settings.access_log else None

    async def lifespan(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            return  # terminals connect to the listener, not to the HTTP server
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await gw.start()
                    await listener.start()
                    await events.start()
                except (OSError, StoreError) as exc:
                    # a port taken, a directory not writable, a database that is not
                    # there: what the operator must fix, in one line (no trace)
                    log.error("start-up failed: %s", exc)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                log.info(
                    "gateway started",
                    extra={
                        "data_dir": str(settings.data_dir),
                        "terminal_port": listener.port,
                        "event_port": events.port,
                    },
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await events.stop()
                await listener.stop()
                await gw.stop()
                if access_log is not None:
                    access_log.flush()
                log.info("gateway stopped")
                await send({"type": "lifespan.shutdown.complete"})
                return

    mounts: dict[str, Callable[[Scope, Receive, Send], Awaitable[None]]] = {}
    if settings.console:
        from hstgw.console import PREFIX, Console  # (only where it is served)

        mounts[PREFIX] = Console(gw, connections.proxies, access_log)
    app = HttpApi(
        routes,
        {"access": gw.access_tokens.authenticate, "node": gw.billing.nodes.authenticate},
        max_body_bytes=settings.max_body_bytes,
        access_log=access_log,
        metrics=gw.metrics,
        idempotency=gw.idempotency,
        guard=gw.guard,
        proxies=connections.proxies,
        other=lifespan,
        mounts=mounts,
    )
    app.state["gateway"] = gw
    app.state["connections"] = connections
    app.state["events"] = events
    return app
