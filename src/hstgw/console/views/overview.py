"""Overview: the month's spend by charge term and by app, the last 30 days' spend,
terminals online now and the month's peak, and each app against its limit."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from hstgw.console.web import Reply
from hstgw.store import App

if TYPE_CHECKING:
    from hstgw.console.app import Console, Ctx

__all__ = ["register"]

_DAYS = 30
_MAX_APPS = 100  # the overview's apps: one page of the API's list


def register(console: Console) -> None:
    @console.page("GET", "/overview")
    async def overview(ctx: Ctx) -> Reply:
        gw, dev_id = ctx.gw, ctx.dev_id
        today = datetime.fromtimestamp(gw.clock() / 1000, gw.settings.zone).date()
        month = today.strftime("%Y-%m")
        total_apps, apps = await gw.apps.list(dev_id, 1, _MAX_APPS)
        await ctx.charge(len(apps))  # an app's figures: a call's work, as the API's would be
        # The month by term, the days, and each app's month (as its consumption_limit is
        # checked): three reads that sum amounts, none that lists records.
        by_term, daily, standings = await asyncio.gather(
            gw.billing.month_by_term(dev_id, month),
            gw.billing.daily(dev_id, today - timedelta(days=_DAYS - 1), _DAYS),
            asyncio.gather(*(_standing(ctx, app, month) for app in apps)),
        )
        chart = {
            "days": [day for day, _ in daily],
            "amounts": [amount / 1_000_000 for _, amount in daily],
        }
        return ctx.render(
            "overview.html",
            nav="overview",
            month=month,
            total=sum(amount for _, amount in by_term),
            by_term=by_term,
            by_app=[s for s in standings if s["spent"]],
            daily=daily,
            chart=orjson.dumps(chart).decode(),
            standings=standings,
            total_apps=total_apps,
            online_now=sum(s["online"] for s in standings),
        )


async def _standing(ctx: Ctx, app: App, month: str) -> dict[str, Any]:
    gw, dev_id = ctx.gw, ctx.dev_id
    online, peak, spent = await asyncio.gather(
        gw.online.online_count(dev_id, app.app_id),
        gw.billing.month_peak(dev_id, app.app_id, month),
        gw.billing.month_spent(dev_id, app.app_id),
    )
    limit = app.consumption_limit
    share = None if not limit else min(100.0, spent / (limit * 10_000))
    return {
        "app": app,
        "online": online,
        "peak": max(peak, online),
        "spent": spent,
        "limit": limit,
        "share": share,
    }
