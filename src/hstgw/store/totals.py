"""Month totals, the engines' shared part: what a batch adds to ``month_totals`` and
how a row of it reads back as exact integers and the summary's decimal quantity.

Each (developer, month, app, charge term) keeps its records' count and sums, written in
the transaction that writes the records, so a month's summary reads at most a row per
app and term whatever the number of records. The month is the rating's (the record's
start_time in ``HSTGW_TIME_ZONE``); when the zone changes, the store fills the table
again from the records when it opens (``rebuild``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hstgw.store.base import TermSum

__all__ = [
    "HOUR_MS",
    "MONTH_TOTALS_ZONE",
    "SELECT_RECORDS_FOR_TOTALS",
    "SELECT_TOTALS",
    "SLICE_MS",
    "UPSERT_DEV_HOURS",
    "UPSERT_DEV_SLICES",
    "UPSERT_MONTH_TOTALS",
    "UPSERT_RECORD_HOURS",
    "MonthTotals",
    "Rebuild",
    "count_records",
    "joined",
    "quantity_text",
    "rebuild",
    "term_sum",
]

_WORD = 1 << 32
_MICRO_EXP = 6

# store_state's row that says in which zone month_totals' months are.
MONTH_TOTALS_ZONE = "month_totals_zone"


def _add(column: str) -> str:
    """``column`` += excluded's, for a pair of high and low 32-bit halves: the low half
    stays below 2^32 and carries into the high half (no overflow before 2^95)."""
    lo, hi = f"{column}_lo", f"{column}_hi"
    return (
        f"{hi} = month_totals.{hi} + excluded.{hi} + (month_totals.{lo} + excluded.{lo}) / {_WORD},"
        f" {lo} = (month_totals.{lo} + excluded.{lo}) % {_WORD}"
    )


UPSERT_MONTH_TOTALS = (
    "INSERT INTO month_totals (dev_id, month, app_id, charge_term, records, amount_hi,"
    " amount_lo, total_time, total_sig_num, quantity_hi, quantity_lo, quantity_exp)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (dev_id, month, app_id, charge_term) DO UPDATE SET"
    " records = month_totals.records + excluded.records, "
    + _add("amount")
    + ", total_time = month_totals.total_time + excluded.total_time,"
    " total_sig_num = month_totals.total_sig_num + excluded.total_sig_num, "
    + _add("quantity")
    + ", quantity_exp = CASE WHEN excluded.quantity_exp < month_totals.quantity_exp"
    " THEN excluded.quantity_exp ELSE month_totals.quantity_exp END"
)

UPSERT_RECORD_HOURS = (
    "INSERT INTO record_hours (dev_id, hour, app_id, charge_term, records) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (dev_id, hour, app_id, charge_term) DO UPDATE SET"
    " records = record_hours.records + excluded.records"
)
UPSERT_DEV_HOURS = (
    "INSERT INTO dev_hours (dev_id, hour, records) VALUES (?, ?, ?)"
    " ON CONFLICT (dev_id, hour) DO UPDATE SET records = dev_hours.records + excluded.records"
)
UPSERT_DEV_SLICES = (
    "INSERT INTO dev_slices (dev_id, slice, records) VALUES (?, ?, ?)"
    " ON CONFLICT (dev_id, slice) DO UPDATE SET records = dev_slices.records + excluded.records"
)
HOUR_MS = 3_600_000
SLICE_MS = 360_000  # dev_slices: 6 minutes, a tenth of an hour

# A developer's month, app by app and term by term (the summary's order).
SELECT_TOTALS = (
    "SELECT t.app_id, a.app_name, t.charge_term, t.records, t.amount_hi, t.amount_lo,"
    " t.total_time, t.total_sig_num, t.quantity_hi, t.quantity_lo, t.quantity_exp"
    " FROM month_totals t JOIN apps a ON a.app_id = t.app_id"
    " WHERE t.dev_id = ? AND t.month = ?"
)


def term_sum(row: Any) -> TermSum:
    """A row of SELECT_TOTALS as the summary's figures."""
    app, name, term, n, a_hi, a_lo, seconds, sig, q_hi, q_lo, q_exp = row
    return TermSum(
        app, name, int(term), int(n), joined(a_hi, a_lo), int(seconds), int(sig),
        quantity_text(joined(q_hi, q_lo), int(q_exp)),
    )  # fmt: skip


def joined(hi: Any, lo: Any) -> int:
    """A sum from its halves (or from sums of halves: PostgreSQL's are NUMERIC)."""
    return (int(hi) << 32) + int(lo)


def quantity_text(micro: int, exp: int) -> str:
    """The quantity as ``str(sum(Decimal(q) for q in the records' quantities))`` writes
    it: the exact value, with the smallest exponent of its terms (and of the sum's 0)."""
    if -_MICRO_EXP <= exp <= 0 and micro >= 0:
        # The common case in integers (~3 times faster, a summary has ~100 of them):
        # with 0..6 places and no rounding, Decimal writes the plain digits too.
        digits, rest = divmod(micro, 10 ** (_MICRO_EXP + exp))
        if not rest:
            if not exp:
                return str(digits)
            whole, frac = divmod(digits, 10**-exp)
            return f"{whole}.{frac:0{-exp}d}"
    return str(Decimal(micro).scaleb(-_MICRO_EXP).quantize(Decimal(1).scaleb(exp)))


