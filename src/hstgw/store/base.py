"""What the gateway keeps: the rows and the errors of every store engine.

Rows are plain dataclasses; engines (SQLite, PostgreSQL) translate them to SQL. The
rows a read returns by the hundred (records, summaries' terms) are named tuples: a
frozen dataclass of 20 fields took ~4.8 µs to make, a named tuple ~0.6.
The interface they implement is in protocols.py. Engines raise only the errors below.

Exception tree::

    StoreError
    ├── Conflict       a uniqueness rule was hit (e.g. an app name in use)
    ├── UnknownApp     a usage event names no app
    └── Unavailable    the engine is busy or unreachable; retrying may work
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = [
    "AccessTokenState",
    "App",
    "AppPatch",
    "AppService",
    "Conflict",
    "Developer",
    "IdempotencyClaim",
    "IngestResult",
    "LimitReached",
    "Node",
    "OnlineUsage",
    "Rater",
    "RecordRow",
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


class LimitReached(StoreError):
    """A write refused because its owner holds as many rows of the kind as allowed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"at most {limit}")


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


class RecordRow(NamedTuple):
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


class TermSum(NamedTuple):
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
