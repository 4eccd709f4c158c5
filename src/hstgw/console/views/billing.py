"""Billing: records with filters (time range, app, charge term), paging, totals and a
CSV download equal to the API's records; monthly summaries. Everything through
``gw.billing`` with the session's dev_id, under the API's range and paging rules."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from hstgw.billing.csvfile import records_csv
from hstgw.billing.models import SummaryQuery
from hstgw.billing.prices import CHARGE_TERMS
from hstgw.console.web import Reply
from hstgw.errors import ParameterInvalid
from hstgw.validation import parse_query

if TYPE_CHECKING:
    from hstgw.console.app import Console, Ctx

__all__ = ["register"]

_PAGE_SIZE = 50
_CSV_PAGE = 100  # the API's largest page
# A CSV's records at most (~100 MB of the process's memory while it is made); more
# through the API's pages (`hstgw records list --csv`).
_CSV_MOST = 100_000
_FIRST, _AFTER, _ONE_DAY = date(1970, 1, 2), date(2100, 1, 1), timedelta(days=1)


def _day(text: str, field: str, default: date) -> date:
    if not text:
        return default
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ParameterInvalid(field, "must be a date, YYYY-MM-DD") from None
    # the API's epoch-ms range (a day past 9999-12-30 was a 500: no day after it)
    if not _FIRST <= day < _AFTER:
        raise ParameterInvalid(field, f"must be a date from {_FIRST} to {_AFTER - _ONE_DAY}")
    return day


def _filters(ctx: Ctx) -> dict[str, Any]:
    """The page's filters, with the defaults (this month so far, every app and term)."""
    zone = ctx.gw.settings.zone
    today = datetime.fromtimestamp(ctx.gw.clock() / 1000, zone).date()
    start = _day(ctx.request.arg("start"), "start_time", today.replace(day=1))
    end = _day(ctx.request.arg("end"), "end_time", today)
    term_text = ctx.request.arg("charge_term")
    if term_text and not (term_text.isdigit() and len(term_text) < 6):
        raise ParameterInvalid("charge_term", "must be an integer")  # (the API's words)
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "app_id": ctx.request.arg("app_id"),
        "charge_term": term_text,
        # the API's epoch-ms range: from the first day's start to the last day's end
        "start_ms": int(datetime.combine(start, time(), zone).timestamp() * 1000),
        "end_ms": int(datetime.combine(end + timedelta(days=1), time(), zone).timestamp() * 1000)
        - 1,
    }


def _cell(value: Any) -> Any:
    if isinstance(value, orjson.Fragment):
        return orjson.dumps(value).decode()
    return value


def register(console: Console) -> None:
    @console.page("GET", "/billing")
    async def billing(ctx: Ctx) -> Reply:
        gw, dev_id = ctx.gw, ctx.dev_id
        f = _filters(ctx)
        app_id = f["app_id"] or None
        term = int(f["charge_term"]) if f["charge_term"] else None
        page = ctx.request.page()
        records = await gw.billing.records(
            dev_id, f["start_ms"], f["end_ms"], app_id, page, _PAGE_SIZE, term
        )
        amount = await gw.billing.records_amount(dev_id, f["start_ms"], f["end_ms"], app_id, term)
        _, apps = await gw.apps.list(dev_id, 1, 100)
        total = records["total"]
        return ctx.render(
            "billing.html",
            nav="billing",
            f=f,
            apps=apps,
            terms=CHARGE_TERMS,
            records=records["records"],
            total=total,
            amount=amount,
            page=page,
            pages=max(1, -(-total // _PAGE_SIZE)),
            filters={k: f[k] for k in ("start", "end", "app_id", "charge_term")},
        )

    @console.page("GET", "/billing.csv")
    async def billing_csv(ctx: Ctx) -> Reply:
        gw, dev_id = ctx.gw, ctx.dev_id
        f = _filters(ctx)
        app_id = f["app_id"] or None
        term = int(f["charge_term"]) if f["charge_term"] else None
        # a call per page of the API's, charged before they are read
        first = await gw.billing.records(dev_id, f["start_ms"], f["end_ms"], app_id, 1, 1, term)
        await ctx.charge((min(first["total"], _CSV_MOST) - 1) // _CSV_PAGE)  # (the 1st: paid)
        # every page's records, as `hstgw records list --csv` reads them, in one read
        records = await gw.billing.every_record(
            dev_id, f["start_ms"], f["end_ms"], app_id, term, _CSV_MOST
        )
        rows = [{k: _cell(v) for k, v in r.items()} for r in records]
        name = f"records-{f['start']}-{f['end']}.csv"
        return Reply(
            records_csv(rows).encode(),
            content_type="text/csv; charset=utf-8",
            headers=[("content-disposition", f'attachment; filename="{name}"')],
        )

    @console.page("GET", "/billing/summary")
    async def summary(ctx: Ctx) -> Reply:
        gw = ctx.gw
        today = datetime.fromtimestamp(gw.clock() / 1000, gw.settings.zone).date()
        month = ctx.request.arg("month") or today.strftime("%Y-%m")
        query = parse_query(SummaryQuery, {"month": month})  # the API's rule and message
        rows, (_, apps) = await asyncio.gather(
            gw.billing.month_by_app_term(ctx.dev_id, query.month), gw.apps.list(ctx.dev_id, 1, 100)
        )
        names = {a.app_id: a.app_name for a in apps}
        by_app: dict[str, dict[str, Any]] = {}
        for app_id, term, records, amount in rows:
            entry = by_app.setdefault(
                app_id,
                {"app_id": app_id, "app_name": names.get(app_id, app_id), "terms": [], "amount": 0},
            )
            entry["terms"].append({"charge_term": term, "records": records, "amount": amount})
            entry["amount"] += amount
        return ctx.render(
            "summary.html",
            nav="billing",
            month=query.month,
            apps=list(by_app.values()),
            total=sum(e["amount"] for e in by_app.values()),
        )
