"""Prometheus metrics of one gateway node (``GET /metrics``, docs/operations.md).

Each gateway has a registry of its own, so that several gateways in one process
(tests) do not share counters. The per-request metrics are counted in plain dicts
and turned into metric families when scraped: prometheus_client's labelled
counter and histogram cost ~15 us a request under their locks (the REST ratio of
bench/rest.py fell from 0.51 to 0.37), the dicts well under 1 us.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

if TYPE_CHECKING:
    from hstgw.connections import ConnectionGate

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST.encode()
# REST latencies are sub-millisecond when all is well; the buckets reach into seconds.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._requests: dict[tuple[str, str, int], int] = {}
        # route -> (count per bucket, the last one +Inf; [sum of seconds])
        self._latency: dict[str, tuple[list[int], list[float]]] = {}
        r.register(_RequestCollector(self))
        self.terminals = Gauge(
            "hstgw_terminals_connected", "Terminals logged in to this node", registry=r
        )
        self.subscribers = Gauge(
            "hstgw_event_sessions",
            "Event gateway connections logged in to this node",
            registry=r,
        )
        self.delivered = Counter(
            "hstgw_terminal_messages_delivered",
            "Signaling messages written to terminals (message, trans_cmd, invite, invite_reply)",
            registry=r,
        )
        self.usage_events = Counter(
            "hstgw_usage_events",
            "Usage events received from nodes, by outcome",
            ("outcome",),
            registry=r,
        )
        self.store_errors = Counter(
            "hstgw_store_errors",
            "Store operations that failed as busy or unreachable",
            registry=r,
        )
        self.redis_errors = Counter(
            "hstgw_redis_errors",
            "Redis operations that failed (cluster mode): unreachable, timed out, refused",
            registry=r,
        )

    def count_terminals(self, count: Callable[[], int]) -> None:
        self.terminals.set_function(count)

    def count_subscribers(self, count: Callable[[], int]) -> None:
        self.subscribers.set_function(count)

    def count_connections(self, gates: Mapping[str, ConnectionGate]) -> None:
        """Open and refused connections of each listener (``port``: rest, terminal, event)."""
        self.registry.register(_GateCollector(gates))

    def observe(self, route: str, method: str, code: int, seconds: float) -> None:
        key = (route, method, code)
        self._requests[key] = self._requests.get(key, 0) + 1
        entry = self._latency.get(route)
        if entry is None:
            entry = self._latency[route] = ([0] * (len(_BUCKETS) + 1), [0.0])
        entry[0][bisect.bisect_left(_BUCKETS, seconds)] += 1
        entry[1][0] += seconds

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _GateCollector:
    def __init__(self, gates: Mapping[str, ConnectionGate]) -> None:
        self._gates = gates

    def collect(self) -> Iterator[Metric]:
        held = GaugeMetricFamily(
            "hstgw_connections_open", "Open connections by listener", labels=("port",)
        )
        refused = CounterMetricFamily(
            "hstgw_connections_refused",
            "Connections closed at once for a cap (per address or in all), by listener",
            labels=("port",),
        )
        for name, gate in self._gates.items():
            held.add_metric((name,), gate.connections)
            refused.add_metric((name,), gate.refused)
        yield held
        yield refused


class _RequestCollector:
    """The per-request counts, as metric families at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "hstgw_http_requests",
            "REST requests by route, method and business code",
            labels=("route", "method", "code"),
        )
        for (route, method, code), n in sorted(self._m._requests.items()):
            requests.add_metric((route, method, str(code)), n)
        yield requests
        latency = HistogramMetricFamily(
            "hstgw_http_request_duration_seconds",
            "REST request latency by route",
            labels=("route",),
        )
        for route, (counts, total) in sorted(self._m._latency.items()):
            cumulative, buckets = 0, []
            for bound, n in zip((*_BUCKETS, float("inf")), counts, strict=True):
                cumulative += n
                buckets.append((str(bound) if bound != float("inf") else "+Inf", cumulative))
            latency.add_metric((route,), buckets, total[0])
        yield latency
