"""How the CLI prints: for a person on a terminal, JSON for a program.

stdout: lists are tables when stdout is a terminal, JSON when it is not or with
``--json``. stderr: an error is one line, ``hstgw: <what is wrong>: <what to do>``,
when stderr is a terminal, else (or with ``--json``) one JSON object
``{"error": {"msg": ..., "code": ..., "request_id": ...}}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from collections.abc import Sequence
from typing import Any

from hstgw.cli._errors import CliError

__all__ = ["LIST_JSON_HELP", "for_a_person", "note", "print_error", "print_json", "print_table"]


LIST_JSON_HELP = "print JSON, not a table (the default when stdout is not a terminal)"


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


def _isatty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


def for_a_person(args: argparse.Namespace) -> bool:
    """Whether stdout gets a table rather than JSON."""
    return not getattr(args, "json", False) and _isatty(sys.stdout)


def print_error(error: CliError, *, json_asked: bool) -> int:
    """Print ``error`` on stderr; its exit status."""
    if json_asked or not _isatty(sys.stderr):
        payload = {"error": {"msg": error.msg, **error.context}}
        sys.stderr.write(json.dumps(payload, ensure_ascii=False) + "\n")
    else:
        extra = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in error.context.items())
        msg = " ".join(error.msg.split())  # one line, whatever a library's message holds
        msg = msg if msg.startswith("hstgw") else f"hstgw: {msg}"
        sys.stderr.write(f"{msg}{f' ({extra})' if extra else ''}\n")
    return error.exit_status


def note(text: str) -> None:
    """A remark for the operator on stderr, outside the output."""
    sys.stderr.write(f"hstgw: {text}\n")


def count(n: int, noun: str) -> str:
    """``1 app``, ``2 apps``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], footer: str = "") -> None:
    """Aligned columns under a header; numbers to the right."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([_width(c), *(_width(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    right = [bool(rows) and all(isinstance(r[i], int | float) or _decimal(r[i]) for r in rows)
             for i in range(len(columns))]  # fmt: skip

    def line(values: Sequence[str], header: bool = False) -> str:
        out = []
        for i, v in enumerate(values):
            pad = " " * (widths[i] - _width(v))
            out.append(pad + v if right[i] else v + pad)
        return "  ".join(out).rstrip()

    sys.stdout.write(line(columns, header=True) + "\n")
    for r in cells:
        sys.stdout.write(line(r) + "\n")
    if footer:
        sys.stdout.write(footer + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def _decimal(value: Any) -> bool:
    return type(value).__name__ == "Decimal"
