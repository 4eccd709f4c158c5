"""What the gateway keeps, and the async interface every store engine implements.

Rows are plain dataclasses; engines (SQLite now, PostgreSQL in cluster mode)
translate them to SQL. Engines raise only the errors below.

Exception tree::

    StoreError
    ├── Conflict       a uniqueness rule was hit (e.g. an app name in use)
    └── Unavailable    the engine is busy or unreachable; retrying may work
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

__all__ = [
    "AccessTokenState",
    "App",
    "AppPatch",
    "AppService",
    "Conflict",
    "Developer",
    "OnlineUsage",
    "Store",
    "StoreError",
    "Unavailable",
]


class StoreError(Exception):
    pass


class Conflict(StoreError):
    def __init__(self, field: str) -> None:
        self.field = field
        super().__init__(f"{field} already in use")


class Unavailable(StoreError):
    pass


@dataclass(frozen=True, slots=True)
class Developer:
    dev_id: str
    name: str
    secret: str
    status: str  # "active" | "disabled"
    created_at: int  # epoch ms


@dataclass(frozen=True, slots=True)
class AccessTokenState:
    dev_id: str
    expires_at: int  # epoch ms
    live: bool  # False once superseded or revoked
    developer_active: bool


@dataclass(frozen=True, slots=True)
class AppService:
    service_id: int
    use_limit: int | None = None


@dataclass(frozen=True, slots=True)
class App:
    app_id: str
    dev_id: str
    app_name: str
    app_secret: str
    status: str  # "online" | "offline"
    consumption_limit: int | None
    services: tuple[AppService, ...]
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class AppPatch:
    """The fields a PATCH changes; ``None`` means "leave as is".

    ``consumption_limit`` may be set to ``None`` (no limit), hence its flag.
    """

    app_name: str | None = None
    status: str | None = None
    set_consumption_limit: bool = False
    consumption_limit: int | None = None
    services: tuple[AppService, ...] | None = None


@dataclass(frozen=True, slots=True)
class OnlineUsage:
    """Counted by the online service for one app and day (``YYYY-MM-DD``)."""

    app_id: str
    day: str
    signaling: int  # receptions; added up
    peak_terminals: int  # the day's maximum


class Store(abc.ABC):
    """The async store interface. ``now`` arguments are epoch milliseconds."""

    @abc.abstractmethod
    async def open(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    # developers
    @abc.abstractmethod
    async def create_developer(self, dev: Developer) -> None: ...

    @abc.abstractmethod
    async def get_developer(self, dev_id: str) -> Developer | None: ...

    @abc.abstractmethod
    async def list_developers(self) -> list[Developer]: ...

    @abc.abstractmethod
    async def set_developer_secret(self, dev_id: str, secret: str) -> bool:
        """Replace the secret and revoke the developer's live access token."""

    @abc.abstractmethod
    async def set_developer_status(self, dev_id: str, status: str) -> bool:
        """Enable or disable; disabling revokes the live access token."""

    # access tokens
    @abc.abstractmethod
    async def issue_access_token(
        self, dev_id: str, token: str, now: int, expires_at: int, keep_until: int
    ) -> None:
        """Make ``token`` the one live token of ``dev_id``, atomically.

        The previous live token is superseded in the same transaction; tokens
        that expired before ``keep_until`` are forgotten.
        """

    @abc.abstractmethod
    async def lookup_access_token(self, token: str) -> AccessTokenState | None: ...

    # apps
    @abc.abstractmethod
    async def create_app(self, app: App) -> None: ...

    @abc.abstractmethod
    async def find_app(self, app_id: str) -> App | None:
        """A live app of any developer (for terminal logins)."""

    async def get_app(self, dev_id: str, app_id: str) -> App | None:
        """A live app of ``dev_id``; another developer's app is None."""
        app = await self.find_app(app_id)
        return app if app is not None and app.dev_id == dev_id else None

    @abc.abstractmethod
    async def list_apps(self, dev_id: str, offset: int, limit: int) -> tuple[int, list[App]]: ...

    @abc.abstractmethod
    async def update_app(
        self, dev_id: str, app_id: str, patch: AppPatch, now: int
    ) -> App | None: ...

    @abc.abstractmethod
    async def delete_app(self, dev_id: str, app_id: str, now: int) -> bool: ...

    # online usage
    @abc.abstractmethod
    async def add_online_usage(self, rows: list[OnlineUsage], now: int) -> None:
        """Add ``signaling`` to the stored counts; keep the larger ``peak_terminals``."""

    @abc.abstractmethod
    async def online_usage(self, app_id: str) -> list[OnlineUsage]: ...
