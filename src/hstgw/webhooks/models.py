"""Webhook requests and results: the contract (the routes parse with these models, the
service returns rows that ``*_to_wire`` render)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, Field

from hstgw.events.model import EventId
from hstgw.store import DeliveryRow, WebhookRow
from hstgw.validation import HEX32_RE, QUERY_CONFIG, AppId, OneOf, Page, PageSize, Range, Text

__all__ = [
    "CreateWebhook",
    "DeliveriesQuery",
    "DeliveryOut",
    "DeliveryPage",
    "Redeliver",
    "RedeliverOut",
    "WebhookCreated",
    "WebhookIdBody",
    "WebhookIdQuery",
    "WebhookListQuery",
    "WebhookOut",
    "WebhookPage",
    "delivery_to_wire",
    "webhook_to_wire",
]

INT64_MAX = 2**63 - 1
WebhookId = Annotated[str, Text(HEX32_RE, "must be 32 lowercase hex characters", 32, 32)]
EventIdIn = Annotated[int, OneOf(tuple(int(e) for e in EventId))]
Version = Annotated[int, Range(1, INT64_MAX)]


class CreateWebhook(BaseModel):
    url: str = Field(description="http:// or https:// URL, at most 2048 characters")
    app_id: AppId | None = Field(
        default=None, description="The app whose events it hears; null: every app of yours"
    )
    event_ids: list[EventIdIn] = Field(
        default_factory=list,
        max_length=len(EventId),
        description="The event ids it hears (20100..20104, 20900..20903); empty: every event",
    )


class WebhookIdBody(BaseModel):
    webhook_id: WebhookId


class WebhookIdQuery(BaseModel):
    model_config = QUERY_CONFIG
    webhook_id: WebhookId


class WebhookListQuery(BaseModel):
    model_config = QUERY_CONFIG
    page: Page = 1
    page_size: PageSize = 20


class DeliveriesQuery(BaseModel):
    model_config = QUERY_CONFIG
    webhook_id: WebhookId
    app_id: AppId | None = None
    page: Page = 1
    page_size: PageSize = 20


class Redeliver(BaseModel):
    webhook_id: WebhookId
    app_id: AppId | None = Field(
        default=None, description="Required with from_version for an endpoint of every app"
    )
    from_version: Version | None = Field(
        default=None,
        description="Deliver again from this version on; null: resume where it stopped",
    )


class WebhookOut(BaseModel):
    webhook_id: str
    url: str
    app_id: str | None
    event_ids: list[int]
    status: str = Field(description="active, or failing (retries ran out; see redeliver)")
    created_at: str


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Signs every delivery; shown only here and at rotation")


class WebhookPage(BaseModel):
    total: int
    page: int
    page_size: int
    webhooks: list[WebhookOut]


class DeliveryOut(BaseModel):
    delivery_id: str
    app_id: str
    version: int
    event_id: int
    status: str = Field(description="pending, delivered or failed")
    attempts: int
    latency_ms: int | None
    response_code: int | None
    last_error: str
    created_at: str
    updated_at: str


class DeliveryPage(BaseModel):
    total: int
    page: int
    page_size: int
    deliveries: list[DeliveryOut]


class RedeliverOut(BaseModel):
    webhook_id: str
    app_id: str | None
    from_version: int | None
    status: str


TimeText = Callable[[int], str]


def webhook_to_wire(hook: WebhookRow, time_text: TimeText, secret: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "webhook_id": hook.webhook_id,
        "url": hook.url,
        "app_id": hook.app_id,
        "event_ids": list(hook.event_ids),
        "status": hook.status,
        "created_at": time_text(hook.created_at),
    }
    if secret:
        out["secret"] = hook.secret
    return out


def delivery_to_wire(row: DeliveryRow, time_text: TimeText) -> dict[str, Any]:
    return {
        "delivery_id": row.delivery_id,
        "app_id": row.app_id,
        "version": row.version,
        "event_id": row.event_id,
        "status": row.status,
        "attempts": row.attempts,
        "latency_ms": row.latency_ms,
        "response_code": row.response_code,
        "last_error": row.last_error,
        "created_at": time_text(row.created_at),
        "updated_at": time_text(row.updated_at),
    }
