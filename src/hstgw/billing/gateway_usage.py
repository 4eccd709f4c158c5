"""The gateway's own usage: signaling receptions (term 6) and each day's peak of
terminals (term 7), counted by the online service and billed as a node's would be."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from hstgw.billing.ingestion import Ingestion
from hstgw.billing.prices import ChargeTerm
from hstgw.billing.rating import UsageEvent
from hstgw.store import OnlineUsage, UsageStore

__all__ = ["GATEWAY_NODE", "GatewayUsage"]

GATEWAY_NODE = "gateway"  # the node_id of the gateway's own usage records


class GatewayUsage:
    def __init__(
        self,
        ingestion: Ingestion,
        store: UsageStore,
        zone: ZoneInfo,
        clock: Callable[[], int],
    ) -> None:
        self._ingestion = ingestion
        self._store = store
        self._zone = zone
        self._clock = clock

    async def record(
        self, rows: list[OnlineUsage], spans: Mapping[tuple[str, str], tuple[int, int]]
    ) -> None:
        """The online service's counts: signaling receptions become term-6 records, in the
        same transaction that adds them to the online_usage counters."""
        events = [
            UsageEvent(
                event_id=f"gw-sig-{uuid.uuid4().hex}",
                app_id=r.app_id,
                charge_term=ChargeTerm.SIGNALING,
                start_time=spans[(r.app_id, r.day)][0],
                end_time=spans[(r.app_id, r.day)][1],
                total_sig_num=r.signaling,
            )
            for r in rows
            if r.signaling
        ]
        await self._ingestion.keep(events, GATEWAY_NODE, online_usage=rows)

    async def rate_closed_days(self) -> int:
        """Each app's peak terminals of every day that has ended becomes a term-7 record."""
        today = datetime.fromtimestamp(self._clock() / 1000, self._zone).strftime("%Y-%m-%d")
        rows = await self._store.unrated_peaks(today)
        if not rows:
            return 0
        events = []
        for r in rows:
            start = datetime.strptime(r.day, "%Y-%m-%d").replace(tzinfo=self._zone)
            end = start + timedelta(days=1)
            events.append(
                UsageEvent(
                    event_id=f"gw-peak-{r.app_id}-{r.day}",  # once per app and day, ever
                    app_id=r.app_id,
                    charge_term=ChargeTerm.PEAK_TERMINALS,
                    start_time=int(start.timestamp() * 1000),
                    end_time=int(end.timestamp() * 1000) - 1,
                    quantity=Decimal(r.peak_terminals),
                )
            )
        result = await self._ingestion.keep(events, GATEWAY_NODE)
        await self._store.mark_peaks_rated(rows)
        return result.accepted
