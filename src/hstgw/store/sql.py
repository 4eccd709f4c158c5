"""What every SQL engine shares: the statements (``?`` placeholders), the folding of
joined rows back into rows of the store, and the pure part of usage ingestion.

Engines run the statements their way; PostgreSQL's numbered placeholders come from
``numbered()``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, MutableMapping
from typing import Any

from hstgw.secretbox import SecretBox
from hstgw.store.base import App, AppPatch, AppService, Developer, Rater, UnknownApp
from hstgw.store.totals import HOUR_MS, SLICE_MS, MonthTotals

__all__ = [
    "APP_COLUMNS",
    "CONSOLE_SESSION",
    "END_CONSOLE_SESSION",
    "END_CONSOLE_SESSIONS",
    "INSERT_APP",
    "INSERT_DEVELOPER",
    "INSERT_NODE",
    "INSERT_RECORD",
    "INT64_MAX",
    "OPEN_CONSOLE_SESSION",
    "PURGE_CONSOLE_SESSIONS",
    "PURGE_DEV_CONSOLE_SESSIONS",
    "RECORD_COLUMNS",
    "REVOKE_TOKENS",
    "UPSERT_MONTHLY_SIGNALING",
    "UPSERT_MONTHLY_USAGE",
    "UPSERT_ONLINE_USAGE",
    "IngestPlan",
    "apps_from_rows",
    "developer",
    "numbered",
    "plan_ingest",
    "signaling_rows",
    "update_app",
]

APP_COLUMNS = (
    "a.app_id, a.dev_id, a.app_name, a.app_secret, a.status, a.consumption_limit,"
    " a.created_at, a.updated_at, s.service_id, s.use_limit"
)
# A new app, developer or node takes the next creation sequence number (``seq``): lists
# are oldest first by it. Writers take turns (SQLite's one writer; a lock on PostgreSQL).
INSERT_APP = (
    "INSERT INTO apps (app_id, dev_id, app_name, app_secret, status, consumption_limit,"
    " created_at, updated_at, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?,"
    " (SELECT COALESCE(MAX(seq), 0) + 1 FROM apps))"
)
LIVE_APPS_OF = "SELECT COUNT(*) FROM apps WHERE dev_id = ? AND deleted_at IS NULL"
# A developer's live access tokens end (disabled, deleted, or a new token issued).
REVOKE_TOKENS = "UPDATE access_tokens SET live = 0 WHERE dev_id = ? AND live = 1"
# ... and its console sessions (disabled, or its secret reset).
END_CONSOLE_SESSIONS = "DELETE FROM console_sessions WHERE dev_id = ?"
OPEN_CONSOLE_SESSION = (
    "INSERT INTO console_sessions (session_id, dev_id, expires_at) VALUES (?, ?, ?)"
)
PURGE_DEV_CONSOLE_SESSIONS = "DELETE FROM console_sessions WHERE dev_id = ? AND expires_at <= ?"
CONSOLE_SESSION = "SELECT dev_id FROM console_sessions WHERE session_id = ? AND expires_at > ?"
END_CONSOLE_SESSION = "DELETE FROM console_sessions WHERE session_id = ?"
PURGE_CONSOLE_SESSIONS = "DELETE FROM console_sessions WHERE expires_at <= ?"
INSERT_DEVELOPER = (
    "INSERT INTO developers (dev_id, name, secret, status, created_at, seq)"
    " VALUES (?, ?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM developers))"
)
INSERT_NODE = (
    "INSERT INTO nodes (node_id, name, key_hash, status, created_at, seq)"
    " VALUES (?, ?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM nodes))"
)
RECORD_COLUMNS = (
    "r.record_id, r.event_id, r.app_id, a.app_name, r.charge_term, r.product_id, r.start_time,"
    " r.end_time, r.total_time, r.group_id, r.user_id, r.client_id, r.stream_id, r.resolution,"
    " r.transfer_type, r.total_sig_num, r.quantity, r.parties, r.price_micro, r.amount_micro"
)
INSERT_RECORD = (
    "INSERT INTO usage_records (record_id, event_id, dev_id, app_id, charge_term, product_id,"
    " start_time, end_time, total_time, group_id, user_id, client_id, stream_id, resolution,"
    " transfer_type, total_sig_num, billed_sig_num, quantity, parties, price_micro,"
    " amount_micro, node_id, received_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
UPSERT_MONTHLY_SIGNALING = (
    "INSERT INTO monthly_signaling (dev_id, month, receptions) VALUES (?, ?, ?)"
    " ON CONFLICT (dev_id, month) DO UPDATE SET receptions = excluded.receptions"
)
# The largest value of a BIGINT column. The month's counters, which only the limits
# read, stop there (9.2 trillion yuan, past every consumption_limit) rather than
# overflow: SQLite would turn the sum into a float, PostgreSQL refuse the write.
INT64_MAX = 2**63 - 1


def _saturating(column: str) -> str:
    return (
        f"{column} = CASE WHEN monthly_usage.{column} <= {INT64_MAX} - excluded.{column}"
        f" THEN monthly_usage.{column} + excluded.{column} ELSE {INT64_MAX} END"
    )


UPSERT_MONTHLY_USAGE = (
    "INSERT INTO monthly_usage (app_id, month, service_id, use_quantity, amount_micro)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (app_id, month, service_id) DO UPDATE SET "
    + _saturating("use_quantity")
    + ", "
    + _saturating("amount_micro")
)
UPSERT_ONLINE_USAGE = (
    "INSERT INTO online_usage (app_id, day, signaling, peak_terminals, updated_at)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (app_id, day) DO UPDATE SET"
    " signaling = online_usage.signaling + excluded.signaling,"
    " peak_terminals = CASE WHEN excluded.peak_terminals > online_usage.peak_terminals"
    " THEN excluded.peak_terminals ELSE online_usage.peak_terminals END,"
    " updated_at = excluded.updated_at"
)


@functools.cache
def numbered(sql: str) -> str:
    """``?`` placeholders as ``$1, $2, ...`` (the statements hold no literal ``?``)."""
    parts = sql.split("?")
    return "".join(p + (f"${i}" if i < len(parts) else "") for i, p in enumerate(parts, 1))


def apps_from_rows(rows: Iterable[Any], box: SecretBox) -> list[App]:
    """Fold the app x service join (ordered by app) back into apps, secrets opened."""
    apps: list[App] = []
    current: list[Any] | None = None
    services: list[AppService] = []

    def flush() -> None:
        if current is not None:
            apps.append(App(*current[:6], tuple(services), *current[6:8]))  # type: ignore[call-arg]

    for row in rows:
        if current is None or row[0] != current[0]:
            flush()
            current = list(row[:8])
            current[3] = box.open(current[3])
            services = []
        if row[8] is not None:
            services.append(AppService(row[8], row[9]))
    flush()
    return apps


def update_app(patch: AppPatch, now: int, app_id: str, dev_id: str) -> tuple[str, list[Any]]:
    """The UPDATE of a live app that ``patch`` makes, and its arguments."""
    sets: list[str] = ["updated_at = ?"]
    args: list[Any] = [now]
    for column, value, given in (
        ("app_name", patch.app_name, patch.app_name is not None),
        ("status", patch.status, patch.status is not None),
        ("consumption_limit", patch.consumption_limit, patch.set_consumption_limit),
    ):
        if given:
            sets.append(f"{column} = ?")
            args.append(value)
    sql = (
        f"UPDATE apps SET {', '.join(sets)} WHERE app_id = ? AND dev_id = ? AND deleted_at IS NULL"
    )
    return sql, [*args, app_id, dev_id]


def kept_response(stored: str | None, box: SecretBox) -> str | None:
    """An Idempotency-Key's first response as kept: sealed (responses written before
    they were sealed, at most a day old, are read as they are)."""
    if stored is None or not SecretBox.is_sealed(stored):
        return stored
    return box.open(stored)


def developer(row: Any, box: SecretBox) -> Developer | None:
    if not row:
        return None
    dev_id, name, secret, status, created_at = row
    return Developer(dev_id, name, box.open(secret), status, created_at)


# Secrets written before they were sealed (sealed at the next start).
PLAIN_DEV_SECRETS = "SELECT dev_id, secret FROM developers WHERE secret NOT LIKE 'v1:%'"
PLAIN_APP_SECRETS = "SELECT app_id, app_secret FROM apps WHERE app_secret NOT LIKE 'v1:%'"
ANY_SEALED_SECRET = "SELECT secret FROM developers LIMIT 1"
SEAL_DEV_SECRET = "UPDATE developers SET secret = ? WHERE dev_id = ? AND secret = ?"
SEAL_APP_SECRET = "UPDATE apps SET app_secret = ? WHERE app_id = ? AND app_secret = ?"


class IngestPlan:
    """What one ingestion writes: record rows, and the counters' changes."""

    def __init__(self) -> None:
        self.records: list[tuple[Any, ...]] = []
        # (app_id, month, service_id) -> [use, amount in millionths]
        self.usage: dict[tuple[str, str, int], list[int]] = {}
        # (dev_id, month, app_id, charge_term) -> the month totals' part of the batch
        self.totals = MonthTotals()
        # (dev_id, UTC hour of start_time, app_id, charge_term) -> records
        self.hours: dict[tuple[str, int, str, int], int] = {}
        # (dev_id, 6-minute slice of start_time) -> records
        self.slices: dict[tuple[str, int], int] = {}
        self.duplicates = 0

    def hour_rows(self) -> list[tuple[str, int, str, int, int]]:
        """UPSERT_RECORD_HOURS' arguments."""
        return [(*key, n) for key, n in self.hours.items()]

    def dev_hour_rows(self) -> list[tuple[str, int, int]]:
        """UPSERT_DEV_HOURS' arguments."""
        per_dev: dict[tuple[str, int], int] = {}
        for (dev, hour, _, _), n in self.hours.items():
            per_dev[(dev, hour)] = per_dev.get((dev, hour), 0) + n
        return [(dev, hour, n) for (dev, hour), n in per_dev.items()]

    def dev_slice_rows(self) -> list[tuple[str, int, int]]:
        """UPSERT_DEV_SLICES' arguments."""
        return [(dev, part, n) for (dev, part), n in self.slices.items()]

    def usage_rows(self) -> list[tuple[str, str, int, int, int]]:
        """UPSERT_MONTHLY_USAGE's arguments (a batch's own sum may pass INT64_MAX)."""
        return [
            (app, month, sid, min(use, INT64_MAX), min(amount, INT64_MAX))
            for (app, month, sid), (use, amount) in self.usage.items()
        ]


