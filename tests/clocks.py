"""A clock that moves only when a test moves it (trio's ``MockClock``, for buckets)."""

from __future__ import annotations

__all__ = ["ManualClock"]


class ManualClock:
    """Monotonic seconds, standing still until ``advance``: a token bucket on it holds
    exactly what the test says, however fast or slow the machine runs the test.

    Read in the server's thread and moved in the test's: one float, swapped whole.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        assert seconds >= 0, "a monotonic clock does not go back"
        self.now += seconds
