"""The access-token managers: one refresh in flight, ahead of expiry.

The gateway keeps one live access_token per developer and a new one supersedes
the old at once, so every caller in a process must share one token and never
fetch two at a time (seed: "获取access_token的方法需要设置成线程安全的").
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable

from hstgw.sdk._constants import REFRESH_AHEAD_S
from hstgw.sdk._models import AccessToken

__all__ = ["AsyncTokenManager", "SyncTokenManager"]

Clock = Callable[[], float]


class _TokenState:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.token: str | None = None
        self._refresh_at = 0.0
        self._expires_at = 0.0

    def fresh(self) -> str | None:
        """The token if it needs no refresh yet."""
        if self.token is not None and self._clock() < self._refresh_at:
            return self.token
        return None

    def usable(self) -> str | None:
        """The token if it has not expired (a failed early refresh may fall back to it)."""
        if self.token is not None and self._clock() < self._expires_at:
            return self.token
        return None

    def store(self, issued: AccessToken) -> str:
        now = self._clock()
        self.token = issued.access_token
        self._expires_at = now + issued.timeout
        self._refresh_at = now + max(issued.timeout - REFRESH_AHEAD_S, issued.timeout / 2)
        return issued.access_token

    def drop(self, token: str) -> None:
        if self.token == token:
            self.token = None


class SyncTokenManager:
    def __init__(self, fetch: Callable[[], AccessToken], clock: Clock = time.monotonic) -> None:
        self._fetch = fetch
        self._state = _TokenState(clock)
        self._lock = threading.Lock()

    def get(self) -> str:
        token = self._state.fresh()
        if token is not None:
            return token
        with self._lock:
            token = self._state.fresh()  # another thread may have refreshed meanwhile
            if token is not None:
                return token
            try:
                return self._state.store(self._fetch())
            except Exception:
                fallback = self._state.usable()
                if fallback is None:
                    raise
                return fallback

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (it was refused as expired); a newer one is kept."""
        with self._lock:
            self._state.drop(token)


class AsyncTokenManager:
    def __init__(
        self, fetch: Callable[[], Awaitable[AccessToken]], clock: Clock = time.monotonic
    ) -> None:
        self._fetch = fetch
        self._state = _TokenState(clock)
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        token = self._state.fresh()
        if token is not None:
            return token
        async with self._lock:
            token = self._state.fresh()
            if token is not None:
                return token
            try:
                return self._state.store(await self._fetch())
            except Exception:
                fallback = self._state.usable()
                if fallback is None:
                    raise
                return fallback

    def invalidate(self, token: str) -> None:
        self._state.drop(token)  # no await between check and set: atomic for tasks
