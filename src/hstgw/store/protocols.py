"""The store interface: one protocol per kind of data, and ``Store``, all of them.

A service types its dependency as the narrow protocol it uses (``Nodes`` takes a
``NodeStore``, ``Quota`` a ``UsageStore``), so that what it may touch is written in its
signature and a test can hand it a small fake. Both engines subclass ``Store``
explicitly: mypy refuses to build one that leaves a member out. ``now`` arguments are
epoch milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from hstgw.events.model import Event, GroupSnapshot
from hstgw.store.base import (
    AccessTokenState,
    App,
    AppPatch,
    Developer,
    IdempotencyClaim,
    IngestResult,
    Node,
    OnlineUsage,
    Rater,
    RecordRow,
    TermSum,
)
from hstgw.store.eventplan import AppendPlan, Batch, GroupLimits
from hstgw.store.webhooks import WebhookStore

__all__ = [
    "AccessTokenStore",
    "AppStore",
    "DeveloperStore",
    "EventStore",
    "IdempotencyStore",
    "Maintenance",
    "NodeStore",
    "RecordStore",
    "Store",
    "UsageStore",
    "WebhookStore",
]


class Maintenance(Protocol):
    """The engine itself: opening, closing, upkeep, and a statement of the operator's."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def maintain(self) -> None:
        """Called every few seconds by the serving node: repair what a fault broke."""
        ...

    async def run_sql(self, statement: str) -> list[tuple[Any, ...]]:
        """Run one SQL statement (committed at once) and return its rows.

        For diagnostics and tests only (what the schema holds, a PRAGMA, a row made as an
        older version wrote it): services use the typed methods, which keep the rules.
        """
        ...


class DeveloperStore(Protocol):
    async def create_developer(self, dev: Developer) -> None: ...

    async def get_developer(self, dev_id: str) -> Developer | None: ...

    async def list_developers(self) -> list[Developer]: ...

    async def set_developer_secret(self, dev_id: str, secret: str) -> bool:
        """Replace the secret; revoke the developer's live access token and end its
        console sessions."""
        ...

    async def set_developer_status(self, dev_id: str, status: str) -> bool:
        """Enable or disable; disabling revokes the live access token and ends the
        console sessions (re-enabling brings neither back)."""
        ...


class ConsoleSessionStore(Protocol):
    """The console's sessions, by the digest of their cookie's nonce."""

    async def open_console_session(
        self, session_id: str, dev_id: str, expires_at: int, now: int
    ) -> None:
        """Keep a new session (the developer's that expired by ``now`` go)."""
        ...

    async def console_session(self, session_id: str, now: int) -> str | None:
        """The dev_id of a session still open at ``now``."""
        ...

    async def end_console_session(self, session_id: str) -> None: ...

    async def purge_console_sessions(self, before: int) -> int:
        """Forget the sessions that expired before ``before``."""
        ...


class AccessTokenStore(Protocol):
    async def issue_access_token(
        self, dev_id: str, token: str, now: int, expires_at: int, keep_until: int
    ) -> None:
        """Make ``token`` the one live token of ``dev_id``, atomically.

        The previous live token is superseded in the same transaction; tokens
        that expired before ``keep_until`` are forgotten.
        """
        ...

    async def lookup_access_token(self, token: str) -> AccessTokenState | None: ...


class IdempotencyStore(Protocol):
    """Idempotency-Key: who holds a key, and the response it got."""

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
        ...

    async def idempotency_finish(self, owner: str, key: str, response: str) -> None: ...

    async def idempotency_release(self, owner: str, key: str) -> None:
        """Give the key back (the request could not be served; a retry may use it)."""
        ...

    async def idempotency_purge(self, before: int) -> int: ...


class AppStore(Protocol):
    async def create_app(self, app: App, max_apps: int = 0) -> None:
        """Raises ``Conflict`` for a name in use, ``LimitReached`` when the developer
        holds ``max_apps`` live apps already (0: no limit); the count and the insert
        are one step, so that concurrent creates cannot pass the limit together."""
        ...

    async def find_app(self, app_id: str) -> App | None:
        """A live app of any developer (for terminal logins and nodes)."""
        ...

    async def get_app(self, dev_id: str, app_id: str) -> App | None:
        """A live app of ``dev_id``; another developer's app is None."""
        app = await self.find_app(app_id)
        return app if app is not None and app.dev_id == dev_id else None

    async def list_apps(self, dev_id: str, offset: int, limit: int) -> tuple[int, list[App]]: ...

    def forget_apps(self, app_ids: Iterable[str] | None) -> None:
        """Drop cached apps (all of them for None): another node changed them."""
        ...

    async def update_app(
        self, dev_id: str, app_id: str, patch: AppPatch, now: int
    ) -> App | None: ...

    async def delete_app(self, dev_id: str, app_id: str, now: int) -> bool: ...


