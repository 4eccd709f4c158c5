"""Billing routes: usage from nodes (internal), records and summaries for developers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from hstgw.api.http import Call, Route
from hstgw.billing.models import (
    MAX_RANGE_DAYS,
    IngestOut,
    RecordPage,
    RecordsQuery,
    SummaryOut,
    SummaryQuery,
    UsageBatch,
)
from hstgw.gateway import Gateway
from hstgw.validation import QUERY_CONFIG, AppId

__all__ = ["build_billing_routes"]


class LimitsQuery(BaseModel):
    model_config = QUERY_CONFIG
    app_id: AppId


class LimitsOut(BaseModel):
    app_id: str
    refused_services: list[int]


def build_billing_routes(gw: Gateway) -> list[Route]:
    async def usage(call: Call) -> dict[str, Any]:
        batch: UsageBatch = call.body
        accepted, duplicates = await gw.billing.ingest(call.node_id, batch)
        gw.metrics.usage_events.labels("accepted").inc(accepted)
        gw.metrics.usage_events.labels("duplicate").inc(duplicates)
        return {"accepted": accepted, "duplicates": duplicates}

    async def limits(call: Call) -> dict[str, Any]:
        return await gw.billing.limits(call.node_id, call.query.app_id)

    async def records(call: Call) -> dict[str, Any]:
        q: RecordsQuery = call.query
        return await gw.billing.records(
            call.dev_id, q.start_time, q.end_time, q.app_id, q.page, q.page_size, q.charge_term
        )

    async def summary(call: Call) -> dict[str, Any]:
        q: SummaryQuery = call.query
        return await gw.billing.summary(call.dev_id, q.month, q.app_id)

    return [
        Route(
            "POST",
            "/internal/v1/usage",
            usage,
            "Report usage (media and recording nodes)",
            "billing",
            auth="node",
            body=UsageBatch,
            result=IngestOut,
            description="`Authorization: Bearer <node_key>`. 1 to 1000 events; a batch with "
            "an invalid event is refused whole. A re-sent event_id is a duplicate and changes "
            "nothing.",
        ),
        Route(
            "GET",
            "/internal/v1/limits",
            limits,
            "Services an app may not use now",
            "billing",
            auth="node",
            query=LimitsQuery,
            result=LimitsOut,
            description="`Authorization: Bearer <node_key>`. Past its consumption_limit an app "
            "may use no service; past a service's use_limit, not that one.",
        ),
        Route(
            "GET",
            "/v1/consuming/records",
            records,
            "Billing records",
            "billing",
            query=RecordsQuery,
            result=RecordPage,
            description="Records whose start_time lies in [start_time, end_time] (epoch ms, "
            f"at most {MAX_RANGE_DAYS} days), ordered by start_time then record_id; only "
            "`charge_term`'s when it is given.",
        ),
        Route(
            "GET",
            "/v1/consuming/summary",
            summary,
            "Monthly totals per app and term",
            "billing",
            query=SummaryQuery,
            result=SummaryOut,
        ),
    ]
