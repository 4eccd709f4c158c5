"""What can go wrong in a command, as one line that says what to do.

CliError                 exit status 1: the command could not do its work
└── UsageError           exit status 2: the command line (or a setting) is wrong

``explain`` maps the exceptions of the libraries underneath (SDK, httpx,
websockets, the store, PostgreSQL, settings) to a ``CliError``, in one place;
``hstgw.cli.main`` is the one boundary that prints it.
"""

from __future__ import annotations

import sys
from typing import Any

from hstgw.sdk import APIError, ConfigurationError, HstgwError

__all__ = ["CliError", "UsageError", "explain"]

DEBUG_HINT = "run again with --debug (or HSTGW_LOG_LEVEL=debug) to see the traceback"


class CliError(Exception):
    exit_status = 1

    def __init__(self, msg: str, **context: Any) -> None:
        super().__init__(msg)
        self.msg = msg
        self.context = {k: v for k, v in context.items() if v is not None}


class UsageError(CliError):
    exit_status = 2


def explain(exc: BaseException) -> CliError:
    """The line for ``exc``; an exception nobody expected says so, and how to see more."""
    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, APIError):
        return CliError(exc.msg, code=exc.code, request_id=exc.request_id)
    if isinstance(exc, ConfigurationError):
        return CliError(str(exc))
    if isinstance(exc, HstgwError):  # the SDK's connection and status errors
        return CliError(f"{exc}: is the gateway running at --base-url (HSTGW_BASE_URL)?")
    found = _store_error(exc) or _database_error(exc)
    if found is not None:
        return found
    sqlite3 = sys.modules.get("sqlite3")
    if sqlite3 is not None and isinstance(exc, sqlite3.Error):
        return CliError(f"SQLite: {exc}: check the data directory (its permissions, free space)")
    if isinstance(exc, OSError):
        return CliError(f"{exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}")
    return CliError(f"unexpected error: {type(exc).__name__}: {exc}; {DEBUG_HINT}")


def _store_error(exc: BaseException) -> CliError | None:
    base = sys.modules.get("hstgw.store.base")  # not loaded: not one of its errors
    if base is None or not isinstance(exc, base.StoreError):
        return None
    text = str(exc)
    if "HSTGW_SECRET_KEY" in text:
        return CliError(
            f"{text.split(' (', 1)[0]}: set HSTGW_SECRET_KEY to the key the data was written "
            "with (unset, the embedded store uses hstgw.key in the data directory)"
        )
    if text.startswith("cannot reach PostgreSQL"):
        return CliError(f"{text}: is PostgreSQL running at HSTGW_DATABASE_URL?")
    return CliError(text)


def _database_error(exc: BaseException) -> CliError | None:
    asyncpg = sys.modules.get("asyncpg")
    if asyncpg is None:
        return None
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return CliError(
            f"PostgreSQL: {exc}: create it (createdb, or CREATE DATABASE in psql) or "
            "correct HSTGW_DATABASE_URL"
        )
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        return CliError(f"PostgreSQL: {exc}: check the user and password in HSTGW_DATABASE_URL")
    if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError):
        return CliError(f"PostgreSQL: {exc}")
    return None
