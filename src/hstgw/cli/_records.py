"""``hstgw records list|summary``: billing records through the SDK."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from datetime import datetime
from decimal import Decimal
from typing import Any

from hstgw.billing.csvfile import records_csv
from hstgw.cli._apps import add_credentials, api
from hstgw.cli._output import LIST_JSON_HELP, count, for_a_person, print_table
from hstgw.sdk import Client


def register(sub: Any) -> None:
    records = sub.add_parser("records", help="billing records").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    p = records.add_parser("list", help="every record whose start_time lies in the range")
    p.add_argument("--start", required=True, type=_time, help="epoch ms or ISO time with zone")
    p.add_argument("--end", required=True, type=_time, help="epoch ms or ISO time with zone")
    p.add_argument("--app-id")
    p.add_argument("--csv", action="store_true", help="CSV with a header row instead of JSON")
    p.add_argument("--json", action="store_true", help=LIST_JSON_HELP)
    add_credentials(p)
    p.set_defaults(run=api(_list))

    p = records.add_parser("summary", help="totals per app and charge term for a month")
    p.add_argument("--month", required=True, help="YYYY-MM")
    p.add_argument("--app-id")
    p.add_argument("--json", action="store_true", help="print JSON (always the case)")
    add_credentials(p)
    p.set_defaults(run=api(_summary))


def _time(value: str) -> int:
    if value.isdigit():
        return int(value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is neither epoch ms nor an ISO time") from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} needs a time zone, e.g. +08:00")
    return int(parsed.timestamp() * 1000)


def _plain(value: Any) -> Any:
    return str(value) if not isinstance(value, int | str) else value


_COLUMNS = ("start_time", "app_name", "charge_term", "product_name", "user_id", "total_time",
            "amount")  # fmt: skip


def _list(client: Client, args: argparse.Namespace) -> Any:
    records = list(client.records.list(args.start, args.end, app_id=args.app_id))
    if not args.csv and for_a_person(args):
        total = sum((r.amount for r in records), start=Decimal(0))
        cells = [[getattr(r, c) for c in _COLUMNS] for r in records]
        print_table(_COLUMNS, cells, f"{count(len(cells), 'record')}, amount {total:.6f}")
        return None
    rows = [{k: _plain(v) for k, v in dataclasses.asdict(r).items()} for r in records]
    if not args.csv:
        return rows
    sys.stdout.write(records_csv(rows))
    return None


def _summary(client: Client, args: argparse.Namespace) -> Any:
    summary = client.records.summary(args.month, app_id=args.app_id)
    return _jsonable(dataclasses.asdict(summary))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return _plain(value)
