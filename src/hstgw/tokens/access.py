"""access_token issuance and authentication (design 3.2).

A developer proves itself with ``<dev_id>.<001 token>``; the gateway answers
with a random 32-hex access_token that is the developer's one live token until
it expires or a newer one supersedes it. The store makes issuance atomic.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from hstgw.abuse import Guard
from hstgw.errors import AuthenticationFailed, ParameterMissing, TokenExpired
from hstgw.ids import new_id
from hstgw.store import AccessTokenState, Developer, Store
from hstgw.tokens.fsp import TokenError, verify

__all__ = ["AccessTokens", "IssuedToken", "TokenBook"]

log = logging.getLogger("hstgw.auth")

_DEV_ID = re.compile(r"[0-9a-f]{32}")
_ACCESS_TOKEN = re.compile(r"[0-9a-f]{32}")


def _loggable(dev_id: str) -> str:
    return dev_id if _DEV_ID.fullmatch(dev_id) else f"(malformed, {len(dev_id)} characters)"


# How long a superseded or expired token is remembered, to answer 606000001
# rather than 606000000 for it.
_REMEMBER_MS = 7 * 86400 * 1000
_CACHE_MAX = 10_000


class TokenBook(Protocol):
    """Where live tokens are kept: the store (one node) or Redis (a cluster)."""

    async def issue_access_token(
        self, dev_id: str, token: str, now: int, expires_at: int, keep_until: int
    ) -> None: ...

    async def lookup_access_token(self, token: str) -> AccessTokenState | None: ...


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    timeout: int  # seconds


class AccessTokens:
    def __init__(
        self,
        store: Store,
        *,
        ttl_s: int,
        token_max_age_s: int,
        token_future_skew_s: int,
        clock: Callable[[], int],
        cache_ttl_s: float = 1.0,
        book: TokenBook | None = None,
        guard: Guard | None = None,
    ) -> None:
        self._guard = guard
        self._store = store
        self._book: TokenBook = book or store
        # token -> (state, cached at ms). Lookups are a store round trip on every
        # business call; a short-lived cache removes most of them. Issuing in this
        # process drops the developer's entries at once; a revocation by another
        # process (``hstgw dev disable``) takes effect within ``cache_ttl_s``.
        self._cache: dict[str, tuple[AccessTokenState, int]] = {}
        self._cache_ttl_ms = int(cache_ttl_s * 1000)
        self._ttl_s = ttl_s
        self._max_age_s = token_max_age_s
        self._skew_s = token_future_skew_s
        self._clock = clock

    async def issue(self, authorization: str | None, address: str = "") -> IssuedToken:
        """Verify ``<dev_id>.<token>`` and issue the developer's new access_token.

        Every verification failure answers the same; the reason is logged. With a
        guard, an address or developer past its failures, or a developer past its
        issuance limit, is refused (606000006) before anything is verified.
        """
        if not authorization:
            raise ParameterMissing("Authorization")
        guard = self._guard
        if guard is not None:
            await guard.check_address(address)
        dev_id, _, token = authorization.strip().partition(".")
        if not _DEV_ID.fullmatch(dev_id) or not token:
            return await self._refuse("malformed Authorization header", dev_id, address)
        if guard is not None:
            await guard.check_developer(dev_id)
        dev = await self._store.get_developer(dev_id)
        if dev is None:
            return await self._refuse("unknown developer", dev_id, address)
        if dev.status != "active":
            return await self._refuse("developer disabled", dev_id, address)
        now = self._clock()
        try:
            verify(
                token,
                dev.secret,
                aid=dev_id,
                now_ms=now,
                max_age_s=self._max_age_s,
                future_skew_s=self._skew_s,
            )
        except TokenError as exc:
            return await self._refuse(exc.reason, dev_id, address)
        if guard is not None:
            await guard.issue_token(dev_id)
        access_token = new_id()
        self._forget(dev_id)
        await self._book.issue_access_token(
            dev_id,
            access_token,
            now=now,
            expires_at=now + self._ttl_s * 1000,
            keep_until=now - _REMEMBER_MS,
        )
        self._forget(dev_id)  # a lookup may have cached the old token meanwhile
        return IssuedToken(access_token, self._ttl_s)

    async def sign_in(self, dev_id: str, secret: str, address: str = "") -> Developer:
        """The developer whose ``dev_id`` and ``dev_secret`` these are (the console's
        sign-in), under the same limits as ``issue``: every failure answers the same,
        and counts against the address and the developer; a success is one of the
        developer's access_token requests."""
        guard = self._guard
        if guard is not None:
            await guard.check_address(address)
        if not _DEV_ID.fullmatch(dev_id) or not secret:
            await self._refuse("malformed sign-in", dev_id, address)
        if guard is not None:
            await guard.check_developer(dev_id)
        dev = await self._store.get_developer(dev_id)
        if dev is None:
            await self._refuse("unknown developer", dev_id, address)
        elif dev.status != "active":
            await self._refuse("developer disabled", dev_id, address)
        elif not hmac.compare_digest(dev.secret.encode(), secret.encode()):
            await self._refuse("wrong dev_secret", dev_id, address)
        assert dev is not None  # (each refusal raised)
        if guard is not None:
            # a session is a credential made from the secret, as an access_token is:
            # under the same limit (else a loop of sign-ins costs nothing)
            await guard.issue_token(dev_id)
        return dev

    def _forget(self, dev_id: str) -> None:
        for token in [t for t, (st, _) in self._cache.items() if st.dev_id == dev_id]:
            del self._cache[token]

    async def _refuse(self, reason: str, dev_id: str, address: str) -> IssuedToken:
        log.info(
            "access_token refused",
            # a dev_id of the wrong shape may be the secret, typed in the wrong field
            extra={"reason": reason, "dev_id": _loggable(dev_id), "address": address},
        )
        if self._guard is not None:
            # A failure counts against the developer only if it names a real one's id
            # shape (a guessing loop does); anything else, against its address alone.
            await self._guard.failed(address, dev_id if _DEV_ID.fullmatch(dev_id) else None)
        raise AuthenticationFailed()

    async def authenticate(self, authorization: str | None) -> str:
        """The dev_id behind a business call's ``Authorization`` header."""
        if not authorization:
            raise AuthenticationFailed()
        # A header that is a kept token as it is (what the SDKs send) needs no
        # normalising: only tokens of the right shape are kept.
        cached = self._cache.get(authorization)
        token = authorization
        if cached is None:
            if token[:7].lower() == "bearer ":
                token = token[7:]
            token = token.strip()
            if not _ACCESS_TOKEN.fullmatch(token):
                raise AuthenticationFailed()
            cached = self._cache.get(token)
        now = self._clock()
        if cached is not None and now - cached[1] < self._cache_ttl_ms:
            state: AccessTokenState | None = cached[0]
        else:
            state = await self._book.lookup_access_token(token)
            if state is not None and state.live and self._cache_ttl_ms > 0:
                if len(self._cache) >= _CACHE_MAX:
                    self._cache.clear()
                self._cache[token] = (state, now)
        if state is None or not state.developer_active:
            raise AuthenticationFailed()
        if not state.live or state.expires_at <= now:
            raise TokenExpired()
        return state.dev_id
