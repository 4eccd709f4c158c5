"""Developers, access tokens and apps in PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from hstgw.store import sql
from hstgw.store.base import (
    AccessTokenState,
    App,
    AppPatch,
    AppService,
    Conflict,
    Developer,
    IdempotencyClaim,
    LimitReached,
)
from hstgw.store.postgres.engine import Conn, PostgresEngine, affected
from hstgw.store.sql import (
    APP_COLUMNS,
    apps_from_rows,
    developer,
    kept_response,
    numbered,
    update_app,
)

__all__ = ["AccountsStore"]

_REVOKE_TOKENS = numbered(sql.REVOKE_TOKENS)

_APPS_BY_ID = (
    f"SELECT {APP_COLUMNS} FROM apps a LEFT JOIN app_services s ON s.app_id = a.app_id"
    " WHERE a.app_id = ANY($1::text[]) AND a.deleted_at IS NULL"
    " ORDER BY a.seq, s.service_id"
)
_DEV_COLUMNS = "dev_id, name, secret, status, created_at"


class AccountsStore(PostgresEngine):
    # Idempotency-Key

    async def idempotency_claim(
        self,
        owner: str,
        key: str,
        fingerprint: str,
        now: int,
        expired_before: int,
        abandoned_before: int,
    ) -> IdempotencyClaim:
        async with self._transaction() as c:
            await c.execute(numbered(sql.IDEM_EXPIRE), owner, key, expired_before, abandoned_before)
            status = await c.execute(numbered(sql.IDEM_CLAIM), owner, key, fingerprint, now)
            row = await c.fetchrow(numbered(sql.IDEM_READ), owner, key)
        assert row is not None
        return IdempotencyClaim(affected(status) > 0, row[0], kept_response(row[1], self._box))

    async def idempotency_finish(self, owner: str, key: str, response: str) -> None:
        # Sealed like secrets: a first response may carry one (a new app's app_secret).
        await self._execute(sql.IDEM_FINISH, self._box.seal(response), owner, key)

    async def idempotency_release(self, owner: str, key: str) -> None:
        await self._execute(sql.IDEM_RELEASE, owner, key)

    async def idempotency_purge(self, before: int) -> int:
        return affected(await self._execute(sql.IDEM_PURGE, before))

    # developers

    async def create_developer(self, dev: Developer) -> None:
        await self._insert_in_order(
            "developers", sql.INSERT_DEVELOPER,
            dev.dev_id, dev.name, self._box.seal(dev.secret), dev.status, dev.created_at,
        )  # fmt: skip

    async def get_developer(self, dev_id: str) -> Developer | None:
        row = await self._fetchrow(
            f"SELECT {_DEV_COLUMNS} FROM developers WHERE dev_id = ?", dev_id
        )
        return developer(row, self._box)

    async def list_developers(self) -> list[Developer]:
        rows = await self._fetch(f"SELECT {_DEV_COLUMNS} FROM developers ORDER BY seq")
        return [d for d in (developer(row, self._box) for row in rows) if d is not None]

    async def set_developer_secret(self, dev_id: str, secret: str) -> bool:
        async with self._transaction() as c:
            found = await c.execute(
                "UPDATE developers SET secret = $1 WHERE dev_id = $2",
                self._box.seal(secret),
                dev_id,
            )
            await c.execute(_REVOKE_TOKENS, dev_id)
            await c.execute(numbered(sql.END_CONSOLE_SESSIONS), dev_id)
        return affected(found) > 0

    async def set_developer_status(self, dev_id: str, status: str) -> bool:
        async with self._transaction() as c:
            found = await c.execute(
                "UPDATE developers SET status = $1 WHERE dev_id = $2", status, dev_id
            )
            if status != "active":
                await c.execute(_REVOKE_TOKENS, dev_id)
                await c.execute(numbered(sql.END_CONSOLE_SESSIONS), dev_id)
        return affected(found) > 0

    # console sessions

    async def open_console_session(
        self, session_id: str, dev_id: str, expires_at: int, now: int
    ) -> None:
        async with self._transaction() as c:
            await c.execute(numbered(sql.PURGE_DEV_CONSOLE_SESSIONS), dev_id, now)
            await c.execute(numbered(sql.OPEN_CONSOLE_SESSION), session_id, dev_id, expires_at)

    async def console_session(self, session_id: str, now: int) -> str | None:
        row = await self._fetchrow(sql.CONSOLE_SESSION, session_id, now)
        return None if row is None else str(row[0])

    async def end_console_session(self, session_id: str) -> None:
        await self._execute(sql.END_CONSOLE_SESSION, session_id)

    async def purge_console_sessions(self, before: int) -> int:
        return affected(await self._execute(sql.PURGE_CONSOLE_SESSIONS, before))

    # access tokens

    async def issue_access_token(
        self, dev_id: str, token: str, now: int, expires_at: int, keep_until: int
    ) -> None:
        async with self._transaction() as c:
            # One issuance per developer at a time: the developer's row is the lock.
            await c.execute("SELECT 1 FROM developers WHERE dev_id = $1 FOR UPDATE", dev_id)
            await c.execute(
                "DELETE FROM access_tokens WHERE dev_id = $1 AND expires_at < $2",
                dev_id, keep_until,
            )  # fmt: skip
            await c.execute(_REVOKE_TOKENS, dev_id)
            await c.execute(
                "INSERT INTO access_tokens (token, dev_id, issued_at, expires_at, live)"
                " VALUES ($1, $2, $3, $4, 1)",
                token, dev_id, now, expires_at,
            )  # fmt: skip

    async def lookup_access_token(self, token: str) -> AccessTokenState | None:
        row = await self._fetchrow(
            "SELECT t.dev_id, t.expires_at, t.live, d.status FROM access_tokens t"
            " JOIN developers d ON d.dev_id = t.dev_id WHERE t.token = ?",
            token,
        )
        if row is None:
            return None
        return AccessTokenState(row[0], row[1], bool(row[2]), row[3] == "active")

    # apps

    async def create_app(self, app: App, max_apps: int = 0) -> None:
        try:
            async with self._transaction() as c:
                await self._take_turn(c, "apps")  # (creates take turns: the count holds)
                if (
                    max_apps
                    and await c.fetchval(numbered(sql.LIVE_APPS_OF), app.dev_id) >= max_apps
                ):
                    raise LimitReached(max_apps)
                await c.execute(
                    numbered(sql.INSERT_APP),
                    app.app_id, app.dev_id, app.app_name, self._box.seal(app.app_secret),
                    app.status, app.consumption_limit, app.created_at, app.updated_at,
                )  # fmt: skip
                await _insert_services(c, app.app_id, app.services)
        except asyncpg.exceptions.UniqueViolationError:
            raise Conflict("app_name") from None
        self._apps.put(app)

    def forget_apps(self, app_ids: Iterable[str] | None) -> None:
        if app_ids is None:
            self._apps.clear()
            return
        for app_id in app_ids:
            self._apps.drop(app_id)

    async def find_app(self, app_id: str) -> App | None:
        app = self._apps.get(app_id)
        if app is None:
            generation = self._apps.generation
            async with self._connection() as c:
                apps = apps_from_rows(await c.fetch(_APPS_BY_ID, [app_id]), self._box)
            if not apps:
                return None
            app = apps[0]
            self._apps.fill(app, generation)
        return app

    async def list_apps(self, dev_id: str, offset: int, limit: int) -> tuple[int, list[App]]:
        async with self._connection() as c, c.transaction(isolation="repeatable_read"):
            total = await c.fetchval(
                "SELECT count(*) FROM apps WHERE dev_id = $1 AND deleted_at IS NULL", dev_id
            )
            ids = [
                r[0]
                for r in await c.fetch(
                    "SELECT app_id FROM apps WHERE dev_id = $1 AND deleted_at IS NULL"
                    " ORDER BY seq LIMIT $2 OFFSET $3",
                    dev_id,
                    limit,
                    offset,
                )
            ]
            apps = apps_from_rows(await c.fetch(_APPS_BY_ID, ids), self._box) if ids else []
        return int(total), [a for a in apps if a.dev_id == dev_id]

    async def update_app(self, dev_id: str, app_id: str, patch: AppPatch, now: int) -> App | None:
        sql, args = update_app(patch, now, app_id, dev_id)
        try:
            async with self._transaction() as c:
                if affected(await c.execute(numbered(sql), *args)) == 0:
                    return None
                if patch.services is not None:
                    await c.execute("DELETE FROM app_services WHERE app_id = $1", app_id)
                    await _insert_services(c, app_id, patch.services)
                app = apps_from_rows(await c.fetch(_APPS_BY_ID, [app_id]), self._box)[0]
        except asyncpg.exceptions.UniqueViolationError:
            raise Conflict("app_name") from None
        self._apps.put(app)
        return app

    async def delete_app(self, dev_id: str, app_id: str, now: int) -> bool:
        status = await self._execute(
            "UPDATE apps SET deleted_at = ?, updated_at = ?"
            " WHERE app_id = ? AND dev_id = ? AND deleted_at IS NULL",
            now, now, app_id, dev_id,
        )  # fmt: skip
        deleted = affected(status) > 0
        if deleted:
            self._apps.drop(app_id)
        return deleted


async def _insert_services(c: Conn, app_id: str, services: tuple[AppService, ...]) -> None:
    await c.executemany(
        "INSERT INTO app_services (app_id, service_id, use_limit) VALUES ($1, $2, $3)",
        [(app_id, s.service_id, s.use_limit) for s in services],
    )
