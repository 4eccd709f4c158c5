"""The online service's billing counters: signaling receptions and daily peak terminals.

Counted in memory on the hot path, flushed every few seconds and at shutdown to
the sink (billing), which turns them into records in one transaction. A flush that
fails keeps its counts for the next one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from hstgw.store import OnlineUsage

__all__ = ["UsageCounters"]


# (rows, (app_id, day) -> (first, last) epoch ms of the receptions counted)
Sink = Callable[[list[OnlineUsage], Mapping[tuple[str, str], tuple[int, int]]], Awaitable[None]]


class UsageCounters:
    def __init__(
        self,
        sink: Sink,
        zone: ZoneInfo,
        clock: Callable[[], int],
        on_received: Callable[[int], None] = lambda n: None,
    ) -> None:
        self._sink = sink
        self._on_received = on_received
        self._zone = zone
        self._clock = clock
        self._signaling: dict[tuple[str, str], int] = {}
        self._spans: dict[tuple[str, str], tuple[int, int]] = {}
        self._peak: dict[tuple[str, str], int] = {}
        # Receptions per (app_id, month): counted, and those handed to the sink that
        # it has not finished writing (billing's limits count both).
        self._month_signaling: dict[tuple[str, str], int] = {}
        self._writing: list[dict[tuple[str, str], int]] = []
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
        month_key = (app_id, key[1][:7])
        self._month_signaling[month_key] = self._month_signaling.get(month_key, 0) + n
        self._on_received(n)
        now = self._clock()
        first = self._spans.get(key, (now, now))[0]
        self._spans[key] = (first, now)

    def pending_signaling(self, app_id: str, month: str) -> int:
        """Receptions of ``app_id`` in ``month`` (``YYYY-MM``) not yet in the store."""
        key = (app_id, month)
        return self._month_signaling.get(key, 0) + sum(w.get(key, 0) for w in self._writing)

    def terminals(self, app_id: str, count: int) -> None:
        """``app_id`` has ``count`` terminals online now."""
        key = (app_id, self._day())
        if count > self._peak.get(key, 0):
            self._peak[key] = count

    async def flush(self) -> None:
        signaling, peak, spans = self._signaling, self._peak, self._spans
        if not signaling and not peak:
            return
        self._signaling, self._peak, self._spans = {}, {}, {}
        writing, self._month_signaling = self._month_signaling, {}
        self._writing.append(writing)
        rows = [
            OnlineUsage(app, day, signaling.get((app, day), 0), peak.get((app, day), 0))
            for app, day in sorted(signaling.keys() | peak.keys())
        ]
        try:
            await self._sink(rows, spans)
        except BaseException:
            for key, n in writing.items():
                self._month_signaling[key] = self._month_signaling.get(key, 0) + n
            for key, n in signaling.items():
                self._signaling[key] = self._signaling.get(key, 0) + n
            for key, n in peak.items():
                self._peak[key] = max(n, self._peak.get(key, 0))
            for key, (first, last) in spans.items():
                now_first, now_last = self._spans.get(key, (first, last))
                self._spans[key] = (min(first, now_first), max(last, now_last))
            raise
        finally:
            self._writing.remove(writing)
