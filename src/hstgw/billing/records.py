"""Records and monthly summaries, as a developer reads them: always their own.

Every query is scoped by the caller's ``dev_id`` in the store itself (``RecordStore``),
so ownership and reading are one statement: another developer's app_id reads as an
app without records (an empty page, an empty summary), which tells nothing about
whether it exists. Paging and the range rules are here, not in the routes.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, get_args
from zoneinfo import ZoneInfo

import orjson

from hstgw.billing.models import MAX_RANGE_DAYS, MAX_RANGE_MS
from hstgw.billing.money import money
from hstgw.billing.prices import CHARGE_TERMS
from hstgw.errors import ParameterInvalid
from hstgw.services import SERVICES
from hstgw.store import RecordRow, RecordStore
from hstgw.validation import Page, PageSize, Range

__all__ = ["Records", "check_page"]

# The bounds of every paged list, as validation.py states them for the query models.
_PAGE: Range = get_args(Page)[1]
_PAGE_SIZE: Range = get_args(PageSize)[1]
_QUARTER_MS = 15 * 60 * 1000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# "HH:MM:" of each minute of a day and "SS" of each second: a record's two times were
# a third of a records page's CPU, most of it formatting three numbers (~1.2 µs a time;
# looked up, ~0.15)
_MINUTES = tuple(f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60))
_SECONDS = tuple(f"{s:02d}" for s in range(60))


def check_page(page: int, page_size: int) -> int:
    """The offset of ``page``; out of bounds, the error the query models give."""
    for name, value, bounds in (("page", page, _PAGE), ("page_size", page_size, _PAGE_SIZE)):
        if not bounds.lo <= value <= bounds.hi:
            raise ParameterInvalid(name, f"must be {bounds.lo}..{bounds.hi}")
    return (page - 1) * page_size


def _check_filters(start: int, end: int, charge_term: int | None) -> None:
    _check_range(start, end)
    if charge_term is not None and charge_term not in CHARGE_TERMS:
        terms = ", ".join(map(str, CHARGE_TERMS))
        raise ParameterInvalid("charge_term", f"must be one of {terms}")


def _check_range(start: int, end: int) -> None:
    if end < start:
        raise ParameterInvalid("end_time", "must not be before start_time")
    if end - start > MAX_RANGE_MS:
        raise ParameterInvalid("end_time", f"the range must be at most {MAX_RANGE_DAYS} days")


# A price's JSON: the price table has few (a Fragment is immutable, so one serves all).
_price = lru_cache(maxsize=1024)(money)


class Records:
    def __init__(self, store: RecordStore, zone: ZoneInfo) -> None:
        self._store = store
        self._zone = zone
        self._offsets: dict[int, int] = {}  # UTC hour -> the zone's offset, seconds
        self._days: dict[int, str] = {}  # local day (since 1970-01-01) -> YYYY-MM-DD

    def _time(self, ms: int) -> str:
        """``ms`` as local ``YYYY-MM-DD HH:MM:SS``: the zone's offset kept per UTC hour
        and the date per local day (a datetime per record took ~0.4 ms of a page of
        100); an hour that holds a change of offset is worked out record by record."""
        secs = ms // 1000
        hour = secs // 3600
        offset = self._offsets.get(hour)
        if offset is None:
            offset = self._offset(hour)
            if offset is None:
                return datetime.fromtimestamp(secs, self._zone).strftime("%Y-%m-%d %H:%M:%S")
        day, rem = divmod(secs + offset, 86_400)
        prefix = self._days.get(day)
        if prefix is None:
            if len(self._days) > 100_000:
                self._days.clear()
            prefix = self._days[day] = date.fromordinal(_EPOCH_ORDINAL + day).isoformat()
        return f"{prefix} {_MINUTES[rem // 60]}{_SECONDS[rem % 60]}"

    def _offset(self, hour: int) -> int | None:
        first = datetime.fromtimestamp(hour * 3600, self._zone).utcoffset()
        last = datetime.fromtimestamp(hour * 3600 + 3599, self._zone).utcoffset()
        if first is None or first != last:
            return None
        if len(self._offsets) > 100_000:
            self._offsets.clear()
        self._offsets[hour] = offset = int(first.total_seconds())
        return offset

    def to_wire(self, r: RecordRow) -> dict[str, Any]:
        return {
            "record_id": r.record_id,
            "event_id": r.event_id,
            "app_id": r.app_id,
            "app_name": r.app_name,
            "product_id": r.product_id,
            "product_name": SERVICES[r.product_id],
            "amount": money(r.amount_micro),
            "price": _price(r.price_micro),
            "charge_term": r.charge_term,
            "start_time": self._time(r.start_time),
            "end_time": self._time(r.end_time),
            "total_time": r.total_time,
            "group_id": r.group_id,
            "user_id": r.user_id,
            "resolution": r.resolution,
            "total_sig_num": r.total_sig_num,
            "stream_id": r.stream_id,
            "client_id": r.client_id,
            "transfer_type": r.transfer_type,
            "quantity": orjson.Fragment(r.quantity.encode()),
            "parties": r.parties,
        }

    async def page(
        self,
        dev_id: str,
        start: int,
        end: int,
        app_id: str | None,
        page: int,
        page_size: int,
        charge_term: int | None = None,
    ) -> dict[str, Any]:
        """One page of ``dev_id``'s records whose start_time lies in [start, end] (of
        ``charge_term`` only, when given)."""
        offset = check_page(page, page_size)
        _check_filters(start, end, charge_term)
        total, rows = await self._store.list_records(
            dev_id, start, end, app_id, offset, page_size, charge_term
        )
        return {
            "total": total,
            "page": page,
            "page_size": page_size,
            "records": [self.to_wire(r) for r in rows],
        }

    async def every(
        self,
        dev_id: str,
        start: int,
        end: int,
        app_id: str | None,
        charge_term: int | None,
        most: int,
    ) -> list[dict[str, Any]]:
        """The records of all of ``page``'s pages, in its order, read in one query (one
        snapshot; page after page, each counted its range and skipped all before it:
        minutes at 100,000). More than ``most``: refused, before they are read."""
        _check_filters(start, end, charge_term)
        total, _ = await self._store.list_records(dev_id, start, end, app_id, 0, 0, charge_term)
        if total > most:
            raise ParameterInvalid(
                "end_time", f"{total} records: at most {most} at once; narrow the range"
            )
        _, rows = await self._store.list_records(dev_id, start, end, app_id, 0, most, charge_term)
        return [self.to_wire(r) for r in rows]

    async def amount(
        self, dev_id: str, start: int, end: int, app_id: str | None, charge_term: int | None
    ) -> int:
        """The amount (millionths) of every record ``page`` would list, on all pages."""
        _check_range(start, end)
        buckets = await self._store.spend_buckets(
            dev_id, start, end, end - start + 1, app_id, charge_term
        )
        return sum(amount for _, amount in buckets)

    async def month_by_term(self, dev_id: str, month: str) -> list[tuple[int, int]]:
        """``dev_id``'s (charge_term, amount in millionths) of ``month`` (``YYYY-MM``)."""
        return await self._store.spend_by_term(dev_id, self._month_key(month))

    async def month_by_app_term(self, dev_id: str, month: str) -> list[tuple[str, int, int, int]]:
        """``dev_id``'s (app_id, charge_term, records, amount in millionths) of ``month``."""
        return await self._store.spend_by_app_term(dev_id, self._month_key(month))

    @staticmethod
    @lru_cache(maxsize=256)  # (strptime took ~3% of a summary's CPU)
    def _month_key(month: str) -> str:
        """``month`` as the month totals spell it (``YYYY-MM``)."""
        return datetime.strptime(month + "-01", "%Y-%m-%d").strftime("%Y-%m")

    async def daily(self, dev_id: str, first: date, days: int) -> list[tuple[str, int]]:
        """``dev_id``'s spend (millionths of a yuan) on each of ``days`` local days from
        ``first``. The store sums quarter hours; they fall whole into local days, as
        every zone's offset is a multiple of 15 minutes (DST days are 23 or 25 h)."""
        start = datetime.combine(first, time(), self._zone)
        after = datetime.combine(first + timedelta(days=days), time(), self._zone)
        start_ms = int(start.timestamp() * 1000)
        buckets = await self._store.spend_buckets(
            dev_id, start_ms, int(after.timestamp() * 1000) - 1, _QUARTER_MS
        )
        totals = {(first + timedelta(days=i)).isoformat(): 0 for i in range(days)}
        for bucket, amount in buckets:
            day = datetime.fromtimestamp((start_ms + bucket * _QUARTER_MS) / 1000, self._zone)
            totals[day.date().isoformat()] += amount
        return list(totals.items())

    async def summary(self, dev_id: str, month: str, app_id: str | None) -> dict[str, Any]:
        """``dev_id``'s totals of ``month`` (``YYYY-MM``) per app and charge term."""
        # The maintained month totals (store/totals.py): a row per app and term.
        sums = await self._store.summarize(dev_id, self._month_key(month), app_id)
        apps: dict[str, dict[str, Any]] = {}
        totals: dict[str, int] = {}
        for s in sums:
            entry = apps.setdefault(
                s.app_id, {"app_id": s.app_id, "app_name": s.app_name, "terms": []}
            )
            totals[s.app_id] = totals.get(s.app_id, 0) + s.amount_micro
            entry["terms"].append(
                {
                    "charge_term": s.charge_term,
                    "records": s.records,
                    "amount": money(s.amount_micro),
                    "total_time": s.total_time,
                    "total_sig_num": s.total_sig_num,
                    "quantity": orjson.Fragment(s.quantity.encode()),
                }
            )
        for app_id_, entry in apps.items():
            entry["amount"] = money(totals[app_id_])
        return {"month": month, "amount": money(sum(totals.values())), "apps": list(apps.values())}
