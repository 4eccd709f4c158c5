"""Console sessions: a signed cookie, checked against the developer on every request.

The cookie is ``v1.<dev_id>.<expires ms>.<nonce>.<mac>``; the MAC's key is made from the
developer's current dev_secret. So any node of a cluster can check a session without
a table of sessions, and a session ends by itself when the operator resets the
developer's secret (the MAC no longer matches) or disables it (``Developers.active``
answers None). Sign-out forgets the nonce in this process (see docs/console.md for
what that means in a cluster) and clears the browser's cookie.

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

__all__ = ["COOKIE", "PRE_COOKIE", "Session", "Sessions", "csrf_of"]

COOKIE = "hstgw_console"
# Before sign-in: a random token the sign-in form must echo (double submit).
PRE_COOKIE = "hstgw_console_pre"
_KEY_LABEL = b"hstgw console session v1"
_REVOKED_MAX = 100_000


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


class Sessions:
    def __init__(
        self,
        active: Callable[[str], Awaitable[Developer | None]],
        clock: Callable[[], int],
        ttl_s: int,
    ) -> None:
        """``active(dev_id)``: the developer while it is active (``Developers.active``)."""
        self._active = active
        self._clock = clock
        self._ttl_ms = ttl_s * 1000
        self._revoked: dict[str, int] = {}  # nonce -> expires ms
        self._purge_at = _REVOKED_MAX

    @property
    def ttl_s(self) -> int:
        return self._ttl_ms // 1000

    def open(self, dev: Developer) -> str:
        """A new session's cookie value for ``dev`` (just signed in)."""
        expires = self._clock() + self._ttl_ms
        payload = f"v1.{dev.dev_id}.{expires}.{secrets.token_urlsafe(16)}"
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
        if expires <= self._clock() or nonce in self._revoked:
            return None
        dev = await self._active(dev_id)
        if dev is None:
            return None
        payload = cookie.rpartition(".")[0]
        if not hmac.compare_digest(mac, _mac(dev.secret, payload)):
            return None  # a forged cookie, or the secret was reset since
        return Session(dev_id, dev.name, expires, nonce, csrf_of(cookie))

    def close(self, session: Session) -> None:
        """Sign-out: this session's cookie is refused from now on."""
        now = self._clock()
        if len(self._revoked) >= self._purge_at:
            self._revoked = {n: e for n, e in self._revoked.items() if e > now}
            # the next purge once as many more have ended: a purge copies them all, so
            # past the bound, purging at every sign-out made each one cost milliseconds
            self._purge_at = max(_REVOKED_MAX, 2 * len(self._revoked))
        self._revoked[session.nonce] = session.expires_ms
