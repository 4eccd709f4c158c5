"""Structured logs: one JSON object per line on stderr.

Fields passed with ``extra=`` become keys of the line. The access log line, one
per request, has the same shape: ``{"ts": ..., "level": "info", "logger":
"hstgw.access", "msg": "request", "method": ..., "path": ..., "status": ...,
"code": ..., "latency_ms": ..., "request_id": ...}``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson  # a server dependency: only the server imports this module

__all__ = ["AccessLog", "JsonFormatter", "setup_logging"]

# Attributes every LogRecord has; anything else came in through `extra=`.
# uvicorn adds `color_message`, a copy of the message with terminal colours.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "color_message",
}


def _json_default(value: Any) -> str:
    return str(value)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD:
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=_json_default).decode()


def setup_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


class AccessLog:
    """The per-request log line, written in batches.

    Going through ``logging`` cost a quarter of a request's time under load
    (record creation, caller lookup, one write per line). This writer keeps the
    same line format, appends to a buffer and writes it out at most every
    ``flush_s`` seconds or 64 KiB, and at shutdown.
    """

    def __init__(self, stream: Any = None, flush_s: float = 0.2) -> None:
        self._dumps = orjson.dumps
        self._stream = stream if stream is not None else sys.stderr.buffer
        self._flush_s = flush_s
        self._buffer: list[bytes] = []
        self._size = 0
        self._scheduled = False

    def write(self, fields: dict[str, Any]) -> None:
        line = self._dumps(
            {
                "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "level": "info",
                "logger": "hstgw.access",
                "msg": "request",
                **fields,
            }
        )
        self._buffer.append(line + b"\n")
        self._size += len(line) + 1
        if self._size >= 65536:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_later(self._flush_s, self.flush)

    def flush(self) -> None:
        self._scheduled = False
        if not self._buffer:
            return
        data = b"".join(self._buffer)
        self._buffer.clear()
        self._size = 0
        try:
            self._stream.write(data)
            self._stream.flush()
        except (OSError, ValueError):  # a closed or broken stderr must not fail requests
            pass
