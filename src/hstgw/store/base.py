"""What the gateway keeps, and the async interface every store engine implements.

Rows are plain dataclasses; engines (SQLite now, PostgreSQL in cluster mode)
translate them to SQL. Engines raise only the errors below.

Exception tree::

    StoreError
    ├── Conflict       a uniqueness rule was hit (e.g. an app name in use)
    ├── UnknownApp     a usage event names no app
    └── Unavailable    the engine is busy or unreachable; retrying may work
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AccessTokenState",
    "App",
    "AppPatch",
    "AppService",
    "Conflict",
    "Developer",
    "IdempotencyClaim",
    "IngestResult",
    "Node",
    "OnlineUsage",
    "Rater",
    "RecordRow",
    "Store",
    "StoreError",
    "TermSum",
    "Unavailable",
    "UnknownApp",
]


class StoreError(Exception):
    pass


class Conflict(StoreError):
    def __init__(self, field: str) -> None:
        self.field = field
        super().__init__(f"{field} already in use")


class Unavailable(StoreError):
    # The REST layer counts it in hstgw_store_errors (Redis's own subclass says no).
    counted_by_store_errors = True


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    """Who holds an Idempotency-Key: this request (``mine``), or an earlier one with
    its ``fingerprint`` and ``response`` (None while it is still being made)."""

    mine: bool
    fingerprint: str
    response: str | None


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


@dataclass(frozen=True, slots=True)
class Node:
    node_id: str
    name: str
    status: str  # "active" | "revoked"
    created_at: int


class UnknownApp(StoreError):
    """An event names an app that never existed; ``index`` is its place in the batch."""

    def __init__(self, index: int) -> None:
        self.index = index
        super().__init__(f"event {index}: no such app")


@dataclass(frozen=True, slots=True)
class IngestResult:
    accepted: int
    duplicates: int
    # (app_id, month) whose month-to-date use changed
    touched: frozenset[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class RecordRow:
    record_id: int
    event_id: str
    app_id: str
    app_name: str
    charge_term: int
    product_id: int
    start_time: int
    end_time: int
    total_time: int
    group_id: str
    user_id: str
    client_id: str
    stream_id: str
    resolution: str
    transfer_type: int
    total_sig_num: int
    quantity: str
    parties: int
    price_micro: int
    amount_micro: int


@dataclass(frozen=True, slots=True)
class TermSum:
    app_id: str
    app_name: str
    charge_term: int
    records: int
    amount_micro: int
    total_time: int
    total_sig_num: int
    quantity: str


# Rates one event in the ingestion transaction: (event, dev_id, signaling so far) -> Rated
Rater = Callable[[Any, str, MutableMapping[tuple[str, str], int]], Any]


class Store(abc.ABC):
    """The async store interface. ``now`` arguments are epoch milliseconds."""

    @abc.abstractmethod
    async def open(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def maintain(self) -> None:
        """Called every few seconds by the serving node: repair what a fault broke."""

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

    # Idempotency-Key
    @abc.abstractmethod
    async def idempotency_claim(
        self,
        owner: str,
        key: str,
        fingerprint: str,
        now: int,
        expired_before: int,
        abandoned_before: int,
    ) -> IdempotencyClaim:
        """Take ``key`` for this request, atomically, unless a row holds it that was
        made at or after ``expired_before`` (or, still without its response, at or
        after ``abandoned_before``)."""

    @abc.abstractmethod
    async def idempotency_finish(self, owner: str, key: str, response: str) -> None: ...

    @abc.abstractmethod
    async def idempotency_release(self, owner: str, key: str) -> None:
        """Give the key back (the request could not be served; a retry may use it)."""

    @abc.abstractmethod
    async def idempotency_purge(self, before: int) -> int: ...

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
    def forget_apps(self, app_ids: Iterable[str] | None) -> None:
        """Drop cached apps (all of them for None): another node changed them."""

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

    # nodes
    @abc.abstractmethod
    async def create_node(self, node: Node, key_hash: str) -> None: ...

    @abc.abstractmethod
    async def list_nodes(self) -> list[Node]: ...

    @abc.abstractmethod
    async def revoke_node(self, node_id: str) -> bool: ...

    @abc.abstractmethod
    async def node_by_key(self, key_hash: str) -> Node | None: ...

    # usage and records
    @abc.abstractmethod
    async def ingest(
        self,
        events: list[Any],
        rater: Rater,
        node_id: str,
        now: int,
        online_usage: list[OnlineUsage] | None = None,
    ) -> IngestResult:
        """Rate and keep the events not seen before, in one transaction, in order.

        Raises UnknownApp (nothing kept) if an event names no app. ``online_usage``
        rows are added in the same transaction.
        """

    @abc.abstractmethod
    async def month_usage(self, app_id: str, month: str) -> dict[int, tuple[int, int]]:
        """service_id -> (use, amount in millionths of a yuan) so far this month."""

    @abc.abstractmethod
    async def list_records(
        self, dev_id: str, start: int, end: int, app_id: str | None, offset: int, limit: int
    ) -> tuple[int, list[RecordRow]]: ...

    @abc.abstractmethod
    async def summarize(
        self, dev_id: str, start: int, end: int, app_id: str | None
    ) -> list[TermSum]: ...

    @abc.abstractmethod
    async def unrated_peaks(self, before_day: str) -> list[OnlineUsage]: ...

    @abc.abstractmethod
    async def mark_peaks_rated(self, rows: list[OnlineUsage]) -> None: ...
