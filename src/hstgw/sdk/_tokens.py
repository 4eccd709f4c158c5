"""The access-token managers: one refresh in flight, ahead of expiry.

The gateway keeps one live access_token per developer and a new one supersedes
the old at once, so every caller in a process must share one token and never
fetch two at a time (seed: "获取access_token的方法需要设置成线程安全的"). With a
``TokenStore``, the processes that share it share the token too: one fetches, under
the store's lock, and the others read what it kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager

from hstgw.sdk._constants import REFRESH_AHEAD_S
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
        self._key = key
        self._lock = threading.Lock()

    def get(self) -> str:
        token = self._state.fresh()
        if token is not None:
            return token
        with self._lock:
            token = self._state.fresh()  # another thread may have refreshed meanwhile
            if token is not None:
                return token
            store = self._state.store
            with store.lock(self._key) if store is not None else contextlib.nullcontext():
                token = self._state.adopt() if store is not None else None
                if token is not None:
                    return token  # another process fetched it
                try:
                    return self._state.keep(self._fetch())
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
        self,
        fetch: Callable[[], Awaitable[AccessToken]],
        clock: Clock = time.monotonic,
        store: TokenStore | None = None,
        key: str = "",
    ) -> None:
        self._fetch = fetch
        self._state = _TokenState(clock, store, key)
        self._key = key
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        token = self._state.fresh()
        if token is not None:
            return token
        async with self._lock:
            token = self._state.fresh()
            if token is not None:
                return token
            store = self._state.store
            if store is None:
                return await self._fetch_or_fall_back()
            # (the store's lock may wait for another process's fetch: not on the loop)
            held = store.lock(self._key)
            entering = asyncio.ensure_future(asyncio.to_thread(held.__enter__))
            try:
                await asyncio.shield(entering)
            except asyncio.CancelledError:  # the thread still takes it: give it back then
                entering.add_done_callback(lambda f: _release(f, held))
                raise
            try:
                token = await asyncio.to_thread(self._state.adopt)
                if token is not None:
                    return token  # another process fetched it
                return await self._fetch_or_fall_back()
            finally:
                held.__exit__(None, None, None)

    async def _fetch_or_fall_back(self) -> str:
        try:
            issued = await self._fetch()
        except Exception:
            fallback = self._state.usable()
            if fallback is None:
                raise
            return fallback
        if self._state.store is None:
            return self._state.keep(issued)
        return await asyncio.to_thread(self._state.keep, issued)

    def invalidate(self, token: str) -> None:
        self._state.drop(token)  # no await between check and set: atomic for tasks


def _release(entered: asyncio.Future[object], held: AbstractContextManager[object]) -> None:
    if not entered.cancelled() and entered.exception() is None:
        held.__exit__(None, None, None)
