"""Settings: environment, validation, and what production refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hstgw.settings import Settings


def test_defaults_are_the_embedded_default() -> None:
    s = Settings(_env_file=None)
    assert (s.host, s.port, s.data_dir, s.access_token_ttl) == (
        "127.0.0.1",
        28000,
        Path("hstgw-data"),
        7200,
    )
    assert s.sqlite_path == Path("hstgw-data/hstgw.sqlite3")
    assert s.time_zone == "Asia/Shanghai"


def test_every_setting_reads_its_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "HSTGW_HOST": "0.0.0.0",
        "HSTGW_PORT": "8080",
        "HSTGW_DATA_DIR": "/srv/hstgw",
        "HSTGW_LOG_LEVEL": "warning",
        "HSTGW_LOG_FORMAT": "text",
        "HSTGW_ACCESS_LOG": "false",
        "HSTGW_TIME_ZONE": "UTC",
        "HSTGW_ACCESS_TOKEN_TTL": "600",
        "HSTGW_TOKEN_MAX_AGE": "3600",
        "HSTGW_TOKEN_FUTURE_SKEW": "60",
        "HSTGW_AUTH_CACHE_TTL": "0",
        "HSTGW_MAX_BODY_BYTES": "4096",
        "HSTGW_APP_CACHE_SIZE": "0",
        "HSTGW_TERMINAL_HOST": "0.0.0.0",
        "HSTGW_TERMINAL_PORT": "9001",
        "HSTGW_TERMINAL_PUBLIC_URL": "wss://rtc.example.com/ws",
        "HSTGW_HEARTBEAT_INTERVAL": "15",
        "HSTGW_PRESENCE_RETENTION": "3600",
        "HSTGW_MESSAGE_RATE": "50",
        "HSTGW_USAGE_FLUSH_INTERVAL": "5",
        "HSTGW_PRICES": '{"peak_terminal": "0.05"}',
        "HSTGW_DATABASE_URL": "postgresql://gw@db.internal:5432/hstgw",
        "HSTGW_DATABASE_SCHEMA": "gateway",
        "HSTGW_REDIS_URL": "redis://cache.internal:6379/2",
        "HSTGW_SECRET_KEY": "ab" * 32,
        "HSTGW_LIMIT_AUTH_FAILURES_PER_ADDRESS": "5",
        "HSTGW_LIMIT_AUTH_FAILURES_PER_DEVELOPER": "3",
        "HSTGW_LIMIT_TOKENS_PER_DEVELOPER": "7",
        "HSTGW_LIMIT_CALLS_PER_DEVELOPER": "0",
        "HSTGW_LIMIT_LOGINS_PER_APP": "9",
        "HSTGW_LIMIT_TERMINALS_PER_APP": "11",
        "HSTGW_LIMIT_LOGIN_FAILURES_PER_ADDRESS": "13",
        "HSTGW_LIMIT_APPS_PER_DEVELOPER": "17",
        "HSTGW_LIMIT_RETAINED_LOGINS_PER_DEVELOPER": "500",
        "HSTGW_LIMIT_INVITEES_PER_DEVELOPER": "600",
        "HSTGW_TOKEN_REPLAY_PROTECTION": "false",
        "HSTGW_SQLITE_CACHE_MIB": "16",
        "HSTGW_SQLITE_SYNCHRONOUS": "full",
        "HSTGW_TERMINAL_RESUME_TTL": "600",
        "HSTGW_NODE_LEASE": "20",
        "HSTGW_ROUTE_TIMEOUT": "1.5",
        "HSTGW_ENV": "production",
        "HSTGW_PUBLIC_URL": "https://api.example.com",
        "HSTGW_TRUSTED_PROXIES": "10.0.0.1, 192.168.0.0/16",
        "HSTGW_HTTP_SERVER": "granian",
        "HSTGW_HTTP_MAX_CONNECTIONS": "100",
        "HSTGW_HTTP_MAX_CONNECTIONS_PER_ADDRESS": "10",
        "HSTGW_HTTP_KEEP_ALIVE": "2",
        "HSTGW_HTTP_HEADER_TIMEOUT": "3",
        "HSTGW_HTTP_BODY_TIMEOUT": "4",
        "HSTGW_TERMINAL_MAX_CONNECTIONS": "200",
        "HSTGW_TERMINAL_MAX_CONNECTIONS_PER_ADDRESS": "20",
        "HSTGW_FD_RESERVE": "64",
        # the event gateway's
        "HSTGW_EVENT_HOST": "0.0.0.0",
        "HSTGW_EVENT_PORT": "9002",
        "HSTGW_EVENT_PUBLIC_URL": "wss://events.example.com",
        "HSTGW_EVENT_MAX_CONNECTIONS": "300",
        "HSTGW_EVENT_MAX_CONNECTIONS_PER_ADDRESS": "30",
        "HSTGW_EVENT_MAX_SESSIONS_PER_DEVELOPER": "40",
        "HSTGW_EVENT_QUEUE": "64",
        "HSTGW_EVENT_TOKEN_CHECK": "0.5",
        "HSTGW_LIMIT_WEBHOOKS_PER_DEVELOPER": "3",
        "HSTGW_WEBHOOK_ALLOW_PRIVATE": "true",
        "HSTGW_WEBHOOK_TIMEOUT": "2.5",
        "HSTGW_WEBHOOK_CONCURRENCY_PER_DEVELOPER": "7",
        "HSTGW_WEBHOOK_RETRY_FOR": "600",
        "HSTGW_WEBHOOK_RETRY_FIRST": "0.5",
        "HSTGW_WEBHOOK_SECRET_GRACE": "60",
        "HSTGW_WEBHOOK_SWEEP_INTERVAL": "2",
        "HSTGW_WEBHOOK_LOG_RETENTION": "3600",
        "HSTGW_GROUP_MAX_USERS": "50",
        "HSTGW_GROUPS_PER_TERMINAL": "4",
        "HSTGW_LIMIT_GROUP_FRAMES_PER_TERMINAL": "2.5",
        "HSTGW_EVENT_RETENTION": "3600",
        # the console's
        "HSTGW_CONSOLE": "off",
        "HSTGW_CONSOLE_SESSION_TTL": "900",
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    s = Settings(_env_file=None)
    assert {f"HSTGW_{name.upper()}" for name in Settings.model_fields} == set(values)
    assert (s.event_port, s.event_queue, s.event_token_check) == (9002, 64, 0.5)
    assert s.event_max_sessions_per_developer == 40
    assert s.limit_login_failures_per_address == 13
    assert s.limit_apps_per_developer == 17
    assert s.limit_retained_logins_per_developer == 500
    assert s.limit_invitees_per_developer == 600
    assert (s.limit_webhooks_per_developer, s.webhook_allow_private, s.webhook_timeout) == (
        3,
        True,
        2.5,
    )
    assert (s.webhook_retry_for, s.webhook_retry_first, s.webhook_secret_grace) == (600, 0.5, 60)
    assert (s.webhook_sweep_interval, s.webhook_log_retention) == (2, 3600)
    assert s.webhook_concurrency_per_developer == 7
    assert s.trusted_proxies == ["10.0.0.1", "192.168.0.0/16"]
    assert s.http_server == "granian"
    assert (s.public_url, s.http_max_connections, s.http_max_connections_per_address) == (
        "https://api.example.com",
        100,
        10,
    )
    assert (s.http_keep_alive, s.http_header_timeout, s.http_body_timeout) == (2, 3, 4)
    assert (
        s.terminal_max_connections,
        s.terminal_max_connections_per_address,
        s.fd_reserve,
    ) == (200, 20, 64)
    assert s.limit_rules().login_failures_per_address.burst == 13
    assert (s.group_max_users, s.groups_per_terminal, s.event_retention) == (50, 4, 3600)
    assert s.limit_group_frames_per_terminal == 2.5
    assert (s.console, s.console_session_ttl) == (False, 900)
    assert (s.host, s.port, str(s.data_dir), s.log_level, s.access_log) == (
        "0.0.0.0",
        8080,
        "/srv/hstgw",
        "warning",
        False,
    )
    assert (s.time_zone, s.access_token_ttl, s.token_max_age, s.token_future_skew) == (
        "UTC",
        600,
        3600,
        60,
    )
    assert (s.auth_cache_ttl, s.max_body_bytes, s.env, s.app_cache_size) == (
        0,
        4096,
        "production",
        0,
    )
    assert s.sqlite_synchronous == "full"
    assert s.log_format == "text"
    assert (s.redis_url, s.node_lease, s.route_timeout) == (
        "redis://cache.internal:6379/2",
        20,
        1.5,
    )


def test_cluster_mode_needs_postgres() -> None:
    with pytest.raises(ValidationError, match=r"HSTGW_REDIS_URL .* needs HSTGW_DATABASE_URL"):
        Settings(_env_file=None, redis_url="redis://127.0.0.1:6379/0")
    with pytest.raises(ValidationError, match="redis_url"):
        Settings(_env_file=None, redis_url="http://x", database_url="postgresql://h/db")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("port", 70000),
        ("time_zone", "Nowhere/City"),
        ("access_token_ttl", 10),
        ("log_level", "loud"),
    ],
)
def test_invalid_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(_env_file=None, **{field: value})


def test_production_refuses_a_relative_data_dir() -> None:
    key = "0f" * 32
    with pytest.raises(ValidationError, match="absolute"):
        Settings(_env_file=None, env="production", secret_key=key)
    ok = Settings(_env_file=None, env="production", data_dir=Path("/srv/x"), secret_key=key)
    assert ok.env == "production"


def test_production_and_clusters_need_the_master_key() -> None:
    with pytest.raises(ValidationError, match=r"HSTGW_SECRET_KEY .* is required in production"):
        Settings(_env_file=None, env="production", data_dir=Path("/srv/x"))
    with pytest.raises(ValidationError, match="needs HSTGW_SECRET_KEY"):
        Settings(
            _env_file=None,
            database_url="postgresql://h/db",
            redis_url="redis://h:6379/0",
        )
    with pytest.raises(ValidationError, match="64 hex characters"):
        Settings(_env_file=None, secret_key="not-a-key")


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    with pytest.raises(ValidationError, match=r"'proxy\.local' is not an IP address or CIDR"):
        Settings(_env_file=None, trusted_proxies="10.0.0.1,proxy.local")
    for everyone in ("0.0.0.0/0", "::/0"):
        with pytest.raises(ValidationError, match=f"'{everyone}' is every address"):
            Settings(_env_file=None, trusted_proxies=f"10.0.0.1,{everyone}")


def test_the_event_port_differs_from_the_others() -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(_env_file=None, port=9000, terminal_port=9001, event_port=9001)
    assert "HSTGW_TERMINAL_PORT and HSTGW_EVENT_PORT are both 9001" in str(exc.value)
    with pytest.raises(ValidationError):
        Settings(_env_file=None, port=9000, event_port=9000, event_host="0.0.0.0")
    assert Settings(_env_file=None, event_port=9000, event_host="10.0.0.1").event_port == 9000


def test_equal_rest_and_terminal_ports_are_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, port=28001)
    msg = caught.value.errors()[0]["msg"]
    assert "HSTGW_PORT and HSTGW_TERMINAL_PORT are both 28001" in msg
    with pytest.raises(ValidationError, match="need a port each"):
        Settings(_env_file=None, port=9000, terminal_port=9000, terminal_host="0.0.0.0")
    # any free port (0) twice, and one port on two distinct addresses, are fine
    assert Settings(_env_file=None, port=0, terminal_port=0).port == 0
    two = Settings(_env_file=None, port=9000, terminal_port=9000, terminal_host="127.0.0.2")
    assert two.terminal_port == 9000
