"""Sessions (hstgw.console.sessions) without a server: what sign-out keeps."""

from __future__ import annotations

import time

from hstgw.console.sessions import Session, Sessions
from hstgw.store import Developer


async def _nobody(dev_id: str) -> Developer | None:
    return None


def test_many_sign_outs_cost_little_each() -> None:
    """Past 100,000 ended sessions still unexpired, every sign-out copied them all
    (a loop of sign-ins and sign-outs made each cost milliseconds of the process)."""
    sessions = Sessions(_nobody, lambda: 1_000, 3600)
    started = time.perf_counter()
    for i in range(110_000):
        sessions.close(Session("d", "", 10_000_000, f"n{i}", ""))
    assert time.perf_counter() - started < 5.0
    assert "n0" in sessions._revoked and "n109999" in sessions._revoked


def test_expired_ended_sessions_are_forgotten() -> None:
    now = [1_000]
    sessions = Sessions(_nobody, lambda: now[0], 3600)
    for i in range(100_000):
        sessions.close(Session("d", "", 2_000, f"old{i}", ""))
    now[0] = 3_000
    sessions.close(Session("d", "", 10_000, "new", ""))
    assert len(sessions._revoked) == 1
