"""Developers, access tokens and apps in SQLite.

The serving process takes ``hstgw.lock`` in the data directory, so it is the
only writer of apps; that makes its in-process app cache exact (a thread hop to
SQLite costs more than the rest of a ``GET /v1/app``: docs/performance.md).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from hstgw.secretbox import SecretBox
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
from hstgw.store.sql import APP_COLUMNS, apps_from_rows, developer, kept_response, update_app
from hstgw.store.sqlite.engine import SqliteEngine

__all__ = ["AccountsStore"]


class AccountsStore(SqliteEngine):
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
        def claim(c: sqlite3.Connection) -> IdempotencyClaim:
            c.execute(sql.IDEM_EXPIRE, (owner, key, expired_before, abandoned_before))
            mine = c.execute(sql.IDEM_CLAIM, (owner, key, fingerprint, now)).rowcount > 0
            held, response, _ = c.execute(sql.IDEM_READ, (owner, key)).fetchone()
            return IdempotencyClaim(mine, held, kept_response(response, self._box))

        return await self._write(claim)

    async def idempotency_finish(self, owner: str, key: str, response: str) -> None:
        # Sealed like secrets: a first response may carry one (a new app's app_secret).
        sealed = self._box.seal(response)
        await self._write(lambda c: c.execute(sql.IDEM_FINISH, (sealed, owner, key)))

    async def idempotency_release(self, owner: str, key: str) -> None:
        await self._write(lambda c: c.execute(sql.IDEM_RELEASE, (owner, key)))

    async def idempotency_purge(self, before: int) -> int:
        return await self._write(lambda c: c.execute(sql.IDEM_PURGE, (before,)).rowcount)

    # developers

    async def create_developer(self, dev: Developer) -> None:
        await self._write(
            lambda c: c.execute(
                sql.INSERT_DEVELOPER,
                (dev.dev_id, dev.name, self._box.seal(dev.secret), dev.status, dev.created_at),
            )
        )

    async def get_developer(self, dev_id: str) -> Developer | None:
        return await self._read(
            lambda c: developer(
                c.execute(
                    "SELECT dev_id, name, secret, status, created_at FROM developers"
                    " WHERE dev_id = ?",
                    (dev_id,),
                ).fetchone(),
                self._box,
            )
        )

    async def list_developers(self) -> list[Developer]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT dev_id, name, secret, status, created_at FROM developers ORDER BY seq"
            ).fetchall()
        )
        return [d for d in (developer(row, self._box) for row in rows) if d is not None]

    async def set_developer_secret(self, dev_id: str, secret: str) -> bool:
        def work(c: sqlite3.Connection) -> bool:
            found = c.execute(
                "UPDATE developers SET secret = ? WHERE dev_id = ?",
                (self._box.seal(secret), dev_id),
            ).rowcount
            c.execute(sql.REVOKE_TOKENS, (dev_id,))
            c.execute(sql.END_CONSOLE_SESSIONS, (dev_id,))
            return bool(found)

        return await self._write(work)

    async def set_developer_status(self, dev_id: str, status: str) -> bool:
        def work(c: sqlite3.Connection) -> bool:
            found = c.execute(
                "UPDATE developers SET status = ? WHERE dev_id = ?", (status, dev_id)
            ).rowcount
            if status != "active":
                c.execute(sql.REVOKE_TOKENS, (dev_id,))
                c.execute(sql.END_CONSOLE_SESSIONS, (dev_id,))
            return bool(found)

        return await self._write(work)

    # console sessions

    async def open_console_session(
        self, session_id: str, dev_id: str, expires_at: int, now: int
    ) -> None:
        def work(c: sqlite3.Connection) -> None:
            c.execute(sql.PURGE_DEV_CONSOLE_SESSIONS, (dev_id, now))
            c.execute(sql.OPEN_CONSOLE_SESSION, (session_id, dev_id, expires_at))

        await self._write(work)

    async def console_session(self, session_id: str, now: int) -> str | None:
        row = await self._read(
            lambda c: c.execute(sql.CONSOLE_SESSION, (session_id, now)).fetchone()
        )
        return None if row is None else str(row[0])

    async def end_console_session(self, session_id: str) -> None:
        await self._write(lambda c: c.execute(sql.END_CONSOLE_SESSION, (session_id,)))

    async def purge_console_sessions(self, before: int) -> int:
        return await self._write(
            lambda c: c.execute(sql.PURGE_CONSOLE_SESSIONS, (before,)).rowcount
        )

    # access tokens

    async def issue_access_token(
        self, dev_id: str, token: str, now: int, expires_at: int, keep_until: int
    ) -> None:
        def work(c: sqlite3.Connection) -> None:
            c.execute(
                "DELETE FROM access_tokens WHERE dev_id = ? AND expires_at < ?",
                (dev_id, keep_until),
            )
            c.execute(sql.REVOKE_TOKENS, (dev_id,))
            c.execute(
                "INSERT INTO access_tokens (token, dev_id, issued_at, expires_at, live)"
                " VALUES (?, ?, ?, ?, 1)",
                (token, dev_id, now, expires_at),
            )

        await self._write(work)

    async def lookup_access_token(self, token: str) -> AccessTokenState | None:
        row = await self._read(
            lambda c: c.execute(
                "SELECT t.dev_id, t.expires_at, t.live, d.status FROM access_tokens t"
                " JOIN developers d ON d.dev_id = t.dev_id WHERE t.token = ?",
                (token,),
            ).fetchone()
        )
        if row is None:
            return None
        return AccessTokenState(row[0], row[1], bool(row[2]), row[3] == "active")

    # apps

    async def create_app(self, app: App, max_apps: int = 0) -> None:
        def work(c: sqlite3.Connection) -> None:
            # (one writer: nothing is created between the count and the insert)
            if max_apps and c.execute(sql.LIVE_APPS_OF, (app.dev_id,)).fetchone()[0] >= max_apps:
                raise LimitReached(max_apps)
            c.execute(
                sql.INSERT_APP,
                (
                    app.app_id,
                    app.dev_id,
                    app.app_name,
                    self._box.seal(app.app_secret),
                    app.status,
                    app.consumption_limit,
                    app.created_at,
                    app.updated_at,
                ),
            )
            _insert_services(c, app.app_id, app.services)

        try:
            await self._write(work)
        except sqlite3.IntegrityError as exc:
            raise _conflict(exc) from exc
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
            apps = await self._read(lambda c: _get_apps_any_dev(c, app_id, self._box))
            if not apps:
                return None
            app = apps[0]
            self._apps.fill(app, generation)
        return app

    async def list_apps(self, dev_id: str, offset: int, limit: int) -> tuple[int, list[App]]:
        def work(c: sqlite3.Connection) -> tuple[int, list[App]]:
            # One read transaction, so that total and page agree.
            c.execute("BEGIN")
            try:
                total = c.execute(
                    "SELECT count(*) FROM apps WHERE dev_id = ? AND deleted_at IS NULL", (dev_id,)
                ).fetchone()[0]
                ids = [
                    row[0]
                    for row in c.execute(
                        "SELECT app_id FROM apps WHERE dev_id = ? AND deleted_at IS NULL"
                        " ORDER BY seq LIMIT ? OFFSET ?",
                        (dev_id, limit, offset),
                    )
                ]
                return total, _get_apps(c, dev_id, ids, self._box)
            finally:
                c.execute("COMMIT")

        return await self._read(work)

    async def update_app(self, dev_id: str, app_id: str, patch: AppPatch, now: int) -> App | None:
        def work(c: sqlite3.Connection) -> App | None:
            sql, args = update_app(patch, now, app_id, dev_id)
            if not c.execute(sql, args).rowcount:
                return None
            if patch.services is not None:
                c.execute("DELETE FROM app_services WHERE app_id = ?", (app_id,))
                _insert_services(c, app_id, patch.services)
            return _get_apps(c, dev_id, [app_id], self._box)[0]

        try:
            app = await self._write(work)
        except sqlite3.IntegrityError as exc:
            raise _conflict(exc) from exc
        if app is not None:
            self._apps.put(app)
        return app

    async def delete_app(self, dev_id: str, app_id: str, now: int) -> bool:
        deleted = await self._write(
            lambda c: (
                c.execute(
                    "UPDATE apps SET deleted_at = ?, updated_at = ?"
                    " WHERE app_id = ? AND dev_id = ? AND deleted_at IS NULL",
                    (now, now, app_id, dev_id),
                ).rowcount
                > 0
            )
        )
        if deleted:
            self._apps.drop(app_id)
        return deleted


def _insert_services(c: sqlite3.Connection, app_id: str, services: Iterable[AppService]) -> None:
    c.executemany(
        "INSERT INTO app_services (app_id, service_id, use_limit) VALUES (?, ?, ?)",
        [(app_id, s.service_id, s.use_limit) for s in services],
    )


def _get_apps_any_dev(c: sqlite3.Connection, app_id: str, box: SecretBox) -> list[App]:
    rows = c.execute(
        f"SELECT {APP_COLUMNS} FROM apps a LEFT JOIN app_services s ON s.app_id = a.app_id"
        " WHERE a.app_id = ? AND a.deleted_at IS NULL ORDER BY s.service_id",
        (app_id,),
    ).fetchall()
    return apps_from_rows(rows, box)


def _get_apps(c: sqlite3.Connection, dev_id: str, app_ids: list[str], box: SecretBox) -> list[App]:
    if not app_ids:
        return []
    marks = ", ".join("?" * len(app_ids))
    rows = c.execute(
        f"SELECT {APP_COLUMNS} FROM apps a LEFT JOIN app_services s ON s.app_id = a.app_id"
        f" WHERE a.dev_id = ? AND a.deleted_at IS NULL AND a.app_id IN ({marks})"
        " ORDER BY a.seq, s.service_id",
        (dev_id, *app_ids),
    ).fetchall()
    return apps_from_rows(rows, box)


def _conflict(exc: sqlite3.IntegrityError) -> Exception:
    if "app_name" in str(exc):
        return Conflict("app_name")
    return exc