def signaling_rows(signaling: MutableMapping[tuple[str, str], int]) -> list[tuple[str, str, int]]:
    """UPSERT_MONTHLY_SIGNALING's arguments: receptions so far, as far as a BIGINT holds."""
    return [(dev, month, min(n, INT64_MAX)) for (dev, month), n in signaling.items()]


def plan_ingest(
    events: list[Any],
    seen: set[str],
    owners: dict[str, str],
    signaling: MutableMapping[tuple[str, str], int],
    rater: Rater,
    node_id: str,
    now: int,
    last_record_id: int,
) -> IngestPlan:
    """Rate, in order, the events not ``seen`` before (``seen`` grows as it goes);
    ``signaling`` is advanced by the rater. Raises UnknownApp for an app not in ``owners``."""
    for index, e in enumerate(events):
        if e.app_id not in owners:
            raise UnknownApp(index)
    plan = IngestPlan()
    next_id = last_record_id
    for e in events:
        if e.event_id in seen:
            plan.duplicates += 1
            continue
        seen.add(e.event_id)
        r = rater(e, owners[e.app_id], signaling)
        next_id += 1
        plan.records.append(
            (
                next_id, e.event_id, r.dev_id, e.app_id, e.charge_term, r.product_id,
                e.start_time, e.end_time, r.total_time, e.group_id, e.user_id, e.client_id,
                e.stream_id, e.resolution, e.transfer_type, e.total_sig_num, r.billed_sig_num,
                str(e.quantity), e.parties, r.price_micro, r.amount_micro, node_id, now,
            )
        )  # fmt: skip
        acc = plan.usage.setdefault((e.app_id, r.month, r.product_id), [0, 0])
        acc[0] += r.use
        acc[1] += r.amount_micro
        plan.totals.add(
            (r.dev_id, r.month, e.app_id, e.charge_term),
            r.amount_micro, r.total_time, e.total_sig_num, e.quantity,
        )  # fmt: skip
        hour = (r.dev_id, e.start_time // HOUR_MS, e.app_id, e.charge_term)
        plan.hours[hour] = plan.hours.get(hour, 0) + 1
        part = (r.dev_id, e.start_time // SLICE_MS)
        plan.slices[part] = plan.slices.get(part, 0) + 1
    return plan


# Idempotency-Key (hstgw.idempotency): claim a key (an expired row gives way first),
# then read who holds it.
IDEM_EXPIRE = (
    "DELETE FROM idempotency_keys WHERE owner = ? AND idem_key = ?"
    " AND (created_at < ? OR (response IS NULL AND created_at < ?))"
)
IDEM_CLAIM = (
    "INSERT INTO idempotency_keys (owner, idem_key, fingerprint, response, created_at)"
    " VALUES (?, ?, ?, NULL, ?) ON CONFLICT (owner, idem_key) DO NOTHING"
)
IDEM_READ = (
    "SELECT fingerprint, response, created_at FROM idempotency_keys"
    " WHERE owner = ? AND idem_key = ?"
)
IDEM_FINISH = "UPDATE idempotency_keys SET response = ? WHERE owner = ? AND idem_key = ?"
IDEM_RELEASE = "DELETE FROM idempotency_keys WHERE owner = ? AND idem_key = ? AND response IS NULL"
IDEM_PURGE = "DELETE FROM idempotency_keys WHERE created_at < ?"
