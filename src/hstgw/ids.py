"""Identifiers and secrets, from the operating system's CSPRNG."""

from __future__ import annotations

import itertools
import secrets
import string
import time
from collections.abc import Iterator

__all__ = ["new_id", "new_secret", "now_ms", "request_ids"]

_SECRET_ALPHABET = string.ascii_letters + string.digits


def new_id() -> str:
    """32 lowercase hex characters: 128 random bits (dev_id, app_id, access_token)."""
    return secrets.token_hex(16)


def new_secret() -> str:
    """16 characters of [A-Za-z0-9]: the AES-128 key of the 001 token format."""
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(16))


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def request_ids() -> Iterator[str]:
    """Request ids: a random per-process prefix and a counter (32 hex, unique, cheap)."""
    prefix = secrets.token_hex(8)
    return (f"{prefix}{n:016x}" for n in itertools.count(1))
