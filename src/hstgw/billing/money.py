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
    """A JSON number with exactly 6 decimal places."""
    return orjson.Fragment(micro_text(micro).encode())
