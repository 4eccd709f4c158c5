"""Online: an app's terminals, live (htmx polls the rows), search by user, kick, and
a trans-cmd to a user. The kick and the command are the API's requests, parsed by the
API's models and done by ``gw.online`` with the session's dev_id."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import orjson

from hstgw.console.web import Reply
from hstgw.errors import ParameterInvalid
from hstgw.online.models import KickoutIn, TransCmdIn
from hstgw.validation import parse_body

if TYPE_CHECKING:
    from hstgw.console.app import Console, Ctx

__all__ = ["register"]

_PAGE_SIZE = 50
_MSG_IDS = itertools.count(1)


async def _rows(ctx: Ctx, app_id: str) -> dict[str, Any]:
    user = ctx.request.arg("user").strip()
    page = ctx.request.page()
    total, rows = await ctx.gw.online.terminals(ctx.dev_id, app_id, user, page, _PAGE_SIZE)
    return {
        "app_id": app_id,
        "user": user,
        "rows": rows,
        "total": total,
        "page": page,
        "pages": max(1, -(-total // _PAGE_SIZE)),
    }


def register(console: Console) -> None:
    @console.page("GET", "/online")
    async def online(ctx: Ctx) -> Reply:
        _, apps = await ctx.gw.apps.list(ctx.dev_id, 1, 100)
        app_id = ctx.request.arg("app_id") or (apps[0].app_id if apps else "")
        if not app_id:
            return ctx.render("online.html", nav="online", apps=apps, app=None)
        app = await ctx.gw.apps.get(ctx.dev_id, app_id)
        return ctx.render(
            "online.html", nav="online", apps=apps, app=app, result=ctx.request.arg("result"),
            **await _rows(ctx, app.app_id),
        )  # fmt: skip

    @console.page("GET", "/online/rows")
    async def rows(ctx: Ctx) -> Reply:
        return ctx.render("online_rows.html", **await _rows(ctx, ctx.request.arg("app_id")))

    @console.page("POST", "/online/kick")
    async def kick(ctx: Ctx) -> Reply:
        form = ctx.request.form
        body = {"app_id": form.get("app_id", ""), "user_id": form.get("user_id", "")}
        if form.get("mutex_type"):
            body["mutex_type"] = form["mutex_type"]
        req = parse_body(KickoutIn, orjson.dumps(body))
        kicked = await ctx.gw.online.kickout(ctx.dev_id, req.app_id, req.user_id, req.mutex_type)
        return ctx.redirect(
            "/console/online", "kicked", str(kicked), app_id=req.app_id, user=form.get("user", "")
        )

    @console.page("POST", "/online/trans-cmd")
    async def trans_cmd(ctx: Ctx) -> Reply:
        form = ctx.request.form
        try:
            message = orjson.loads(form.get("trans_mess", "") or b"null")
        except orjson.JSONDecodeError:
            raise ParameterInvalid("trans_mess", "must be a JSON object") from None
        body = {
            "app_id": form.get("app_id", ""),
            "msg_id": next(_MSG_IDS),
            "trans_mess": message,
            "user_list": [
                {
                    "user_id": form.get("user_id", ""),
                    "mutex_type": form.get("mutex_type", ""),
                    "client_guid": form.get("client_guid", ""),
                }
            ],
        }
        req = parse_body(TransCmdIn, orjson.dumps(body))
        targets = ((t.user_id, t.mutex_type, t.client_guid) for t in req.user_list)
        results = await ctx.gw.online.trans_cmd(
            ctx.dev_id, req.app_id, req.msg_id, req.trans_mess, targets
        )
        summary = ", ".join(
            f"{r['user_id']}/{r['terminal_seq_num']}: {r['result']}" for r in results
        )
        return ctx.redirect("/console/online", "sent", summary or "-", app_id=req.app_id)
