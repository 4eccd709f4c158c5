"""Money on the wire: millionths of a yuan as exact decimal text and JSON numbers."""

from __future__ import annotations

import orjson

__all__ = ["micro_text", "money"]


def micro_text(micro: int) -> str:
    """``1500000`` -> ``"1.500000"``: six decimal places, exact (no float)."""
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), 1_000_000)
    return f"{sign}{whole}.{frac:06d}"


def money(micro: int) -> orjson.Fragment:
    """A JSON number with exactly 6 decimal places (two a record, one a summary's term:
    made as bytes at once)."""
    if micro >= 0:
        return orjson.Fragment(b"%d.%06d" % divmod(micro, 1_000_000))
    return orjson.Fragment(b"-%d.%06d" % divmod(-micro, 1_000_000))
