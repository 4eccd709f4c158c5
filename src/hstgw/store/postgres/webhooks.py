"""Webhooks in PostgreSQL (the statements are shared: hstgw.store.webhooks)."""

from __future__ import annotations

from hstgw.store.base import LimitReached
from hstgw.store.postgres.engine import Conn, PostgresEngine, affected
from hstgw.store.sql import numbered
from hstgw.store.webhooks import (
    ACTIVE_HOOKS,
    ALL_CURSORS,
    COUNT_APP_DELIVERIES,
    COUNT_DELIVERIES,
    DELETE_CURSORS,
    DELETE_DELIVERIES,
    DELETE_HOOK,
    GET_CURSOR,
    GET_HOOK,
    HOOKS_FOR_APP,
    HOOKS_OF,
    INSERT_CURSOR,
    INSERT_HOOK,
    LIST_APP_DELIVERIES,
    LIST_DELIVERIES,
    LIST_HOOKS,
    MOVE_CURSOR,
    PENDING_DELIVERY,
    PURGE_DELIVERIES,
    SET_ACTIVE,
    SET_FAILING,
    SET_SECRET,
    UPSERT_CURSOR,
    UPSERT_DELIVERY,
    DeliveryRow,
    WebhookRow,
    delivery_args,
    delivery_from_row,
    hook_args,
    hook_from_row,
)

__all__ = ["WebhooksStore"]


class WebhooksStore(PostgresEngine):
    async def create_webhook(
        self, hook: WebhookRow, cursors: list[tuple[str, int]], max_hooks: int = 0
    ) -> None:
        async with self._transaction() as c:
            # Creates of one developer take turns, so that the count holds.
            await c.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))",
                self.lock_key(f"webhooks:{hook.dev_id}"),
            )
            if max_hooks and await c.fetchval(numbered(HOOKS_OF), hook.dev_id) >= max_hooks:
                raise LimitReached(max_hooks)
            await c.execute(numbered(INSERT_HOOK), *hook_args(hook, self._box.seal(hook.secret)))
            await c.executemany(
                numbered(INSERT_CURSOR), [(hook.webhook_id, a, v) for a, v in cursors]
            )

    async def get_webhook(self, webhook_id: str) -> WebhookRow | None:
        row = await self._fetchrow(GET_HOOK, webhook_id)
        return None if row is None else hook_from_row(row, self._box.open)

    async def list_webhooks(
        self, dev_id: str, offset: int, limit: int
    ) -> tuple[int, list[WebhookRow]]:
        async with self._connection() as c, c.transaction(isolation="repeatable_read"):
            total = await c.fetchval(numbered(HOOKS_OF), dev_id)
            rows = await c.fetch(numbered(LIST_HOOKS), dev_id, limit, offset)
        return int(total), [hook_from_row(r, self._box.open) for r in rows]

    async def active_webhooks(self) -> list[WebhookRow]:
        return [hook_from_row(r, self._box.open) for r in await self._fetch(ACTIVE_HOOKS)]

    async def webhooks_for_app(self, dev_id: str, app_id: str) -> list[WebhookRow]:
        rows = await self._fetch(HOOKS_FOR_APP, dev_id, app_id)
        return [hook_from_row(r, self._box.open) for r in rows]

    async def delete_webhook(self, dev_id: str, webhook_id: str) -> bool:
        async with self._transaction() as c:
            if not affected(await c.execute(numbered(DELETE_HOOK), dev_id, webhook_id)):
                return False
            await c.execute(numbered(DELETE_CURSORS), webhook_id)
            await c.execute(numbered(DELETE_DELIVERIES), webhook_id)
        return True

    async def set_webhook_secret(
        self, dev_id: str, webhook_id: str, secret: str, old_secret: str, old_until: int
    ) -> bool:
        status = await self._execute(
            SET_SECRET, self._box.seal(secret), self._box.seal(old_secret), old_until, dev_id,
            webhook_id,
        )  # fmt: skip
        return affected(status) > 0

    async def resume_webhook(
        self, webhook_id: str, app_id: str | None, version: int | None
    ) -> None:
        async with self._transaction() as c:
            await c.execute(numbered(SET_ACTIVE), webhook_id)
            if app_id is not None and version is not None:
                await c.execute(numbered(UPSERT_CURSOR), webhook_id, app_id, version)

    async def webhook_cursor(self, webhook_id: str, app_id: str) -> int | None:
        row = await self._fetchrow(GET_CURSOR, webhook_id, app_id)
        return None if row is None else int(row[0])

    async def webhook_cursors(self) -> dict[tuple[str, str], int]:
        return {(r[0], r[1]): int(r[2]) for r in await self._fetch(ALL_CURSORS)}

    async def move_webhook_cursor(
        self, webhook_id: str, app_id: str, expected: int | None, version: int
    ) -> bool:
        async with self._transaction() as c:
            return await _move(c, webhook_id, app_id, expected, version)

    async def pending_delivery(
        self, webhook_id: str, app_id: str, version: int
    ) -> DeliveryRow | None:
        row = await self._fetchrow(PENDING_DELIVERY, webhook_id, app_id, version)
        return None if row is None else delivery_from_row(row)

    async def save_delivery(self, row: DeliveryRow) -> None:
        await self._execute(UPSERT_DELIVERY, *delivery_args(row))

    async def finish_deliveries(
        self,
        webhook_id: str,
        app_id: str,
        expected: int | None,
        version: int,
        rows: list[DeliveryRow],
    ) -> bool:
        async with self._transaction() as c:
            if not await _move(c, webhook_id, app_id, expected, version):
                return False
            if rows:
                await c.executemany(numbered(UPSERT_DELIVERY), [delivery_args(r) for r in rows])
        return True

    async def fail_delivery(self, row: DeliveryRow) -> None:
        async with self._transaction() as c:
            await c.execute(numbered(UPSERT_DELIVERY), *delivery_args(row))
            await c.execute(numbered(SET_FAILING), row.webhook_id)

    async def list_deliveries(
        self, webhook_id: str, app_id: str | None, offset: int, limit: int
    ) -> tuple[int, list[DeliveryRow]]:
        async with self._connection() as c, c.transaction(isolation="repeatable_read"):
            if app_id is None:
                total = await c.fetchval(numbered(COUNT_DELIVERIES), webhook_id)
                rows = await c.fetch(numbered(LIST_DELIVERIES), webhook_id, limit, offset)
            else:
                total = await c.fetchval(numbered(COUNT_APP_DELIVERIES), webhook_id, app_id)
                rows = await c.fetch(
                    numbered(LIST_APP_DELIVERIES), webhook_id, app_id, limit, offset
                )
        return int(total), [delivery_from_row(r) for r in rows]

    async def purge_deliveries(self, before: int) -> int:
        return affected(await self._execute(PURGE_DELIVERIES, before))


async def _move(c: Conn, webhook_id: str, app_id: str, expected: int | None, version: int) -> bool:
    if expected is None:
        # No row yet (an app made after the endpoint): the first writer makes it.
        status = await c.execute(
            numbered(INSERT_CURSOR) + " ON CONFLICT DO NOTHING", webhook_id, app_id, version
        )
    else:
        status = await c.execute(numbered(MOVE_CURSOR), version, webhook_id, app_id, expected)
    return affected(status) > 0
