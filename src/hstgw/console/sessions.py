"""Console sessions: a signed cookie, checked against the developer and the store on
every request.

The cookie is ``v1.<dev_id>.<expires ms>.<nonce>.<mac>``; the MAC's key is made from the
developer's current dev_secret, and the store keeps the session (by the digest of its
nonce: what the store holds cannot be sent as a cookie). A session ends when it is
signed out (its row goes, on every node of a cluster and across restarts), when the
operator resets the developer's secret (the MAC no longer matches, and the store ends
its sessions in the same transaction) or disables it (``Developers.active`` answers
None, and its sessions are ended for good: re-enabling brings none back).

The CSRF token of a session is derived from its cookie, which scripts cannot read
(HttpOnly) and other sites cannot send (SameSite=Strict): a page of another site can
neither guess it nor have the browser send the cookie with its form.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from hstgw.store import Developer
from hstgw.store.protocols import ConsoleSessionStore

__all__ = ["COOKIE", "PRE_COOKIE", "Session", "Sessions", "csrf_of"]

COOKIE = "hstgw_console"
# Before sign-in: a random token the sign-in form must echo (double submit).
PRE_COOKIE = "hstgw_console_pre"
_KEY_LABEL = b"hstgw console session v1"


@dataclass(frozen=True, slots=True)
class Session:
    dev_id: str
    dev_name: str
    expires_ms: int
    nonce: str
    csrf: str


def csrf_of(cookie: str) -> str:
    return hashlib.sha256(b"csrf:" + cookie.encode()).hexdigest()[:32]


def _mac(secret: str, payload: str) -> str:
    key = hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _session_id(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


class Sessions:
    def __init__(
        self,
        active: Callable[[str], Awaitable[Developer | None]],
        store: ConsoleSessionStore,
        clock: Callable[[], int],
        ttl_s: int,
    ) -> None:
        """``active(dev_id)``: the developer while it is active (``Developers.active``)."""
        self._active = active
        self._store = store
        self._clock = clock
        self._ttl_ms = ttl_s * 1000

    @property
    def ttl_s(self) -> int:
        return self._ttl_ms // 1000

    async def open(self, dev: Developer) -> str:
        """A new session's cookie value for ``dev`` (just signed in)."""
        now = self._clock()
        expires = now + self._ttl_ms
        nonce = secrets.token_urlsafe(16)
        await self._store.open_console_session(_session_id(nonce), dev.dev_id, expires, now)
        payload = f"v1.{dev.dev_id}.{expires}.{nonce}"
        return f"{payload}.{_mac(dev.secret, payload)}"

    async def check(self, cookie: str | None) -> Session | None:
        """The session of ``cookie``, if it is still one."""
        if not cookie or len(cookie) > 256:
            return None
        parts = cookie.split(".")
        if len(parts) != 5 or parts[0] != "v1" or not parts[2].isdigit():
            return None
        _, dev_id, expires_text, nonce, mac = parts
        expires = int(expires_text)
        now = self._clock()
        if expires <= now:
            return None
        dev = await self._active(dev_id)
        if dev is None:
            return None
        payload = cookie.rpartition(".")[0]
        if not hmac.compare_digest(mac, _mac(dev.secret, payload)):
            return None  # a forged cookie, or the secret was reset since
        if await self._store.console_session(_session_id(nonce), now) != dev_id:
            return None  # signed out, or ended by a disable
        return Session(dev_id, dev.name, expires, nonce, csrf_of(cookie))

    async def close(self, session: Session) -> None:
        """Sign-out: this session's cookie is refused from now on, on every node."""
        await self._store.end_console_session(_session_id(session.nonce))
