"""Billing records as CSV: one header row, then one row per record.

One definition for the CLI (``hstgw records list --csv``) and the console's download,
so that both give the same file for the same records. Plain standard library: the
CLI's install has no server dependencies.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["RECORD_FIELDS", "records_csv"]

# The records' fields in the API's order (GET /v1/consuming/records).
RECORD_FIELDS = (
    "record_id", "event_id", "app_id", "app_name", "product_id", "product_name", "amount",
    "price", "charge_term", "start_time", "end_time", "total_time", "group_id", "user_id",
    "resolution", "total_sig_num", "stream_id", "client_id", "transfer_type", "quantity",
    "parties",
)  # fmt: skip


# What a spreadsheet takes for the start of a formula. A record's labels (group_id,
# user_id, stream_id, client_id) are whatever a node reported, from a terminal perhaps:
# "=HYPERLINK(...)" would run in the developer's spreadsheet. Such a cell gets a
# leading ' (OWASP's advice), which spreadsheets show as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: Any) -> Any:
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def records_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """``rows``: records with each value as the cell's text or an int (decimals as the
    API writes them: ``0.006000``)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=RECORD_FIELDS)
    writer.writeheader()
    writer.writerows({k: _text(v) for k, v in row.items()} for row in rows)
    return out.getvalue()
