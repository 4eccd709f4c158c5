"""How the CLI prints: JSON for programs, errors on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any

__all__ = ["fail", "print_json"]


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


def fail(message: str, **context: Any) -> int:
    sys.stderr.write(json.dumps({"error": {"msg": message, **context}}, ensure_ascii=False) + "\n")
    return 1
