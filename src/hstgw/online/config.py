"""The online service's settings (from ``hstgw.settings`` in the composition root)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OnlineConfig"]


@dataclass(frozen=True, slots=True)
class OnlineConfig:
    heartbeat_interval: float = 30.0
    retention_s: int = 86400
    message_rate: float = 100.0
    # Group frames a second per terminal (each is a durable event); bursts of 10 times
    # as many (a reconnecting terminal joins its groups and starts its media again).
    group_frame_rate: float = 10.0
    token_max_age_s: int = 86400
    token_future_skew_s: int = 300
    replay_protection: bool = True
    resume_ttl_s: int = 86400
    # How long a developer's status is trusted (HSTGW_AUTH_CACHE_TTL): a developer the
    # operator disabled has its logins refused, and its terminals kicked, within it.
    dev_status_ttl_s: float = 1.0
