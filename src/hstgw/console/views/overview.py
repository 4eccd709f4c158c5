"""Overview: the month's spend by charge term and by app, the last 30 days' spend,
terminals online now and the month's peak, and each app against its limit."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson

from hstgw.billing.prices import CHARGE_TERMS
from hstgw.console.web import Reply
from hstgw.store import App

if TYPE_CHECKING:
    from hstgw.console.app import Console, Ctx

__all__ = ["decimal_of", "register"]

_DAYS = 30
_MAX_APPS = 100  # the overview's apps: one page of the API's list


def decimal_of(amount: Any) -> Decimal:
    """The API's money (a JSON fragment of 6 decimal places) as a Decimal."""
    if isinstance(amount, orjson.Fragment):
        return Decimal(orjson.dumps(amount).decode())
    return Decimal(str(amount))


def register(console: Console) -> None:
    @console.page("GET", "/overview")
    async def overview(ctx: Ctx) -> Reply:
        gw, dev_id = ctx.gw, ctx.dev_id
        today = datetime.fromtimestamp(gw.clock() / 1000, gw.settings.zone).date()
        month = today.strftime("%Y-%m")
        total_apps, apps = await gw.apps.list(dev_id, 1, _MAX_APPS)
        summary, daily, standings = await asyncio.gather(
            gw.billing.summary(dev_id, month, None),
            gw.billing.daily(dev_id, today - timedelta(days=_DAYS - 1), _DAYS),
            asyncio.gather(*(_standing(ctx, app, month) for app in apps)),
        )
        by_term: dict[int, Decimal] = {}
        for entry in summary["apps"]:
            for term in entry["terms"]:
                by_term[term["charge_term"]] = by_term.get(term["charge_term"], Decimal(0)) + (
                    decimal_of(term["amount"])
                )
        chart = {
            "days": [day for day, _ in daily],
            "amounts": [float(Decimal(amount) / 1_000_000) for _, amount in daily],
        }
        return ctx.render(
            "overview.html",
            nav="overview",
            month=month,
            total=decimal_of(summary["amount"]),
            by_term=sorted(by_term.items()),
            term_names=CHARGE_TERMS,
            by_app=summary["apps"],
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
