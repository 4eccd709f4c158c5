"""``client.webhooks``: register endpoints, rotate their secrets, read their delivery
log, redeliver. (Verifying a delivery: ``hstgw.sdk.webhooks.verify``.)"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hstgw.sdk._constants import DEFAULT_WEBHOOKS_PAGE_SIZE
from hstgw.sdk._models import Webhook, WebhookDelivery, WebhookRedelivery
from hstgw.sdk._pagination import AsyncPage, SyncPage

if TYPE_CHECKING:
    from hstgw.sdk._client import AsyncClient, Client

__all__ = ["AsyncWebhooks", "Webhooks"]


def _create_body(url: str, app_id: str | None, event_ids: Sequence[int] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"url": url}
    if app_id is not None:
        body["app_id"] = app_id
    if event_ids is not None:
        body["event_ids"] = list(event_ids)
    return body


def _deliveries_params(
    webhook_id: str, app_id: str | None, page: int, page_size: int
) -> dict[str, Any]:
    return {"webhook_id": webhook_id, "app_id": app_id, "page": page, "page_size": page_size}


def _redeliver_body(
    webhook_id: str, app_id: str | None, from_version: int | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"webhook_id": webhook_id}
    if app_id is not None:
        body["app_id"] = app_id
    if from_version is not None:
        body["from_version"] = from_version
    return body


def _redelivery(result: dict[str, Any]) -> WebhookRedelivery:
    return WebhookRedelivery(
        result["webhook_id"], result.get("app_id"), result.get("from_version"), result["status"]
    )


class Webhooks:
    def __init__(self, client: Client) -> None:
        self._client = client

    def create(
        self, url: str, *, app_id: str | None = None, event_ids: Sequence[int] | None = None
    ) -> Webhook:
        """Register ``url`` for ``app_id``'s events (None: every app of yours), only
        ``event_ids`` (None: all). The result carries the signing ``secret``."""
        body = _create_body(url, app_id, event_ids)
        return Webhook.from_wire(self._client.request("POST", "/v1/webhooks", json=body))

    def list(
        self, *, page: int = 1, page_size: int = DEFAULT_WEBHOOKS_PAGE_SIZE
    ) -> SyncPage[Webhook]:
        """One page of endpoints; iterate it for every endpoint of every page."""
        params = {"page": page, "page_size": page_size}
        result = self._client.request("GET", "/v1/webhooks", params=params)
        return SyncPage(
            [Webhook.from_wire(w) for w in result["webhooks"]],
            result["total"],
            result["page"],
            result["page_size"],
            lambda p: self.list(page=p, page_size=page_size),
        )

    def delete(self, webhook_id: str) -> None:
        self._client.request("DELETE", "/v1/webhooks", params={"webhook_id": webhook_id})

    def rotate_secret(self, webhook_id: str) -> Webhook:
        """A new secret; the old one keeps signing beside it for the grace period."""
        body = {"webhook_id": webhook_id}
        return Webhook.from_wire(self._client.request("POST", "/v1/webhooks/secret", json=body))

    def deliveries(
        self,
        webhook_id: str,
        *,
        app_id: str | None = None,
        page: int = 1,
        page_size: int = DEFAULT_WEBHOOKS_PAGE_SIZE,
    ) -> SyncPage[WebhookDelivery]:
        """The endpoint's delivery log, newest first."""
        params = _deliveries_params(webhook_id, app_id, page, page_size)
        result = self._client.request("GET", "/v1/webhooks/deliveries", params=params)
        return SyncPage(
            [WebhookDelivery.from_wire(d) for d in result["deliveries"]],
            result["total"],
            result["page"],
            result["page_size"],
            lambda p: self.deliveries(webhook_id, app_id=app_id, page=p, page_size=page_size),
        )

    def redeliver(
        self, webhook_id: str, *, app_id: str | None = None, from_version: int | None = None
    ) -> WebhookRedelivery:
        """Resume a failing endpoint, or deliver ``app_id``'s events again from
        ``from_version`` on."""
        body = _redeliver_body(webhook_id, app_id, from_version)
        return _redelivery(self._client.request("POST", "/v1/webhooks/redeliver", json=body))


class AsyncWebhooks:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(
        self, url: str, *, app_id: str | None = None, event_ids: Sequence[int] | None = None
    ) -> Webhook:
        body = _create_body(url, app_id, event_ids)
        return Webhook.from_wire(await self._client.request("POST", "/v1/webhooks", json=body))

    async def list(
        self, *, page: int = 1, page_size: int = DEFAULT_WEBHOOKS_PAGE_SIZE
    ) -> AsyncPage[Webhook]:
        params = {"page": page, "page_size": page_size}
        result = await self._client.request("GET", "/v1/webhooks", params=params)
        return AsyncPage(
            [Webhook.from_wire(w) for w in result["webhooks"]],
            result["total"],
            result["page"],
            result["page_size"],
            lambda p: self.list(page=p, page_size=page_size),
        )

    async def delete(self, webhook_id: str) -> None:
        await self._client.request("DELETE", "/v1/webhooks", params={"webhook_id": webhook_id})

    async def rotate_secret(self, webhook_id: str) -> Webhook:
        body = {"webhook_id": webhook_id}
        result = await self._client.request("POST", "/v1/webhooks/secret", json=body)
        return Webhook.from_wire(result)

    async def deliveries(
        self,
        webhook_id: str,
        *,
        app_id: str | None = None,
        page: int = 1,
        page_size: int = DEFAULT_WEBHOOKS_PAGE_SIZE,
    ) -> AsyncPage[WebhookDelivery]:
        params = _deliveries_params(webhook_id, app_id, page, page_size)
        result = await self._client.request("GET", "/v1/webhooks/deliveries", params=params)
        return AsyncPage(
            [WebhookDelivery.from_wire(d) for d in result["deliveries"]],
            result["total"],
            result["page"],
            result["page_size"],
            lambda p: self.deliveries(webhook_id, app_id=app_id, page=p, page_size=page_size),
        )

    async def redeliver(
        self, webhook_id: str, *, app_id: str | None = None, from_version: int | None = None
    ) -> WebhookRedelivery:
        body = _redeliver_body(webhook_id, app_id, from_version)
        return _redelivery(await self._client.request("POST", "/v1/webhooks/redeliver", json=body))
