"""When to try a failed delivery again: exponential back-off with jitter.

After the n-th failed attempt the wait is ``first * 2**(n-1)`` seconds, capped at
``MAX_DELAY_S``, of which the first half is fixed and the second half random ("equal
jitter"): endpoints that failed together do not all come back at once, and no wait is
shorter than half its step. Retries stop ``HSTGW_WEBHOOK_RETRY_FOR`` after the first
attempt (docs/webhooks.md has the table for the defaults).
"""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["MAX_DELAY_S", "delay"]

MAX_DELAY_S = 3600.0


def delay(attempt: int, first_s: float, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after the ``attempt``-th failure (``attempt`` >= 1)."""
    step = min(first_s * 2.0 ** min(attempt - 1, 64), MAX_DELAY_S)
    return step / 2 + rand() * step / 2
