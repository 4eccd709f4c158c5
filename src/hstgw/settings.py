"""Typed settings, read from ``HSTGW_*`` environment variables and ``.env``.

Every setting is listed in docs/configuration.md. In ``production`` the settings
refuse values that are only fine on a developer's machine.
"""

from __future__ import annotations

import ipaddress
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from hstgw.abuse import Rule, Rules
from hstgw.billing.prices import PriceTable
from hstgw.secretbox import SecretBoxError, parse_key

__all__ = ["Settings"]

_WILDCARD = {"0.0.0.0", "::", ""}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HSTGW_", env_file=".env", extra="ignore", frozen=True
    )

    env: Literal["development", "production"] = "development"
    # PostgreSQL instead of the embedded SQLite file: postgresql://user@host:port/db
    database_url: str = ""
    database_schema: str = ""  # a schema of the database for the gateway's tables
    # Redis for access tokens, presence and routing: with it, any number of nodes on
    # one database serve as one gateway (cluster mode). redis://host:port/db
    redis_url: str = ""
    # The master key that seals developers' and apps' secrets at rest: 64 hex characters.
    # Unset, the embedded default makes one and keeps it in the data directory
    # (hstgw.key); production and cluster nodes must be given it.
    secret_key: SecretStr = SecretStr("")
    # A cluster node that has not renewed its lease for this long is dead: its
    # terminals are listed offline (docs/deployment.md), seconds.
    node_lease: float = Field(default=15.0, ge=1, le=300)
    # How long a node waits for another to deliver to its terminals, seconds.
    route_timeout: float = Field(default=2.0, ge=0.05, le=30)
    host: str = "127.0.0.1"
    port: int = Field(default=28000, ge=0, le=65535)
    data_dir: Path = Path("hstgw-data")
    # Terminals' WebSocket listener (design 5); the REST API tells clients where it is.
    terminal_host: str = ""  # empty: the same as host
    terminal_port: int = Field(default=28001, ge=0, le=65535)
    # The business gateway's URL as its clients reach it (GET /server/address?appType=10),
    # e.g. https://api.example.com; empty: made from the request's Host header.
    public_url: str = ""
    # What to tell terminals when the gateway sits behind a proxy, e.g. wss://rtc.example.com/ws
    terminal_public_url: str = ""
    # The event gateway's WebSocket listener (design 8, docs/events.md): a developer's
    # backend subscribes to its apps' events there (GET /server/address?appType=8).
    event_host: str = ""  # empty: the same as host
    event_port: int = Field(default=29200, ge=0, le=65535)
    # What to tell backends when the gateway sits behind a proxy, e.g. wss://events.example.com
    event_public_url: str = ""
    # Open connections on the event port, in all and from one address.
    event_max_connections: int = Field(default=10_000, ge=1, le=1_000_000)
    event_max_connections_per_address: int = Field(default=100, ge=1, le=1_000_000)
    # Logged-in event gateway sessions of one developer on a node (0: no limit): one
    # developer, from many addresses, cannot take every session of the node.
    event_max_sessions_per_developer: int = Field(default=1000, ge=0, le=1_000_000)
    # Frames a subscriber may leave unread before it is closed as too slow (4008; it
    # resumes with from_version), and how often its access_token is asked again, s.
    event_queue: int = Field(default=1024, ge=16, le=1_000_000)
    event_token_check: float = Field(default=5.0, ge=0.05, le=600)
    heartbeat_interval: float = Field(default=30.0, ge=0.1, le=600)
    presence_retention: int = Field(default=86400, ge=0, le=30 * 86400)
    message_rate: float = Field(default=100.0, gt=0, le=10_000)
    usage_flush_interval: float = Field(default=10.0, gt=0, le=60)
    # Groups (docs/events.md): users in one group, and groups one terminal is in at once
    # (0: no limit). Events are kept this long (seconds) for readers that resume.
    group_max_users: int = Field(default=1000, ge=0, le=1_000_000)
    groups_per_terminal: int = Field(default=16, ge=0, le=10_000)
    # Group frames (each a durable event, kept event_retention) one terminal may send a
    # second, in bursts of 10 times as many; 0: no limit.
    limit_group_frames_per_terminal: float = Field(default=10.0, ge=0, le=10_000)
    event_retention: int = Field(default=7 * 86400, ge=60, le=365 * 86400)
    # Price overrides by name (docs/billing.md), JSON: {"peak_terminal": "0.05"}
    prices: dict[str, Decimal] = Field(default_factory=dict)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Log lines as JSON objects, or as text for a person; unset: text when stderr is
    # a terminal, else JSON.
    log_format: Literal["text", "json"] | None = None
    access_log: bool = True
    # The developer console under /console on the REST port (docs/console.md): on|off.
    console: bool = True
    # How long a console session lasts after its sign-in, seconds.
    console_session_ttl: int = Field(default=8 * 3600, ge=60, le=7 * 86400)
    time_zone: str = "Asia/Shanghai"
    # Lifetime of an issued access_token, seconds (the platform answers 7200).
    access_token_ttl: int = Field(default=7200, ge=60, le=86400)
    # Age after which a developer or terminal token without `et` is refused, seconds.
    token_max_age: int = Field(default=86400, ge=60, le=7 * 86400)
    # How far a token's build time may lie in the future (clock skew), seconds.
    token_future_skew: int = Field(default=300, ge=0, le=3600)
    # How long a verified access_token is trusted without asking the store, seconds
    # (bounds how late an operator's `dev disable` takes effect; 0 disables the cache).
    auth_cache_ttl: float = Field(default=1.0, ge=0, le=60)
    # Apps the serving process keeps in memory (exact: it is their only writer); 0: none.
    app_cache_size: int = Field(default=100_000, ge=0, le=10_000_000)
    # The embedded store's page cache per connection (two connections), MiB; the
    # database file is also mapped into memory up to 8 times this. Large by default
    # because billing indexes reach millions of rows (docs/performance.md).
    sqlite_cache_mib: int = Field(default=128, ge=2, le=64 * 1024)
    # When the embedded store's commits reach the disk (docs/operations.md "Durability"):
    # "normal" survives a crash of the process, "full" also a power loss or OS crash.
    sqlite_synchronous: Literal["normal", "full"] = "normal"
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    # A terminal token logs in once within its validity (docs/security.md); a reconnect
    # uses the resume credential of its login, valid this long (seconds).
    token_replay_protection: bool = True
    terminal_resume_ttl: int = Field(default=86400, ge=60, le=30 * 86400)
    # Connections (docs/security.md). Peers whose X-Forwarded-For names the client:
    # IPs or CIDRs, comma-separated; none by default (the peer is the client).
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The REST port's server: "hstgw" (its own: connection caps, deadlines) or
    # "granian" (~1.5 times the calls a second on two cores, none of those limits: only
    # behind a proxy that holds them, so it needs trusted_proxies; docs/deployment.md).
    http_server: Literal["hstgw", "granian"] = "hstgw"
    # Open connections on the REST port, in all and from one address (a trusted proxy
    # is bounded by the total only).
    http_max_connections: int = Field(default=4096, ge=1, le=1_000_000)
    http_max_connections_per_address: int = Field(default=256, ge=1, le=1_000_000)
    # A REST connection idle this long is closed (also before its first request), s.
    http_keep_alive: float = Field(default=5.0, gt=0, le=600)
    # From a request's first byte to the end of its headers, and then of its body, s.
    http_header_timeout: float = Field(default=10.0, gt=0, le=600)
    http_body_timeout: float = Field(default=30.0, gt=0, le=3600)
    # Open connections on the terminal port, in all and from one address (offices and
    # mobile carriers put many terminals behind one address).
    terminal_max_connections: int = Field(default=100_000, ge=1, le=10_000_000)
    terminal_max_connections_per_address: int = Field(default=2000, ge=1, le=10_000_000)
    # Descriptors kept out of both caps for the store, Redis, logs and the like.
    fd_reserve: int = Field(default=512, ge=16, le=1_000_000)
    # Abuse limits (docs/security.md); 0 turns one off.
    # Failed authentications per source address, and per developer, per 10 minutes.
    limit_auth_failures_per_address: int = Field(default=30, ge=0)
    limit_auth_failures_per_developer: int = Field(default=10, ge=0)
    # Access tokens issued per developer per minute.
    limit_tokens_per_developer: int = Field(default=60, ge=0)
    # Business calls per developer per second (bursts of twice as many).
    limit_calls_per_developer: int = Field(default=1000, ge=0)
    # Terminal logins per app per second (bursts of ten times as many: an app's
    # terminals coming back at once after a node was lost).
    limit_logins_per_app: int = Field(default=1000, ge=0)
    # Terminals online at once per app (the platform's promise: 10,000).
    limit_terminals_per_app: int = Field(default=10_000, ge=0)
    # Failed terminal logins (bad token, resume credential or app_id) per source
    # address per minute; only logins whose token verified take from the app's logins.
    limit_login_failures_per_address: int = Field(default=120, ge=0)
    # Apps a developer may hold at once (deleted ones do not count): every app is kept
    # in memory caches and swept, so one developer must not create millions.
    limit_apps_per_developer: int = Field(default=1000, ge=0)
    # Token logins per developer whose state (replay key, resume credentials, offline
    # entry) is kept: past it, the oldest's goes (a backend logging in made-up users
    # must not grow the process without end; docs/security.md).
    limit_retained_logins_per_developer: int = Field(default=100_000, ge=100)
    # Invitees of a developer's pending invites, all its apps together (each kept 10
    # minutes for its reply): past it, the developer's oldest invites go. At least one
    # invite's worth (500 targets).
    limit_invitees_per_developer: int = Field(default=100_000, ge=500)
    # Webhooks (docs/webhooks.md). Endpoints a developer may register (0: no limit).
    limit_webhooks_per_developer: int = Field(default=20, ge=0, le=10_000)
    # Deliver to private, loopback, link-local, multicast and unspecified addresses too
    # (refused by default: a webhook URL must not reach the operator's own network).
    webhook_allow_private: bool = False
    # One attempt's deadline (connect, send, response), seconds.
    webhook_timeout: float = Field(default=10.0, gt=0, le=120)
    # Attempts of one developer's endpoints in flight at once on a node: receivers that
    # hang cannot take every connection the node makes for all developers.
    webhook_concurrency_per_developer: int = Field(default=64, ge=1, le=10_000)
    # How long a delivery is retried before its endpoint is marked failing, seconds.
    webhook_retry_for: int = Field(default=86400, ge=1, le=30 * 86400)
    # The first retry's delay, seconds; each next one doubles (with jitter), up to 1 h.
    webhook_retry_first: float = Field(default=1.0, gt=0, le=3600)
    # After a secret rotation, the old secret signs too (a second v1), this long, seconds.
    webhook_secret_grace: int = Field(default=86400, ge=0, le=30 * 86400)
    # How often each node looks for endpoints with work it was not woken for, seconds.
    webhook_sweep_interval: float = Field(default=5.0, gt=0, le=600)
    # The delivery log keeps finished deliveries this long, seconds.
    webhook_log_retention: int = Field(default=7 * 86400, ge=60, le=365 * 86400)

    @field_validator("prices")
    @classmethod
    def _known_prices(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        PriceTable.with_overrides(value)  # raises ValueError naming the bad entry
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [entry.strip() for entry in value.split(",") if entry.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                network = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or CIDR network") from None
            if network.prefixlen == 0:
                # (every peer a proxy: any client would name its own address, and the
                # per-address limits would count whatever it names)
                raise ValueError(
                    f"{entry!r} is every address: name the proxies' own addresses or networks"
                )
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        if value and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql://user@host:port/database URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://host:port/db URL")
        return value

    @field_validator("secret_key")
    @classmethod
    def _master_key(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value()
        if text:
            try:
                parse_key(text)
            except SecretBoxError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("database_schema")
    @classmethod
    def _schema_name(cls, value: str) -> str:
        if value and not value.replace("_", "a").isalnum():
            raise ValueError("must be letters, digits and _")
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _granian_behind_a_proxy(self) -> Self:
        if self.http_server == "granian" and not self.trusted_proxies:
            raise ValueError(
                "granian (HSTGW_HTTP_SERVER, hstgw serve --http-server) holds no "
                "per-address connection cap and no "
                "deadline for a body or a slow reader: it serves behind a proxy that holds "
                "them; name that proxy in HSTGW_TRUSTED_PROXIES (docs/deployment.md)"
            )
        return self

    @model_validator(mode="after")
    def _cluster_needs_postgres(self) -> Self:
        if self.redis_url and not self.database_url:
            raise ValueError(
                "HSTGW_REDIS_URL (cluster mode) needs HSTGW_DATABASE_URL: the nodes of a "
                "cluster share one PostgreSQL database"
            )
        if self.redis_url and not self.secret_key.get_secret_value():
            raise ValueError(
                "HSTGW_REDIS_URL (cluster mode) needs HSTGW_SECRET_KEY: every node must "
                "open the secrets the others sealed"
            )
        return self

    @model_validator(mode="after")
    def _ports_differ(self) -> Self:
        terminal_host = self.terminal_host or self.host
        shared = terminal_host == self.host or _WILDCARD & {terminal_host, self.host}
        if self.port and self.port == self.terminal_port and shared:
            raise ValueError(
                f"HSTGW_PORT and HSTGW_TERMINAL_PORT are both {self.port}: the REST API and "
                "the terminals need a port each (e.g. --port 28100 --terminal-port 28101)"
            )
        listeners = {
            "HSTGW_PORT": (self.host, self.port),
            "HSTGW_TERMINAL_PORT": (terminal_host, self.terminal_port),
        }
        event_host = self.event_host or self.host
        for name, (host, port) in listeners.items():
            same_host = host == event_host or _WILDCARD & {host, event_host}
            if port and port == self.event_port and same_host:
                raise ValueError(
                    f"{name} and HSTGW_EVENT_PORT are both {port}: the event gateway needs a "
                    "port of its own (e.g. --event-port 29200)"
                )
        return self

    @model_validator(mode="after")
    def _production_is_explicit(self) -> Self:
        if self.env == "production":
            if not self.data_dir.is_absolute():
                raise ValueError("HSTGW_DATA_DIR must be an absolute path in production")
            if not self.secret_key.get_secret_value():
                raise ValueError("HSTGW_SECRET_KEY (64 hex characters) is required in production")
            if self.token_max_age > 86400:
                raise ValueError("HSTGW_TOKEN_MAX_AGE above 86400 is refused in production")
        return self

    def limit_rules(self) -> Rules:
        return Rules(
            auth_failures_per_address=Rule.per(self.limit_auth_failures_per_address, 600),
            auth_failures_per_developer=Rule.per(self.limit_auth_failures_per_developer, 600),
            tokens_per_developer=Rule.per(self.limit_tokens_per_developer, 60),
            calls_per_developer=Rule(
                float(self.limit_calls_per_developer), 2 * self.limit_calls_per_developer
            ),
            logins_per_app=Rule(float(self.limit_logins_per_app), 10 * self.limit_logins_per_app),
            terminals_per_app=self.limit_terminals_per_app,
            login_failures_per_address=Rule.per(self.limit_login_failures_per_address, 60),
        )

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "hstgw.sqlite3"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)
