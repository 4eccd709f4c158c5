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


def records_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """``rows``: records with each value as the cell's text or an int (decimals as the
    API writes them: ``0.006000``)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=RECORD_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
