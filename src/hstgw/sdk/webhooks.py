"""Verify a webhook the gateway sent: ``verify(body, header, secret)``.

>>> payload = verify(request_body, request.headers["Hst-Signature"], secret)

``body`` must be the raw bytes received (not re-serialized JSON). The header's time
must lie within ``tolerance`` seconds of now (replays of old deliveries are refused),
and one of its ``v1`` signatures must be the HMAC-SHA256 of ``f"{t}.{body}"`` with
``secret`` (compared in constant time). Raises ``WebhookVerificationError``.
"""

from __future__ import annotations

import hmac
import json
import time
from typing import Any

from hstgw.sdk._exceptions import WebhookVerificationError
from hstgw.webhooks.signature import HEADER, parse, signature

__all__ = ["HEADER", "WebhookVerificationError", "verify"]

DEFAULT_TOLERANCE_S = 300


def verify(
    body: bytes | str,
    header: str | None,
    secret: str,
    tolerance: int = DEFAULT_TOLERANCE_S,
    *,
    now: float | None = None,
) -> dict[str, Any]:
    """The delivery's JSON payload, once its signature and time are checked."""
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    if not header:
        raise WebhookVerificationError(f"no {HEADER} header")
    try:
        t, candidates = parse(header)
    except ValueError as exc:
        raise WebhookVerificationError(f"malformed {HEADER} header: {exc}") from None
    current = time.time() if now is None else now
    if tolerance > 0 and abs(current - t) > tolerance:
        raise WebhookVerificationError(
            f"timestamp {t} is more than {tolerance} s away from now (a replay?)"
        )
    expected = signature(secret, t, raw)
    # every candidate is compared, each in constant time
    if not any([hmac.compare_digest(expected, c) for c in candidates]):
        raise WebhookVerificationError("no signature matches (wrong secret or altered body)")
    try:
        payload = json.loads(raw)
    except ValueError:
        raise WebhookVerificationError("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookVerificationError("the body is not a JSON object")
    return payload
