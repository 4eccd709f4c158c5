"""Apps: list, create, edit, delete (with a confirmation), and an app's page.

A form is turned into the API's request body and parsed by the API's own models, so a
wrong field gets the API's message, word for word; then ``gw.apps`` does the rest, with
the session's dev_id.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import orjson

from hstgw.apps import CreateApp, PatchApp
from hstgw.console.web import Reply
from hstgw.errors import GatewayError
from hstgw.services import SERVICES
from hstgw.store import App
from hstgw.validation import parse_body

if TYPE_CHECKING:
    from hstgw.console.app import Console, Ctx

__all__ = ["register"]

_PAGE_SIZE = 20
_INTEGER = re.compile(r"-?[0-9]{1,30}")


def _number(text: str) -> Any:
    """A form's integer as a JSON integer; anything else as the text, which the API's
    model then refuses with its own message."""
    text = text.strip()
    if not text:
        return None
    return int(text) if _INTEGER.fullmatch(text) else text


def _body(form: dict[str, str], app_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {} if app_id is None else {"app_id": app_id}
    body["app_name"] = form.get("app_name", "")
    body["status"] = form.get("status", "offline")
    body["consumption_limit"] = _number(form.get("consumption_limit", ""))
    body["service"] = [
        {"service_id": sid, "use_limit": _number(form.get(f"use_limit_{sid}", ""))}
        for sid in SERVICES
        if form.get(f"service_{sid}")
    ]
    return body


def _values(app: App | None, form: dict[str, str] | None = None) -> dict[str, Any]:
    """What the form shows: the app's values, or what was entered."""
    if form is not None:
        return {
            "app_name": form.get("app_name", ""),
            "status": form.get("status", "offline"),
            "consumption_limit": form.get("consumption_limit", ""),
            "services": {
                sid: form.get(f"use_limit_{sid}", "")
                for sid in SERVICES
                if form.get(f"service_{sid}")
            },
        }
    if app is None:
        return {"app_name": "", "status": "online", "consumption_limit": "", "services": {7: ""}}
    return {
        "app_name": app.app_name,
        "status": app.status,
        "consumption_limit": "" if app.consumption_limit is None else app.consumption_limit,
        "services": {
            s.service_id: "" if s.use_limit is None else s.use_limit for s in app.services
        },
    }


def register(console: Console) -> None:
    def form_page(ctx: Ctx, app: App | None, values: dict[str, Any], error: str = "") -> Reply:
        return ctx.render(
            "app_form.html",
            400 if error else 200,
            nav="apps",
            app=app,
            values=values,
            services=SERVICES,
            error=error,
        )

    @console.page("GET", "/apps")
    async def list_apps(ctx: Ctx) -> Reply:
        page = ctx.request.page()
        total, apps = await ctx.gw.apps.list(ctx.dev_id, page, _PAGE_SIZE)
        pages = max(1, -(-total // _PAGE_SIZE))
        return ctx.render(
            "apps.html", nav="apps", apps=apps, total=total, page=page, pages=pages,
            services=SERVICES,
        )  # fmt: skip

    @console.page("GET", "/apps/new")
    async def new_app(ctx: Ctx) -> Reply:
        return form_page(ctx, None, _values(None))

    @console.page("POST", "/apps/new")
    async def create_app(ctx: Ctx) -> Reply:
        form = ctx.request.form
        try:
            req = parse_body(CreateApp, orjson.dumps(_body(form)))
            app = await ctx.gw.apps.create(ctx.dev_id, req)
        except GatewayError as exc:
            return form_page(ctx, None, _values(None, form), exc.msg)
        return Reply.redirect("/console/app", app_id=app.app_id, msg="created")

    @console.page("GET", "/app")
    async def show_app(ctx: Ctx) -> Reply:
        app = await ctx.gw.apps.get(ctx.dev_id, ctx.request.arg("app_id"))
        return ctx.render("app.html", nav="apps", app=app, services=SERVICES)

    @console.page("GET", "/app/edit")
    async def edit_app(ctx: Ctx) -> Reply:
        app = await ctx.gw.apps.get(ctx.dev_id, ctx.request.arg("app_id"))
        return form_page(ctx, app, _values(app))

    @console.page("POST", "/app/edit")
    async def save_app(ctx: Ctx) -> Reply:
        form = ctx.request.form
        app = await ctx.gw.apps.get(ctx.dev_id, form.get("app_id", ""))
        try:
            req = parse_body(PatchApp, orjson.dumps(_body(form, app.app_id)))
            await ctx.gw.apps.update(ctx.dev_id, req)
        except GatewayError as exc:
            return form_page(ctx, app, _values(app, form), exc.msg)
        return Reply.redirect("/console/app", app_id=app.app_id, msg="saved")

    @console.page("GET", "/app/delete")
    async def confirm_delete(ctx: Ctx) -> Reply:
        app = await ctx.gw.apps.get(ctx.dev_id, ctx.request.arg("app_id"))
        return ctx.render("app_delete.html", nav="apps", app=app)

    @console.page("POST", "/app/delete")
    async def delete_app(ctx: Ctx) -> Reply:
        await ctx.gw.apps.delete(ctx.dev_id, ctx.request.form.get("app_id", ""))
        return Reply.redirect("/console/apps", msg="deleted")
