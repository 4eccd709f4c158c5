"""Webhooks in SQLite (the statements are shared: hstgw.store.webhooks)."""

from __future__ import annotations

import sqlite3

from hstgw.store.base import LimitReached
from hstgw.store.sqlite.engine import SqliteEngine
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


class WebhooksStore(SqliteEngine):
    async def create_webhook(
        self, hook: WebhookRow, cursors: list[tuple[str, int]], max_hooks: int = 0
    ) -> None:
        def work(c: sqlite3.Connection) -> None:
            if max_hooks and c.execute(HOOKS_OF, (hook.dev_id,)).fetchone()[0] >= max_hooks:
                raise LimitReached(max_hooks)
            c.execute(INSERT_HOOK, hook_args(hook, self._box.seal(hook.secret)))
            c.executemany(INSERT_CURSOR, [(hook.webhook_id, a, v) for a, v in cursors])

        await self._write(work)

    async def get_webhook(self, webhook_id: str) -> WebhookRow | None:
        row = await self._read(lambda c: c.execute(GET_HOOK, (webhook_id,)).fetchone())
        return None if row is None else hook_from_row(row, self._box.open)

    async def list_webhooks(
        self, dev_id: str, offset: int, limit: int
    ) -> tuple[int, list[WebhookRow]]:
        def work(c: sqlite3.Connection) -> tuple[int, list[WebhookRow]]:
            c.execute("BEGIN")  # total and page agree
            try:
                total = c.execute(HOOKS_OF, (dev_id,)).fetchone()[0]
                rows = c.execute(LIST_HOOKS, (dev_id, limit, offset)).fetchall()
            finally:
                c.execute("COMMIT")
            return total, [hook_from_row(r, self._box.open) for r in rows]

        return await self._read(work)

    async def active_webhooks(self) -> list[WebhookRow]:
        rows = await self._read(lambda c: c.execute(ACTIVE_HOOKS).fetchall())
        return [hook_from_row(r, self._box.open) for r in rows]

    async def webhooks_for_app(self, dev_id: str, app_id: str) -> list[WebhookRow]:
        rows = await self._read(lambda c: c.execute(HOOKS_FOR_APP, (dev_id, app_id)).fetchall())
        return [hook_from_row(r, self._box.open) for r in rows]

    async def delete_webhook(self, dev_id: str, webhook_id: str) -> bool:
        def work(c: sqlite3.Connection) -> bool:
            if not c.execute(DELETE_HOOK, (dev_id, webhook_id)).rowcount:
                return False
            c.execute(DELETE_CURSORS, (webhook_id,))
            c.execute(DELETE_DELIVERIES, (webhook_id,))
            return True

        return await self._write(work)

    async def set_webhook_secret(
        self, dev_id: str, webhook_id: str, secret: str, old_secret: str, old_until: int
    ) -> bool:
        args = (self._box.seal(secret), self._box.seal(old_secret), old_until, dev_id, webhook_id)
        return await self._write(lambda c: c.execute(SET_SECRET, args).rowcount > 0)

    async def resume_webhook(
        self, webhook_id: str, app_id: str | None, version: int | None
    ) -> None:
        def work(c: sqlite3.Connection) -> None:
            c.execute(SET_ACTIVE, (webhook_id,))
            if app_id is not None and version is not None:
                c.execute(UPSERT_CURSOR, (webhook_id, app_id, version))

        await self._write(work)

    async def webhook_cursor(self, webhook_id: str, app_id: str) -> int | None:
        row = await self._read(lambda c: c.execute(GET_CURSOR, (webhook_id, app_id)).fetchone())
        return None if row is None else int(row[0])

    async def webhook_cursors(self) -> dict[tuple[str, str], int]:
        rows = await self._read(lambda c: c.execute(ALL_CURSORS).fetchall())
        return {(r[0], r[1]): int(r[2]) for r in rows}

    async def move_webhook_cursor(
        self, webhook_id: str, app_id: str, expected: int | None, version: int
    ) -> bool:
        return await self._write(lambda c: _move(c, webhook_id, app_id, expected, version))

    async def pending_delivery(
        self, webhook_id: str, app_id: str, version: int
    ) -> DeliveryRow | None:
        row = await self._read(
            lambda c: c.execute(PENDING_DELIVERY, (webhook_id, app_id, version)).fetchone()
        )
        return None if row is None else delivery_from_row(row)

    async def save_delivery(self, row: DeliveryRow) -> None:
        await self._write(lambda c: c.execute(UPSERT_DELIVERY, delivery_args(row)))

    async def finish_deliveries(
        self,
        webhook_id: str,
        app_id: str,
        expected: int | None,
        version: int,
        rows: list[DeliveryRow],
    ) -> bool:
        def work(c: sqlite3.Connection) -> bool:
            if not _move(c, webhook_id, app_id, expected, version):
                return False
            c.executemany(UPSERT_DELIVERY, [delivery_args(r) for r in rows])
            return True

        return await self._write(work)

    async def fail_delivery(self, row: DeliveryRow) -> None:
        def work(c: sqlite3.Connection) -> None:
            c.execute(UPSERT_DELIVERY, delivery_args(row))
            c.execute(SET_FAILING, (row.webhook_id,))

        await self._write(work)

    async def list_deliveries(
        self, webhook_id: str, app_id: str | None, offset: int, limit: int
    ) -> tuple[int, list[DeliveryRow]]:
        def work(c: sqlite3.Connection) -> tuple[int, list[DeliveryRow]]:
            c.execute("BEGIN")
            try:
                if app_id is None:
                    total = c.execute(COUNT_DELIVERIES, (webhook_id,)).fetchone()[0]
                    rows = c.execute(LIST_DELIVERIES, (webhook_id, limit, offset)).fetchall()
                else:
                    total = c.execute(COUNT_APP_DELIVERIES, (webhook_id, app_id)).fetchone()[0]
                    rows = c.execute(
                        LIST_APP_DELIVERIES, (webhook_id, app_id, limit, offset)
                    ).fetchall()
            finally:
                c.execute("COMMIT")
            return total, [delivery_from_row(r) for r in rows]

        return await self._read(work)

    async def purge_deliveries(self, before: int) -> int:
        return await self._write(lambda c: c.execute(PURGE_DELIVERIES, (before,)).rowcount)


def _move(
    c: sqlite3.Connection, webhook_id: str, app_id: str, expected: int | None, version: int
) -> bool:
    if expected is None:
        # No row yet (an app made after the endpoint): the first writer makes it.
        return (
            c.execute(
                INSERT_CURSOR.replace("INSERT", "INSERT OR IGNORE", 1),
                (webhook_id, app_id, version),
            ).rowcount
            > 0
        )
    return c.execute(MOVE_CURSOR, (version, webhook_id, app_id, expected)).rowcount > 0
