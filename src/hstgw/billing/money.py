"""Money on the wire: millionths of a yuan as exact decimal text and JSON numbers."""

from __future__ import annotations

import orjson

__all__ = ["micro_text", "money"]


def _micro_bytes(micro: int) -> bytes:
    """``1500000`` -> ``b"1.500000"``: six decimal places, exact (no float). Bytes, as a
    records page puts two a record in its JSON."""
    whole, frac = divmod(abs(micro), 1_000_000)
    return b"%s%d.%06d" % (b"-" if micro < 0 else b"", whole, frac)


def micro_text(micro: int) -> str:
    """``1500000`` -> ``"1.500000"``."""
    return _micro_bytes(micro).decode()


def money(micro: int) -> orjson.Fragment:
    """A JSON number with exactly 6 decimal places."""
    return orjson.Fragment(_micro_bytes(micro))