class NodeStore(Protocol):
    """The media and recording nodes that report usage (only their keys' hashes)."""

    async def create_node(self, node: Node, key_hash: str) -> None: ...

    async def list_nodes(self) -> list[Node]: ...

    async def revoke_node(self, node_id: str) -> bool: ...

    async def node_by_key(self, key_hash: str) -> Node | None: ...


class UsageStore(Protocol):
    """Usage coming in (nodes' events, the online service's counts) and the
    month-to-date counters it adds to."""

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
        ...

    async def month_usage(self, app_id: str, month: str) -> dict[int, tuple[int, int]]:
        """service_id -> (use, amount in millionths of a yuan) so far this month."""
        ...

    async def add_online_usage(self, rows: list[OnlineUsage], now: int) -> None:
        """Add ``signaling`` to the stored counts; keep the larger ``peak_terminals``."""
        ...

    async def online_usage(self, app_id: str) -> list[OnlineUsage]: ...

    async def unrated_peaks(self, before_day: str) -> list[OnlineUsage]: ...

    async def mark_peaks_rated(self, rows: list[OnlineUsage]) -> None: ...


class RecordStore(Protocol):
    """Rated records read back, always of one developer (``dev_id`` scopes every query:
    another developer's app_id matches nothing)."""

    async def list_records(
        self,
        dev_id: str,
        start: int,
        end: int,
        app_id: str | None,
        offset: int,
        limit: int,
        charge_term: int | None = None,
    ) -> tuple[int, list[RecordRow]]: ...

    async def summarize(self, dev_id: str, month: str, app_id: str | None) -> list[TermSum]:
        """The month's totals (``YYYY-MM`` in HSTGW_TIME_ZONE, of the records'
        start_time) per app and charge term, read from the maintained month_totals."""
        ...

    async def spend_by_term(self, dev_id: str, month: str) -> list[tuple[int, int]]:
        """(charge_term, amount in millionths) of ``month``; terms without records absent."""
        ...

    async def spend_by_app_term(self, dev_id: str, month: str) -> list[tuple[str, int, int, int]]:
        """(app_id, charge_term, records, amount in millionths) of ``month``, by app and term."""
        ...

    async def spend_buckets(
        self,
        dev_id: str,
        start: int,
        end: int,
        bucket_ms: int,
        app_id: str | None = None,
        charge_term: int | None = None,
    ) -> list[tuple[int, int]]:
        """(bucket, amount in millionths) of the records whose start_time lies in
        [start, end] (of ``app_id``, of ``charge_term``, when given), bucket =
        (start_time - start) // bucket_ms; empty buckets absent."""
        ...


class EventStore(Protocol):
    """The event log and the groups it describes (hstgw.events.log is its one writer)."""

    async def append_events(self, batch: Batch, limits: GroupLimits, now: int) -> AppendPlan:
        """Apply ``batch`` (entries of one or more apps, in order) in one transaction:
        each app's next versions, the groups changed, the limits checked against the
        groups as they are in it (concurrent appends take turns per app)."""
        ...

    async def event_version(self, app_id: str) -> int: ...

    async def events_after(self, app_id: str, version: int, limit: int) -> list[Event] | None:
        """Up to ``limit`` events after ``version``; None if some were pruned."""
        ...

    async def group_snapshot(self, app_id: str, group_ids: list[str] | None) -> GroupSnapshot:
        """The groups (all, or those named) and the version, read in one transaction."""
        ...

    async def event_heads(self, since: int) -> dict[str, int]:
        """Each app's version, of the apps whose version moved at or after ``since``."""
        ...

    async def members_of_node(self, node: str) -> list[tuple[str, str, str, str]]:
        """(app_id, group_id, user_id, holder) of the memberships held on ``node``."""
        ...

    async def member_nodes(self) -> list[str]:
        """The nodes that hold memberships (gateway nodes, ``media:<node_id>``)."""
        ...

    async def prune_events(self, before: int) -> int:
        """Forget events (and reporting nodes' keys) taken before ``before``."""
        ...


class Store(
    Maintenance,
    DeveloperStore,
    AccessTokenStore,
    ConsoleSessionStore,
    IdempotencyStore,
    AppStore,
    NodeStore,
    UsageStore,
    RecordStore,
    EventStore,
    WebhookStore,
    Protocol,
):
    """Everything a store engine keeps: what the composition root opens and hands on."""