def count_records(
    where: str,
    args: list[Any],
    start: int,
    end: int,
    dev_id: str,
    app_id: str | None,
    charge_term: int | None,
) -> list[tuple[str, list[Any]]]:
    """The statements whose results add up to the number of records that ``where``
    (with ``args``) and a start_time in [start, end] select: the whole UTC hours of the
    range from dev_hours (record_hours when filtered by app or term), and the part hours
    at its ends from the records (an index range of at most two hours of records) or,
    unfiltered, from dev_slices' whole slices and the records of two part slices."""
    count = f"SELECT count(*) FROM usage_records r WHERE {where} AND r.start_time BETWEEN ? AND ?"
    unfiltered = app_id is None and charge_term is None

    def counted(lo: int, hi: int) -> list[tuple[str, list[Any]]]:
        # [lo, hi] within a part hour: by slices when unfiltered, else from the records
        if unfiltered:
            return _sums("dev_slices", "slice", SLICE_MS, count, args, lo, hi, dev_id)
        return [(count, [*args, lo, hi])]

    first = -(-start // HOUR_MS)  # the first whole hour
    after = (end + 1) // HOUR_MS  # the hour after the last whole hour
    if after - first < 1:
        return counted(start, end)
    # All of a developer's records: an entry an hour (dev_hours); by app or term: an
    # entry an hour, app and term (record_hours).
    table = "dev_hours" if unfiltered else "record_hours"
    hours = (
        f"SELECT COALESCE(sum(records), 0) FROM {table} WHERE dev_id = ? AND hour BETWEEN ? AND ?"
    )
    hour_args: list[Any] = [dev_id, first, after - 1]
    if app_id is not None:
        hours, hour_args = f"{hours} AND app_id = ?", [*hour_args, app_id]
    if charge_term is not None:
        hours, hour_args = f"{hours} AND charge_term = ?", [*hour_args, charge_term]
    parts = [(hours, hour_args)]
    if start < first * HOUR_MS:
        parts += counted(start, first * HOUR_MS - 1)
    if after * HOUR_MS <= end:
        parts += counted(after * HOUR_MS, end)
    return parts


def _sums(
    table: str, column: str, size: int, count: str, args: list[Any], lo: int, hi: int, dev: str
) -> list[tuple[str, list[Any]]]:
    """[lo, hi]'s records: its whole ``size`` units from ``table``, the rest counted."""
    first = -(-lo // size)
    after = (hi + 1) // size
    if after - first < 1:
        return [(count, [*args, lo, hi])]
    sql = (
        f"SELECT COALESCE(sum(records), 0) FROM {table}"
        f" WHERE dev_id = ? AND {column} BETWEEN ? AND ?"
    )
    parts: list[tuple[str, list[Any]]] = [(sql, [dev, first, after - 1])]
    if lo < first * size:
        parts.append((count, [*args, lo, first * size - 1]))
    if after * size <= hi:
        parts.append((count, [*args, after * size, hi]))
    return parts


class MonthTotals(dict[tuple[str, str, str, int], list[int]]):
    """(dev_id, month, app_id, charge_term) -> [records, amount, total_time,
    total_sig_num, quantity in millionths, smallest quantity exponent]: a batch's part."""

    def add(
        self,
        key: tuple[str, str, str, int],
        amount: int,
        total_time: int,
        total_sig_num: int,
        quantity: Decimal,
    ) -> None:
        acc = self.get(key)
        if acc is None:
            self[key] = acc = [0, 0, 0, 0, 0, 0]
        acc[0] += 1
        acc[1] += amount
        acc[2] += total_time
        acc[3] += total_sig_num
        if not quantity and quantity.adjusted() >= 0:
            return  # most terms: a zero of exponent >= 0 adds nothing and lowers nothing
        acc[4] += int(quantity.scaleb(_MICRO_EXP))
        exp = quantity.as_tuple().exponent
        if isinstance(exp, int) and exp < acc[5]:
            acc[5] = exp

    def rows(self) -> list[tuple[Any, ...]]:
        """UPSERT_MONTH_TOTALS' arguments."""
        return [
            (dev, month, app, term, n, amount >> 32, amount & (_WORD - 1), seconds, sig,
             q >> 32, q & (_WORD - 1), exp)
            for (dev, month, app, term), (n, amount, seconds, sig, q, exp) in self.items()
        ]  # fmt: skip


# Every record, as rebuild reads it.
SELECT_RECORDS_FOR_TOTALS = (
    "SELECT dev_id, start_time, app_id, charge_term, amount_micro, total_time,"
    " total_sig_num, quantity FROM usage_records"
)


class Rebuild:
    """The totals of records read one by one (rows of SELECT_RECORDS_FOR_TOTALS), their
    months in ``zone``: what fills month_totals when the zone is new to it."""

    def __init__(self, zone: str) -> None:
        self._zone = ZoneInfo(zone)
        self._months: dict[int, str] = {}
        self.totals = MonthTotals()

    def _month(self, start: int) -> str:
        # Per UTC hour: every zone's offset is a multiple of 15 minutes, so an hour lies in
        # one month of the zone, except one around the month's first minute (worked out
        # per record).
        hour = start // 3_600_000
        month = self._months.get(hour)
        if month is None:
            first = datetime.fromtimestamp(hour * 3600, self._zone).strftime("%Y-%m")
            last = datetime.fromtimestamp(hour * 3600 + 3599.999, self._zone).strftime("%Y-%m")
            if first != last:
                return datetime.fromtimestamp(start / 1000, self._zone).strftime("%Y-%m")
            self._months[hour] = month = first
        return month

    def add(self, record: Any) -> None:
        dev, start, app, term, amount, seconds, sig, quantity = record
        self.totals.add((dev, self._month(start), app, int(term)), int(amount), int(seconds),
                        int(sig), Decimal(quantity))  # fmt: skip


def rebuild(records: Iterable[Any], zone: str) -> MonthTotals:
    """The totals of ``records``, as the store keeps them (the tests' recomputation too)."""
    made = Rebuild(zone)
    for record in records:
        made.add(record)
    return made.totals
