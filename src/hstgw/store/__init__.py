"""Durable data: the store interface (one protocol per kind of data), its engines and
the schema migrations."""

from pathlib import Path

from hstgw.secretbox import KEY_FILE, SecretBox, load_or_make_key, parse_key
from hstgw.settings import Settings
from hstgw.store.base import (
    AccessTokenState,
    App,
    AppPatch,
    AppService,
    Conflict,
    Developer,
    IdempotencyClaim,
    IngestResult,
    LimitReached,
    Node,
    OnlineUsage,
    RecordRow,
    StoreError,
    TermSum,
    Unavailable,
    UnknownApp,
)
from hstgw.store.protocols import (
    AccessTokenStore,
    AppStore,
    DeveloperStore,
    EventStore,
    IdempotencyStore,
    Maintenance,
    NodeStore,
    RecordStore,
    Store,
    UsageStore,
    WebhookStore,
)
from hstgw.store.sqlite import SqliteStore
from hstgw.store.webhooks import DeliveryRow, WebhookRow

__all__ = [
    "AccessTokenState",
    "AccessTokenStore",
    "App",
    "AppPatch",
    "AppService",
    "AppStore",
    "Conflict",
    "DeliveryRow",
    "Developer",
    "DeveloperStore",
    "EventStore",
    "IdempotencyClaim",
    "IdempotencyStore",
    "IngestResult",
    "LimitReached",
    "Maintenance",
    "Node",
    "NodeStore",
    "OnlineUsage",
    "RecordRow",
    "RecordStore",
    "SqliteStore",
    "Store",
    "StoreError",
    "TermSum",
    "Unavailable",
    "UnknownApp",
    "UsageStore",
    "WebhookRow",
    "WebhookStore",
    "open_store",
]


def open_store(settings: Settings, *, serving: bool = False) -> Store:
    """The store the settings select, not yet opened: PostgreSQL with
    ``HSTGW_DATABASE_URL``, else the embedded SQLite file in the data directory.

    ``serving``: for the gateway process itself, which owns the data directory or
    the database.
    """
    key = settings.secret_key.get_secret_value()
    box = SecretBox(parse_key(key) if key else load_or_make_key(Path(settings.data_dir) / KEY_FILE))
    if settings.database_url:
        from hstgw.store.postgres import PostgresStore

        return PostgresStore(
            settings.database_url,
            box=box,
            schema=settings.database_schema,
            serving=serving,
            cluster=bool(settings.redis_url),
            app_cache_size=settings.app_cache_size,
            zone=settings.time_zone,
        )
    return SqliteStore(
        Path(settings.sqlite_path),
        box=box,
        cache_mib=settings.sqlite_cache_mib,
        synchronous=settings.sqlite_synchronous,
        serving=serving,
        app_cache_size=settings.app_cache_size if serving else 0,
        zone=settings.time_zone,
    )
