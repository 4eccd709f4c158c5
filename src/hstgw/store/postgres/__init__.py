"""The store on PostgreSQL (``HSTGW_DATABASE_URL``); engine.py says how it is used."""

from __future__ import annotations

from hstgw.store.postgres.accounts import AccountsStore
from hstgw.store.postgres.billing import BillingStore
from hstgw.store.postgres.events import EventStore
from hstgw.store.postgres.webhooks import WebhooksStore
from hstgw.store.protocols import Store

__all__ = ["PostgresStore"]


class PostgresStore(AccountsStore, BillingStore, EventStore, WebhooksStore, Store):
    """``serving=True``: hold the database's serving lock and cache apps (the server);
    ``serving=False``: neither (the operator CLI)."""
