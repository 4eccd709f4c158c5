"""``terminal_token``: the one call an app's backend makes to let a browser log in.

A browser (or any terminal the developer does not control) must never hold the app
secret: the backend builds a short-lived 001 token for one user and hands it over;
the terminal logs in with it once and reconnects with the resume credential its login
answered (docs/js-sdk.md).
"""

from __future__ import annotations

import time

from hstgw.sdk._exceptions import ConfigurationError
from hstgw.tokens.fsp import TokenError, build

__all__ = ["DEFAULT_TERMINAL_TOKEN_TTL_S", "terminal_token"]

# Long enough to reach the gateway from a slow page, short enough that a leaked token
# is of little use (a token logs in once anyway: replay protection).
DEFAULT_TERMINAL_TOKEN_TTL_S = 300


def terminal_token(
    app_id: str,
    app_secret: str,
    user_id: str,
    *,
    company_id: str | None = None,
    ttl_s: int = DEFAULT_TERMINAL_TOKEN_TTL_S,
    now: float | None = None,
) -> str:
    """A 001 token with which ``user_id`` logs in to ``app_id`` once, valid ``ttl_s``
    seconds; with ``company_id`` it logs in to that company only (the ``cid`` claim).

    >>> token = terminal_token(app.app_id, app.app_secret, "alice", company_id="acme")
    """
    if ttl_s <= 0:
        raise ConfigurationError("ttl_s: must be positive")
    if not user_id:
        raise ConfigurationError("user_id: required")
    t = time.time() if now is None else now
    try:
        return build(
            app_id,
            app_secret,
            uid=user_id,
            expire=int(t) + ttl_s,
            now_ms=int(t * 1000),
            cid=company_id,
        )
    except TokenError as exc:
        raise ConfigurationError(f"app_secret: {exc.reason}") from None
