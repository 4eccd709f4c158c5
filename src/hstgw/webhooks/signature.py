"""The ``Hst-Signature`` header: ``t=<unix seconds>,v1=<hex>[,v1=<hex>]``, as Stripe
signs: HMAC-SHA256 with the endpoint's secret over ``f"{t}.{body}"``.

Pure (hmac, hashlib): shared by the gateway, which signs, and the SDK, which verifies.
During a secret rotation the header carries one ``v1`` per live secret.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

__all__ = ["HEADER", "header", "parse", "signature"]

HEADER = "Hst-Signature"


def signature(secret: str, t: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``f"{t}.{body}"`` with ``secret``."""
    return hmac.new(secret.encode("utf-8"), b"%d." % t + body, hashlib.sha256).hexdigest()


def header(t: int, body: bytes, secrets: Sequence[str]) -> str:
    return ",".join([f"t={t}", *(f"v1={signature(s, t, body)}" for s in secrets)])


def parse(value: str) -> tuple[int, list[str]]:
    """``(t, [v1, ...])`` of a header; ValueError if it is not one."""
    t: int | None = None
    v1: list[str] = []
    for part in value.split(","):
        key, sep, val = part.strip().partition("=")
        if not sep:
            raise ValueError(f"{part!r} is not key=value")
        if key == "t":
            if not val.isdigit():
                raise ValueError("t is not unix seconds")
            t = int(val)
        elif key == "v1":
            v1.append(val)
        # other schemes (v0, future ones) are ignored, as Stripe's clients do
    if t is None:
        raise ValueError("no t=")
    if not v1:
        raise ValueError("no v1=")
    return t, v1
