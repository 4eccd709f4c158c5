"""Billing, the facade the gateway builds: its parts, one idea each, and the entry points
the routes call.

- nodes.py: node credentials; ingestion.py: usage reported by nodes;
  gateway_usage.py: the gateway's own usage; records.py: records and summaries;
  quota.py: spending limits; money.py: money on the wire.

Each entry point takes its caller: a developer's (``dev_id``) reads only that
developer's data; a node's (``node_id``) may concern any app, as nodes serve every
developer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from hstgw.apps import owned_app
from hstgw.billing.gateway_usage import GATEWAY_NODE, GatewayUsage
from hstgw.billing.ingestion import Ingestion, rater
from hstgw.billing.models import UsageBatch
from hstgw.billing.nodes import Nodes, key_hash
from hstgw.billing.prices import PriceTable
from hstgw.billing.quota import Quota
from hstgw.billing.records import Records
from hstgw.errors import ParameterInvalid
from hstgw.store import OnlineUsage, Store

# Nodes, Quota, key_hash and GATEWAY_NODE stay importable from here, where they were.
__all__ = ["GATEWAY_NODE", "Billing", "Nodes", "Quota", "key_hash"]


class Billing:
    def __init__(
        self, store: Store, prices: PriceTable, zone: ZoneInfo, clock: Callable[[], int]
    ) -> None:
        self._apps = store
        self.prices = prices
        self.zone = zone
        self.nodes = Nodes(store, clock)
        self.quota = Quota(store, zone, clock)
        self.ingestion = Ingestion(store, rater(prices, zone), self.quota, clock)
        self.gateway_usage = GatewayUsage(self.ingestion, store, zone, clock)
        self._records = Records(store, zone)

    # nodes' entry points

    async def ingest(self, node_id: str, batch: UsageBatch) -> tuple[int, int]:
        """(accepted, duplicates) of a node's batch."""
        return await self.ingestion.ingest(node_id, batch)

    async def limits(self, node_id: str, app_id: str) -> dict[str, Any]:
        """The services ``app_id`` may not use now, for a node about to serve it."""
        app = await self._apps.find_app(app_id)
        if app is None:
            raise ParameterInvalid("app_id", "no such app")
        return {"app_id": app.app_id, "refused_services": await self.quota.refused_services(app)}

    # developers' entry points

    async def records(
        self,
        dev_id: str,
        start: int,
        end: int,
        app_id: str | None,
        page: int,
        page_size: int,
        charge_term: int | None = None,
    ) -> dict[str, Any]:
        """A page of ``dev_id``'s records: total, page, page_size, records."""
        return await self._records.page(dev_id, start, end, app_id, page, page_size, charge_term)

    async def every_record(
        self,
        dev_id: str,
        start: int,
        end: int,
        app_id: str | None,
        charge_term: int | None,
        most: int,
    ) -> list[dict[str, Any]]:
        """All of ``records``' pages at once (a CSV), if there are at most ``most``."""
        return await self._records.every(dev_id, start, end, app_id, charge_term, most)

    async def records_amount(
        self, dev_id: str, start: int, end: int, app_id: str | None, charge_term: int | None
    ) -> int:
        """The amount (millionths) of all of ``records``' pages for these filters."""
        return await self._records.amount(dev_id, start, end, app_id, charge_term)

    async def month_by_term(self, dev_id: str, month: str) -> list[tuple[int, int]]:
        """``dev_id``'s spend (millionths) per charge term in ``month`` (``YYYY-MM``)."""
        return await self._records.month_by_term(dev_id, month)

    async def month_by_app_term(self, dev_id: str, month: str) -> list[tuple[str, int, int, int]]:
        """``dev_id``'s (app_id, charge_term, records, amount in millionths) of ``month``:
        the summary's records and amounts, read from an index alone."""
        return await self._records.month_by_app_term(dev_id, month)

    async def daily(self, dev_id: str, first: date, days: int) -> list[tuple[str, int]]:
        """``dev_id``'s spend per local day (millionths of a yuan), ``days`` from ``first``."""
        return await self._records.daily(dev_id, first, days)

    async def month_spent(self, dev_id: str, app_id: str) -> int:
        """What ``dev_id``'s app has spent this month (millionths), as its
        consumption_limit is checked against."""
        app = await owned_app(self._apps, dev_id, app_id)
        return sum(amount for _, amount in (await self.quota.usage(app.app_id)).values())

    async def month_peak(self, dev_id: str, app_id: str, month: str) -> int:
        """The most terminals ``dev_id``'s app had online at once on a day of ``month``
        (``YYYY-MM``), as counted so far (written every few seconds)."""
        app = await owned_app(self._apps, dev_id, app_id)
        days = await self._apps.online_usage(app.app_id)
        return max((d.peak_terminals for d in days if d.day.startswith(month)), default=0)

    async def summary(self, dev_id: str, month: str, app_id: str | None) -> dict[str, Any]:
        return await self._records.summary(dev_id, month, app_id)

    # the gateway's own usage (the online service and housekeeping)

    async def record_gateway_usage(
        self, rows: list[OnlineUsage], spans: Mapping[tuple[str, str], tuple[int, int]]
    ) -> None:
        await self.gateway_usage.record(rows, spans)

    async def rate_closed_days(self) -> int:
        return await self.gateway_usage.rate_closed_days()
