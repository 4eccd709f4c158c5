"""What the online service knows of its terminals' apps and developers."""

from __future__ import annotations

from hstgw.store import App, Store, Unavailable

__all__ = ["DEVELOPER_DISABLED", "DeveloperStatus", "OnlineApps"]

DEVELOPER_DISABLED = "the app's developer is disabled"


class OnlineApps(dict[str, App]):
    """app_id -> the app of online terminals, as last seen (limits are checked against
    it). A dict: a terminal's every message reads it."""


class DeveloperStatus:
    """Whether a developer is active, as the store said at most ``ttl_s`` (and at least
    a second) ago: a developer the operator disabled has its logins refused, and its
    terminals kicked, within it."""

    def __init__(self, store: Store, ttl_s: float) -> None:
        self._store = store
        self._held: dict[str, tuple[bool, float]] = {}  # dev_id -> (active, checked at)
        # (at least a second: not a store round trip per terminal message)
        self._ttl = max(ttl_s, 1.0)

    def known_active(self, dev_id: str, now: float) -> bool:
        """Active as the store said within the time to live (no store read)."""
        held = self._held.get(dev_id)
        return held is not None and held[0] and now - held[1] < self._ttl

    async def active(self, dev_id: str, now: float) -> bool:
        held = self._held.get(dev_id)
        if held is not None and now - held[1] < self._ttl:
            return held[0]
        try:
            dev = await self._store.get_developer(dev_id)
        except Unavailable:
            if held is None:
                raise
            active = held[0]  # the store is away: what it said last, asked again later
        else:
            active = dev is not None and dev.status == "active"
        if len(self._held) >= 100_000:
            self._held.clear()
        self._held[dev_id] = (active, now)
        return active
