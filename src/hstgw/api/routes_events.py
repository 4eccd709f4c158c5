"""Event routes: media nodes' reports of group facts and recording states (internal)."""

from __future__ import annotations

from typing import Any

from hstgw.api.http import Call, Route
from hstgw.events.reports import ReportBatch, ReportOut
from hstgw.gateway import Gateway

__all__ = ["build_event_routes"]


def build_event_routes(gw: Gateway) -> list[Route]:
    async def report(call: Call) -> dict[str, Any]:
        batch: ReportBatch = call.body
        return await gw.reports.report(call.node_id, batch)

    return [
        Route(
            "POST",
            "/internal/v1/events",
            report,
            "Report group facts and recording states (media nodes)",
            "events",
            auth="node",
            body=ReportBatch,
            result=ReportOut,
            description="`Authorization: Bearer <node_key>`. 1 to 1000 events (ids 20100-20104, "
            "docs/events.md); a batch with an invalid event or an unknown app is refused whole. "
            "A re-sent event_id of the same node is a duplicate and changes nothing; an event "
            "the groups contradict is not appended and is listed in `ignored`.",
        ),
    ]
