"""Groups and events: an app's groups with their users and media, and its event log
with versions, live (htmx polls them); webhook endpoints with their deliveries,
failures and a redeliver button. The event log is read after ``gw.apps.get`` has
checked the app is the session's developer's; webhooks through ``gw.webhooks``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from hstgw.console.web import Reply
from hstgw.store import DeliveryRow
from hstgw.validation import parse_body
from hstgw.webhooks.models import Redeliver

if TYPE_CHECKING:
    from hstgw.console.app import Console, Ctx

__all__ = ["register"]

_EVENTS = 50  # the latest events shown
_PAGE_SIZE = 50


async def _live(ctx: Ctx, app_id: str) -> dict[str, Any]:
    app = await ctx.gw.apps.get(ctx.dev_id, app_id)  # ownership, before any read
    events = ctx.gw.events
    snapshot = await ctx.gw.snapshots.read(ctx.dev_id, app.app_id, None)
    version = await events.version(app.app_id)
    log = await events.after(app.app_id, max(0, version - _EVENTS), _EVENTS) or []
    return {
        "app": app,
        "version": version,
        "groups": snapshot.group_list,
        "log": [
            {
                "version": e.version,
                "id": int(e.id),
                "at_ms": e.at_ms,
                "body": orjson.dumps(dict(e.body)).decode(),
            }
            for e in reversed(log)
        ],
    }


def _failing(d: DeliveryRow) -> bool:
    """Given up on, or not delivered yet with its last attempt failed."""
    return d.status == "failed" or (d.status != "delivered" and bool(d.last_error))


def register(console: Console) -> None:
    @console.page("GET", "/events")
    async def groups_and_events(ctx: Ctx) -> Reply:
        _, apps = await ctx.gw.apps.list(ctx.dev_id, 1, 100)
        app_id = ctx.request.arg("app_id") or (apps[0].app_id if apps else "")
        if not app_id:
            return ctx.render("events.html", nav="events", apps=apps, app=None)
        return ctx.render("events.html", nav="events", apps=apps, **await _live(ctx, app_id))

    @console.page("GET", "/events/live")
    async def live(ctx: Ctx) -> Reply:
        return ctx.render("events_live.html", **await _live(ctx, ctx.request.arg("app_id")))

    @console.page("GET", "/webhooks")
    async def webhooks(ctx: Ctx) -> Reply:
        hooks = ctx.gw.webhooks
        _, rows = await hooks.list(ctx.dev_id, 1, 100)
        chosen = ctx.request.arg("webhook_id") or (rows[0].webhook_id if rows else "")
        page = ctx.request.page()
        deliveries: list[DeliveryRow] = []
        total = 0
        if chosen:
            total, deliveries = await hooks.deliveries(ctx.dev_id, chosen, None, page, _PAGE_SIZE)
        return ctx.render(
            "webhooks.html",
            nav="webhooks",
            hooks=rows,
            chosen=chosen,
            deliveries=[(d, _failing(d)) for d in deliveries],
            failures=sum(1 for d in deliveries if _failing(d)),
            total=total,
            page=page,
            pages=max(1, -(-total // _PAGE_SIZE)),
        )

    @console.page("POST", "/webhooks/redeliver")
    async def redeliver(ctx: Ctx) -> Reply:
        form = ctx.request.form
        body: dict[str, Any] = {"webhook_id": form.get("webhook_id", "")}
        if form.get("app_id"):
            body["app_id"] = form["app_id"]
        if form.get("from_version", "").strip():
            text = form["from_version"].strip()
            body["from_version"] = int(text) if text.isdigit() and len(text) < 19 else text
        req = parse_body(Redeliver, orjson.dumps(body))
        await ctx.gw.webhooks.redeliver(ctx.dev_id, req)
        return Reply.redirect("/console/webhooks", webhook_id=req.webhook_id, msg="redelivered")
