"""The online service's billing counters: signaling receptions and daily peak terminals.

Counted in memory on the hot path, flushed to the store every few seconds and at
shutdown. A flush that fails keeps its counts for the next one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from hstgw.store import OnlineUsage, Store

__all__ = ["UsageCounters"]


class UsageCounters:
    def __init__(self, store: Store, zone: ZoneInfo, clock: Callable[[], int]) -> None:
        self._store = store
        self._zone = zone
        self._clock = clock
        self._signaling: dict[tuple[str, str], int] = {}
        self._peak: dict[tuple[str, str], int] = {}
        self._day_cache: tuple[int, str] = (-1, "")

    def _day(self) -> str:
        now = self._clock()
        minute = now // 60_000
        if self._day_cache[0] != minute:
            day = datetime.fromtimestamp(now / 1000, self._zone).strftime("%Y-%m-%d")
            self._day_cache = (minute, day)
        return self._day_cache[1]

    def received(self, app_id: str, n: int = 1) -> None:
        """``n`` signaling messages were delivered to terminals of ``app_id``."""
        key = (app_id, self._day())
        self._signaling[key] = self._signaling.get(key, 0) + n

    def terminals(self, app_id: str, count: int) -> None:
        """``app_id`` has ``count`` terminals online now."""
        key = (app_id, self._day())
        if count > self._peak.get(key, 0):
            self._peak[key] = count

    async def flush(self) -> None:
        signaling, peak = self._signaling, self._peak
        if not signaling and not peak:
            return
        self._signaling, self._peak = {}, {}
        rows = [
            OnlineUsage(app, day, signaling.get((app, day), 0), peak.get((app, day), 0))
            for app, day in signaling.keys() | peak.keys()
        ]
        try:
            await self._store.add_online_usage(rows, self._clock())
        except BaseException:
            for key, n in signaling.items():
                self._signaling[key] = self._signaling.get(key, 0) + n
            for key, n in peak.items():
                self._peak[key] = max(n, self._peak.get(key, 0))
            raise
