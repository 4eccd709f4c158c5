"""Webhooks: the rules. Every entry point takes the caller's ``dev_id``; another
developer's endpoint or app does not exist for the caller, whatever the path in."""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hstgw.apps import owned_app
from hstgw.errors import OperationFailed, ParameterInvalid, ParameterMissing
from hstgw.events.model import EventFeed
from hstgw.ids import new_id
from hstgw.store import DeliveryRow, LimitReached, Store, WebhookRow
from hstgw.webhooks.models import CreateWebhook, Redeliver
from hstgw.webhooks.targets import TargetRefused, Targets

__all__ = ["Webhooks", "new_webhook_secret"]

_APPS_PAGE = 100


def new_webhook_secret() -> str:
    """``whsec_`` and 192 random bits in hex."""
    return "whsec_" + secrets.token_hex(24)


def _no_such_webhook() -> ParameterInvalid:
    return ParameterInvalid("webhook_id", "no such webhook")


class Webhooks:
    def __init__(
        self,
        store: Store,
        feed: EventFeed,
        targets: Targets,
        clock: Callable[[], int],
        zone: ZoneInfo,
        *,
        max_hooks: int = 0,
        secret_grace_s: int = 86400,
        on_change: Callable[[str], None] = lambda webhook_id: None,
        on_resume: Callable[[str], None] = lambda webhook_id: None,
    ) -> None:
        self._store = store
        self._feed = feed
        self._targets = targets
        self._clock = clock
        self._zone = zone
        self._max_hooks = max_hooks
        self._grace_ms = secret_grace_s * 1000
        self._on_change = on_change  # made, rotated or deleted: delivery reads it anew
        self._on_resume = on_resume

    def time_text(self, ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, self._zone).strftime("%Y-%m-%d %H:%M:%S")

    async def _owned(self, dev_id: str, webhook_id: str) -> WebhookRow:
        hook = await self._store.get_webhook(webhook_id)
        if hook is None or hook.dev_id != dev_id:
            raise _no_such_webhook()
        return hook

    async def create(self, dev_id: str, req: CreateWebhook) -> WebhookRow:
        try:
            await self._targets.check_url(req.url)
        except TargetRefused as exc:
            raise ParameterInvalid("url", str(exc)) from None
        seen: set[int] = set()
        for i, event_id in enumerate(req.event_ids):
            if event_id in seen:
                raise ParameterInvalid(f"event_ids[{i}]", f"duplicate {event_id}")
            seen.add(event_id)
        if req.app_id is not None:
            app_ids = [(await owned_app(self._store, dev_id, req.app_id)).app_id]
        else:
            app_ids = await self._app_ids(dev_id)
        # It hears what happens from now on: its cursors start at each app's latest.
        cursors = [(app_id, await self._feed.version(app_id)) for app_id in app_ids]
        hook = WebhookRow(
            webhook_id=new_id(),
            dev_id=dev_id,
            url=req.url,
            app_id=req.app_id,
            event_ids=tuple(req.event_ids),
            secret=new_webhook_secret(),
            old_secret=None,
            old_secret_until=0,
            status="active",
            created_at=self._clock(),
        )
        try:
            await self._store.create_webhook(hook, cursors, self._max_hooks)
        except LimitReached as exc:
            raise OperationFailed(
                f"a developer may hold at most {exc.limit} webhook endpoints; delete one first"
            ) from None
        self._on_change(hook.webhook_id)
        return hook

    async def _app_ids(self, dev_id: str) -> builtins.list[str]:
        out: builtins.list[str] = []
        while True:
            total, apps = await self._store.list_apps(dev_id, len(out), _APPS_PAGE)
            out.extend(a.app_id for a in apps)
            if not apps or len(out) >= total:
                return out

    async def list(self, dev_id: str, page: int, page_size: int) -> tuple[int, list[WebhookRow]]:
        return await self._store.list_webhooks(dev_id, (page - 1) * page_size, page_size)

    async def delete(self, dev_id: str, webhook_id: str) -> None:
        if not await self._store.delete_webhook(dev_id, webhook_id):
            raise _no_such_webhook()
        self._on_change(webhook_id)

    async def rotate_secret(self, dev_id: str, webhook_id: str) -> WebhookRow:
        """A new secret signs from now on; the one it replaces signs too (a second
        ``v1``) for the grace period, so receivers can switch without losing any."""
        hook = await self._owned(dev_id, webhook_id)
        secret = new_webhook_secret()
        until = self._clock() + self._grace_ms
        if not await self._store.set_webhook_secret(dev_id, webhook_id, secret, hook.secret, until):
            raise _no_such_webhook()
        self._on_change(webhook_id)
        return WebhookRow(
            hook.webhook_id, hook.dev_id, hook.url, hook.app_id, hook.event_ids, secret,
            hook.secret, until, hook.status, hook.created_at,
        )  # fmt: skip

    async def deliveries(
        self, dev_id: str, webhook_id: str, app_id: str | None, page: int, page_size: int
    ) -> tuple[int, builtins.list[DeliveryRow]]:
        await self._owned(dev_id, webhook_id)
        return await self._store.list_deliveries(
            webhook_id, app_id, (page - 1) * page_size, page_size
        )

    async def redeliver(self, dev_id: str, req: Redeliver) -> dict[str, Any]:
        """Resume a failing endpoint where it stopped, or deliver an app's events again
        from ``from_version`` on (those delivered already are sent again)."""
        hook = await self._owned(dev_id, req.webhook_id)
        app_id = req.app_id if req.app_id is not None else hook.app_id
        if app_id is not None:
            if not hook.covers(app_id):
                raise ParameterInvalid("app_id", "not an app of this webhook")
            await owned_app(self._store, dev_id, app_id)
        version: int | None = None
        if req.from_version is not None:
            if app_id is None:
                raise ParameterMissing(
                    "app_id", "required with from_version (the webhook covers every app)"
                )
            latest = await self._feed.version(app_id)
            if req.from_version > latest + 1:
                raise ParameterInvalid("from_version", f"must be 1..{latest + 1}")
            version = req.from_version - 1
        await self._store.resume_webhook(hook.webhook_id, app_id, version)
        self._on_resume(hook.webhook_id)
        return {
            "webhook_id": hook.webhook_id,
            "app_id": app_id,
            "from_version": req.from_version,
            "status": "active",
        }
