"""The webhook routes: parse, call ``gw.webhooks`` with the caller, render."""

from __future__ import annotations

from typing import Any

from hstgw.api.http import Call, Route
from hstgw.gateway import Gateway
from hstgw.webhooks.models import (
    CreateWebhook,
    DeliveriesQuery,
    DeliveryPage,
    Redeliver,
    RedeliverOut,
    WebhookCreated,
    WebhookIdBody,
    WebhookIdQuery,
    WebhookListQuery,
    WebhookPage,
    delivery_to_wire,
    webhook_to_wire,
)

__all__ = ["build_webhook_routes"]


def build_webhook_routes(gw: Gateway) -> list[Route]:
    hooks = gw.webhooks
    text = hooks.time_text

    async def create(call: Call) -> dict[str, Any]:
        return webhook_to_wire(await hooks.create(call.dev_id, call.body), text, secret=True)

    async def list_hooks(call: Call) -> dict[str, Any]:
        q = call.query
        total, rows = await hooks.list(call.dev_id, q.page, q.page_size)
        return {
            "total": total,
            "page": q.page,
            "page_size": q.page_size,
            "webhooks": [webhook_to_wire(h, text) for h in rows],
        }

    async def delete(call: Call) -> None:
        await hooks.delete(call.dev_id, call.query.webhook_id)

    async def rotate(call: Call) -> dict[str, Any]:
        hook = await hooks.rotate_secret(call.dev_id, call.body.webhook_id)
        return webhook_to_wire(hook, text, secret=True)

    async def deliveries(call: Call) -> dict[str, Any]:
        q = call.query
        total, rows = await hooks.deliveries(
            call.dev_id, q.webhook_id, q.app_id, q.page, q.page_size
        )
        return {
            "total": total,
            "page": q.page,
            "page_size": q.page_size,
            "deliveries": [delivery_to_wire(d, text) for d in rows],
        }

    async def redeliver(call: Call) -> dict[str, Any]:
        return await hooks.redeliver(call.dev_id, call.body)

    tag = "webhooks"
    return [
        Route(
            "POST", "/v1/webhooks", create, "Register a webhook endpoint", tag,
            body=CreateWebhook, result=WebhookCreated,
            description="Its events are POSTed to `url`, signed with `secret` "
            "(header `Hst-Signature`; docs/webhooks.md). The URL must reach a public "
            "address unless the operator allows private ones.",
        ),
        Route(
            "GET", "/v1/webhooks", list_hooks, "List webhook endpoints", tag,
            query=WebhookListQuery, result=WebhookPage,
        ),
        Route(
            "DELETE", "/v1/webhooks", delete, "Delete a webhook endpoint", tag,
            query=WebhookIdQuery, description="Its cursors and delivery log go with it.",
        ),
        Route(
            "POST", "/v1/webhooks/secret", rotate, "Rotate a webhook's secret", tag,
            body=WebhookIdBody, result=WebhookCreated,
            description="The new secret signs from now on; the old one also signs (a second "
            "`v1`) for HSTGW_WEBHOOK_SECRET_GRACE seconds.",
        ),
        Route(
            "GET", "/v1/webhooks/deliveries", deliveries, "A webhook's delivery log", tag,
            query=DeliveriesQuery, result=DeliveryPage, description="Newest first.",
        ),
        Route(
            "POST", "/v1/webhooks/redeliver", redeliver, "Resume or redeliver", tag,
            body=Redeliver, result=RedeliverOut,
            description="Without `from_version`: a failing endpoint resumes where it "
            "stopped. With it: the app's events from that version on are delivered again.",
        ),
    ]  # fmt: skip
