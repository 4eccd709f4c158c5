"""The embedded store: one SQLite file in WAL mode (engine.py says how it is used)."""

from __future__ import annotations

from hstgw.store.protocols import Store
from hstgw.store.sqlite.accounts import AccountsStore
from hstgw.store.sqlite.billing import BillingStore
from hstgw.store.sqlite.events import EventStore
from hstgw.store.sqlite.webhooks import WebhooksStore

__all__ = ["SqliteStore"]


class SqliteStore(AccountsStore, BillingStore, EventStore, WebhooksStore, Store):
    """``serving=True``: take the data directory's lock and cache apps (the server);
    ``serving=False``: neither (the operator CLI, beside a running server)."""
