"""Webhooks in the store: the rows, the interface and the SQL both engines share.

A webhook's ``secret`` is sealed at rest (secretbox) and opened when read, as app
secrets are. ``cursor`` rows say where an endpoint stands in an app's event log: the
last version delivered (or skipped by its filter); they move forward only by a
compare-and-set, so a node that lost its lease cannot move one back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "DeliveryRow",
    "WebhookRow",
    "WebhookStore",
]


@dataclass(frozen=True, slots=True)
class WebhookRow:
    webhook_id: str
    dev_id: str
    url: str
    app_id: str | None  # None: every app of the developer
    event_ids: tuple[int, ...]  # empty: every event
    secret: str
    old_secret: str | None
    old_secret_until: int
    status: str  # "active" | "failing"
    created_at: int

    def covers(self, app_id: str) -> bool:
        return self.app_id is None or self.app_id == app_id

    def wants(self, event_id: int) -> bool:
        return not self.event_ids or event_id in self.event_ids


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    delivery_id: str
    webhook_id: str
    app_id: str
    version: int
    event_id: int
    status: str  # "pending" | "delivered" | "failed"
    attempts: int
    latency_ms: int | None
    response_code: int | None
    last_error: str
    created_at: int
    updated_at: int


class WebhookStore(Protocol):
    async def create_webhook(
        self, hook: WebhookRow, cursors: list[tuple[str, int]], max_hooks: int = 0
    ) -> None:
        """Keep ``hook`` and its starting cursors (app_id, version); ``LimitReached``
        when the developer holds ``max_hooks`` already (0: no limit)."""
        ...

    async def get_webhook(self, webhook_id: str) -> WebhookRow | None:
        """Of any developer: the caller checks the owner."""
        ...

    async def list_webhooks(
        self, dev_id: str, offset: int, limit: int
    ) -> tuple[int, list[WebhookRow]]: ...

    async def active_webhooks(self) -> list[WebhookRow]:
        """Every active endpoint (the delivery workers' sweep)."""
        ...

    async def webhooks_for_app(self, dev_id: str, app_id: str) -> list[WebhookRow]:
        """Active endpoints of ``dev_id`` that cover ``app_id``."""
        ...

    async def delete_webhook(self, dev_id: str, webhook_id: str) -> bool:
        """The endpoint, its cursors and its delivery log."""
        ...

    async def set_webhook_secret(
        self, dev_id: str, webhook_id: str, secret: str, old_secret: str, old_until: int
    ) -> bool: ...

    async def resume_webhook(
        self, webhook_id: str, app_id: str | None, version: int | None
    ) -> None:
        """Mark active; with ``app_id`` and ``version``, set that cursor there."""
        ...

    async def webhook_cursor(self, webhook_id: str, app_id: str) -> int | None: ...

    async def webhook_cursors(self) -> dict[tuple[str, str], int]:
        """Every cursor, (webhook_id, app_id) -> version (the workers' sweep)."""
        ...

    async def move_webhook_cursor(
        self, webhook_id: str, app_id: str, expected: int | None, version: int
    ) -> bool:
        """Set the cursor to ``version`` if it still is ``expected`` (None: no row)."""
        ...

    async def pending_delivery(
        self, webhook_id: str, app_id: str, version: int
    ) -> DeliveryRow | None:
        """The delivery of that event still under way (a restart picks its attempts up)."""
        ...

    async def save_delivery(self, row: DeliveryRow) -> None:
        """Keep ``row`` as it stands (a delivery still pending, its attempts so far)."""
        ...

    async def finish_deliveries(
        self,
        webhook_id: str,
        app_id: str,
        expected: int | None,
        version: int,
        rows: list[DeliveryRow],
    ) -> bool:
        """Deliveries done: ``rows`` (each delivered, or a pending row now delivered)
        and the cursor, compare-and-set from ``expected`` to ``version``, in one
        transaction; False (nothing written) if the cursor moved meanwhile."""
        ...

    async def fail_delivery(self, row: DeliveryRow) -> None:
        """Given up: ``row`` (failed) and its endpoint failing, in one transaction."""
        ...

    async def list_deliveries(
        self, webhook_id: str, app_id: str | None, offset: int, limit: int
    ) -> tuple[int, list[DeliveryRow]]:
        """Newest first."""
        ...

    async def purge_deliveries(self, before: int) -> int:
        """Forget finished deliveries last touched before ``before``."""
        ...


HOOK_COLUMNS = (
    "webhook_id, dev_id, url, app_id, event_ids, secret, old_secret, old_secret_until,"
    " status, created_at"
)
DELIVERY_COLUMNS = (
    "delivery_id, webhook_id, app_id, version, event_id, status, attempts, latency_ms,"
    " response_code, last_error, created_at, updated_at"
)
INSERT_HOOK = f"INSERT INTO webhooks ({HOOK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
HOOKS_OF = "SELECT count(*) FROM webhooks WHERE dev_id = ?"
INSERT_CURSOR = "INSERT INTO webhook_cursors (webhook_id, app_id, version) VALUES (?, ?, ?)"
GET_HOOK = f"SELECT {HOOK_COLUMNS} FROM webhooks WHERE webhook_id = ?"
LIST_HOOKS = (
    f"SELECT {HOOK_COLUMNS} FROM webhooks WHERE dev_id = ?"
    " ORDER BY created_at, webhook_id LIMIT ? OFFSET ?"
)
ACTIVE_HOOKS = f"SELECT {HOOK_COLUMNS} FROM webhooks WHERE status = 'active'"
HOOKS_FOR_APP = (
    f"SELECT {HOOK_COLUMNS} FROM webhooks WHERE dev_id = ? AND status = 'active'"
    " AND (app_id IS NULL OR app_id = ?)"
)
DELETE_HOOK = "DELETE FROM webhooks WHERE dev_id = ? AND webhook_id = ?"
DELETE_CURSORS = "DELETE FROM webhook_cursors WHERE webhook_id = ?"
DELETE_DELIVERIES = "DELETE FROM webhook_deliveries WHERE webhook_id = ?"
SET_SECRET = (
    "UPDATE webhooks SET secret = ?, old_secret = ?, old_secret_until = ?"
    " WHERE dev_id = ? AND webhook_id = ?"
)
SET_ACTIVE = "UPDATE webhooks SET status = 'active' WHERE webhook_id = ?"
SET_FAILING = "UPDATE webhooks SET status = 'failing' WHERE webhook_id = ?"
UPSERT_CURSOR = (
    "INSERT INTO webhook_cursors (webhook_id, app_id, version) VALUES (?, ?, ?)"
    " ON CONFLICT (webhook_id, app_id) DO UPDATE SET version = excluded.version"
)
ALL_CURSORS = "SELECT webhook_id, app_id, version FROM webhook_cursors"
GET_CURSOR = "SELECT version FROM webhook_cursors WHERE webhook_id = ? AND app_id = ?"
MOVE_CURSOR = (
    "UPDATE webhook_cursors SET version = ? WHERE webhook_id = ? AND app_id = ? AND version = ?"
)
# ``+created_at``: not an index's order, so the planner looks the version up in
# webhook_deliveries_pending; with plain ``created_at`` SQLite walked the endpoint's
# whole log backwards in webhook_deliveries_by_hook (a delivery cost O(deliveries):
# 0.5 ms at first, 6 ms after 10,000; bench/events.py).
PENDING_DELIVERY = (
    f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = ? AND app_id = ?"
    " AND version = ? AND status = 'pending' ORDER BY +created_at DESC LIMIT 1"
)
INSERT_DELIVERY = (
    f"INSERT INTO webhook_deliveries ({DELIVERY_COLUMNS})"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
UPSERT_DELIVERY = (
    INSERT_DELIVERY + " ON CONFLICT (delivery_id) DO UPDATE SET status = excluded.status,"
    " attempts = excluded.attempts, latency_ms = excluded.latency_ms,"
    " response_code = excluded.response_code, last_error = excluded.last_error,"
    " updated_at = excluded.updated_at"
)
COUNT_DELIVERIES = "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = ?"
LIST_DELIVERIES = (
    f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = ?"
    " ORDER BY created_at DESC, version DESC, delivery_id LIMIT ? OFFSET ?"
)
COUNT_APP_DELIVERIES = COUNT_DELIVERIES + " AND app_id = ?"
LIST_APP_DELIVERIES = (
    f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = ? AND app_id = ?"
    " ORDER BY created_at DESC, version DESC, delivery_id LIMIT ? OFFSET ?"
)
PURGE_DELIVERIES = "DELETE FROM webhook_deliveries WHERE status <> 'pending' AND updated_at < ?"


def event_ids_text(ids: tuple[int, ...]) -> str:
    return ",".join(map(str, ids))


def hook_args(hook: WebhookRow, sealed: str) -> tuple[object, ...]:
    return (
        hook.webhook_id, hook.dev_id, hook.url, hook.app_id, event_ids_text(hook.event_ids),
        sealed, None, 0, hook.status, hook.created_at,
    )  # fmt: skip


def delivery_args(row: DeliveryRow) -> tuple[object, ...]:
    return (
        row.delivery_id, row.webhook_id, row.app_id, row.version, row.event_id, row.status,
        row.attempts, row.latency_ms, row.response_code, row.last_error, row.created_at,
        row.updated_at,
    )  # fmt: skip


def hook_from_row(row: Any, open_secret: Callable[[str], str]) -> WebhookRow:
    ids = tuple(int(x) for x in row[4].split(",") if x)
    old = None if row[6] is None else open_secret(row[6])
    return WebhookRow(
        row[0], row[1], row[2], row[3], ids, open_secret(row[5]), old, int(row[7]), row[8],
        int(row[9]),
    )  # fmt: skip


def delivery_from_row(row: Any) -> DeliveryRow:
    return DeliveryRow(*tuple(row))
