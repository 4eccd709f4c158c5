"""The access-token managers: one refresh in flight, ahead of expiry.

The gateway keeps one live access_token per developer and a new one supersedes
the old at once, so every caller in a process must share one token and never
fetch two at a time (seed: "获取access_token的方法需要设置成线程安全的"). With a
``TokenStore``, the processes that share it share the token too: one fetches, holding
the store's lock, and the others read what it kept. The lock is tried, in the caller's
own thread (or task), until it is free or the token is there; past
``STORE_LOCK_WAIT_S`` (a holder stopped, or a sync call made inside the event loop of
the async client that holds it) the caller fetches without it: the processes agree
again at the next refusal.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable

from hstgw.sdk._constants import REFRESH_AHEAD_S, STORE_LOCK_TRY_S, STORE_LOCK_WAIT_S
from hstgw.sdk._models import AccessToken
from hstgw.sdk._token_store import StoredToken, TokenStore

__all__ = ["AsyncTokenManager", "SyncTokenManager"]

Clock = Callable[[], float]


class _TokenState:
    def __init__(self, clock: Clock, store: TokenStore | None, key: str) -> None:
        self._clock = clock
        self.store = store
        self._key = key
        self.token: str | None = None
        self._refresh_at = 0.0
        self._expires_at = 0.0
        self._refused: str | None = None  # the last token the gateway refused

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

    def adopt(self) -> str | None:
        """The store's token, if it needs no refresh yet and was not refused here (that
        one was superseded: a new one is fetched)."""
        assert self.store is not None
        kept = self.store.load(self._key)
        now, wall = self._clock(), time.time()
        if kept is None or kept.access_token == self._refused or wall >= kept.refresh_at:
            return None
        self.token = kept.access_token
        self._refresh_at = now + (kept.refresh_at - wall)
        self._expires_at = now + (kept.expires_at - wall)
        return self.token

    def keep(self, issued: AccessToken) -> str:
        now, wall = self._clock(), time.time()
        ahead = max(issued.timeout - REFRESH_AHEAD_S, issued.timeout / 2)
        self.token = issued.access_token
        self._expires_at = now + issued.timeout
        self._refresh_at = now + ahead
        if self.store is not None:
            kept = StoredToken(issued.access_token, wall + ahead, wall + issued.timeout)
            self.store.save(self._key, kept)
        return issued.access_token

    def drop(self, token: str) -> None:
        self._refused = token
        if self.token == token:
            self.token = None

    def try_store(self) -> tuple[bool, str | None]:
        """One try at the store: whether its lock was taken, and the token another
        process kept meanwhile, if any (then no fetch is needed)."""
        assert self.store is not None
        locked = self.store.try_lock(self._key)
        return locked, self.adopt()

    def unlock(self, locked: bool) -> None:
        if locked and self.store is not None:
            self.store.unlock(self._key)


def _lock_tries() -> int:
    """How many tries at a store's lock, STORE_LOCK_TRY_S apart, before fetching
    without it (read at each wait: tests shorten it)."""
    return int(STORE_LOCK_WAIT_S / STORE_LOCK_TRY_S) + 1


class SyncTokenManager:
    def __init__(
        self,
        fetch: Callable[[], AccessToken],
        clock: Clock = time.monotonic,
        store: TokenStore | None = None,
        key: str = "",
    ) -> None:
        self._fetch = fetch
        self._state = _TokenState(clock, store, key)
        self._lock = threading.Lock()

    def get(self) -> str:
        state = self._state
        token = state.fresh()
        if token is not None:
            return token
        with self._lock:
            token = state.fresh()  # another thread may have refreshed meanwhile
            if token is not None:
                return token
            locked = False
            if state.store is not None:
                for _ in range(_lock_tries()):
                    locked, token = state.try_store()
                    if locked or token is not None:
                        break
                    time.sleep(STORE_LOCK_TRY_S)
            try:
                if token is not None:
                    return token  # another process fetched it
                try:
                    return state.keep(self._fetch())
                except Exception:
                    fallback = state.usable()
                    if fallback is None:
                        raise
                    return fallback
            finally:
                state.unlock(locked)

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (it was refused as expired); a newer one is kept."""
        with self._lock:
            self._state.drop(token)


class AsyncTokenManager:
    def __init__(
        self,
        fetch: Callable[[], Awaitable[AccessToken]],
        clock: Clock = time.monotonic,
        store: TokenStore | None = None,
        key: str = "",
    ) -> None:
        self._fetch = fetch
        self._state = _TokenState(clock, store, key)
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        state = self._state
        token = state.fresh()
        if token is not None:
            return token
        async with self._lock:
            token = state.fresh()
            if token is not None:
                return token
            locked = False
            if state.store is not None:
                for _ in range(_lock_tries()):
                    locked, token = state.try_store()
                    if locked or token is not None:
                        break
                    await asyncio.sleep(STORE_LOCK_TRY_S)
            try:  # (held across the fetch; given back however it ends, cancelled too)
                if token is not None:
                    return token  # another process fetched it
                try:
                    return state.keep(await self._fetch())
                except Exception:
                    fallback = state.usable()
                    if fallback is None:
                        raise
                    return fallback
            finally:
                state.unlock(locked)

    def invalidate(self, token: str) -> None:
        self._state.drop(token)  # no await between check and set: atomic for tasks
