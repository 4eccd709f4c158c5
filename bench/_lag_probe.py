"""The machine's own noise, an anchor for bench/events.py's latencies: an otherwise idle
process sleeps 1 ms over and over for ``seconds`` and reports, as one JSON line, how
late it woke (p50, p99, max, in ms) and when it woke more than 10 ms late. A server
that stalls does not show here; other load on the cores does.

    python bench/_lag_probe.py SECONDS
"""

from __future__ import annotations

import json
import statistics
import sys
import time


def main() -> None:
    seconds = float(sys.argv[1])
    lags: list[float] = []
    late: list[tuple[float, float]] = []
    end = time.perf_counter() + seconds
    while (t := time.perf_counter()) < end:
        time.sleep(0.001)
        lag = (time.perf_counter() - t - 0.001) * 1000
        lags.append(lag)
        if lag > 10:
            late.append((time.time(), lag))
    q = statistics.quantiles(lags, n=100)
    print(json.dumps({"p50_ms": q[49], "p99_ms": q[98], "max_ms": max(lags), "late": late}))


if __name__ == "__main__":
    main()
