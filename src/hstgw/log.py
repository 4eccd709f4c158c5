"""Logs on stderr: one JSON object per line, or one text line for a person.

Fields passed with ``extra=`` become keys of the line. The access log line, one
per request, has the same shape: ``{"ts": ..., "level": "info", "logger":
"hstgw.access", "msg": "request", "method": ..., "path": ..., "status": ...,
"code": ..., "latency_ms": ..., "request_id": ...}``.

``HSTGW_LOG_FORMAT=text`` writes ``2026-11-30 04:40:07.554 INFO  hstgw: gateway
started data_dir=hstgw-data`` instead (the default when stderr is a terminal).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any, Literal

import orjson  # a server dependency: only the server imports this module

__all__ = ["AccessLog", "JsonFormatter", "TextFormatter", "log_format", "setup_logging"]

LogFormat = Literal["text", "json"]
# What setup_logging chose; the access log writes its lines the same way.
_format: LogFormat = "json"

# Attributes every LogRecord has; anything else came in through `extra=`.
# Also left out: ``websocket``, the connection object the websockets library puts on its
# records (its repr, an address in memory, tells a reader nothing).
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "websocket",
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


def _text_value(value: Any) -> str:
    if isinstance(value, str) and value and not any(c in value for c in ' "=\n'):
        return value
    return orjson.dumps(value, default=_json_default).decode()


def _text_time(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


class TextFormatter(logging.Formatter):
    """``<UTC time> <LEVEL> <logger>: <msg> key=value ...`` (a traceback on the lines after)."""

    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(
            f"{key}={_text_value(value)}"
            for key, value in record.__dict__.items()
            if key not in _STANDARD
        )
        line = (
            f"{_text_time(record.created)} {record.levelname:<7} {record.name}: "
            f"{record.getMessage()}{' ' + extra if extra else ''}"
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def log_format(chosen: str | None = None, stream: Any = None) -> LogFormat:
    """``chosen`` (``HSTGW_LOG_FORMAT``), else text when ``stream`` (stderr) is a terminal."""
    if chosen in ("text", "json"):
        return "text" if chosen == "text" else "json"
    isatty = getattr(stream if stream is not None else sys.stderr, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def setup_logging(level: str = "info", fmt: str | None = None) -> None:
    global _format
    _format = log_format(fmt)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextFormatter() if _format == "text" else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


_REQUEST_HEAD = {"level": "info", "logger": "hstgw.access", "msg": "request"}


class AccessLog:
    """The per-request log line, written in batches.

    Going through ``logging`` cost a quarter of a request's time under load
    (record creation, caller lookup, one write per line). This writer keeps the
    same line format, appends to a buffer and writes it out at most every
    ``flush_s`` seconds or 64 KiB, and at shutdown.
    """

    def __init__(
        self, stream: Any = None, flush_s: float = 0.2, fmt: LogFormat | None = None
    ) -> None:
        self._dumps = orjson.dumps
        self._text = (fmt or _format) == "text"
        self._stream = stream if stream is not None else sys.stderr.buffer
        self._flush_s = flush_s
        self._buffer: list[bytes] = []
        self._size = 0
        self._scheduled = False
        self._ms = -1  # the millisecond whose time stamp ``_ts`` is
        self._ts = ""
        # REST calls noted by ``request``, made into lines when written out
        self._pending: list[tuple[int, str, str, int, int, float, str]] = []

    def _stamp(self, ms: int) -> str:
        """The time stamp of millisecond ``ms``, made once a millisecond (at 20,000 lines
        a second, formatting each line's own time cost a tenth of the line)."""
        if ms != self._ms:
            self._ms = ms
            whole, rest = divmod(ms, 1000)
            stamp = datetime.fromtimestamp(whole, UTC).replace(microsecond=rest * 1000)
            self._ts = stamp.isoformat(timespec="milliseconds")
        return self._ts

    def write(self, fields: dict[str, Any]) -> None:
        if self._pending:
            self._make_pending()  # (the lines in the order of their requests)
        self._buffer.append(self._line(fields, time.time_ns()))
        self._size += len(self._buffer[-1])
        if self._size >= 65536:
            self.flush()
        else:
            self._schedule()

    def _line(self, fields: dict[str, Any], ns: int) -> bytes:
        """``fields``' line (and its end), stamped at ``ns``."""
        if self._text:
            return self._text_line(fields, ns / 1e9) + b"\n"
        return self._dumps({"ts": self._stamp(ns // 1_000_000), **_REQUEST_HEAD, **fields}) + b"\n"

    def request(
        self, method: str, path: str, status: int, code: int, latency_ms: float, request_id: str
    ) -> None:
        """A REST call's line, as ``write`` makes it of these fields. Only noted here:
        the lines are made together when they are written out, in one loop (made one
        at a time, between the requests, a line cost ~6 µs of a ~44 µs ``GET /v1/app``
        served, where it costs ~1.7 in a loop)."""
        self._pending.append((time.time_ns(), method, path, status, code, latency_ms, request_id))
        if len(self._pending) >= 256:
            self.flush()
        else:
            self._schedule()

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_later(self._flush_s, self.flush)

    def _make_pending(self) -> None:
        """The noted calls' lines into the buffer (its caller writes or schedules it)."""
        pending, self._pending = self._pending, []
        lines = [
            self._line(
                {
                    "method": method,
                    "path": path,
                    "status": status,
                    "code": code,
                    "latency_ms": round(latency_ms, 3),
                    "request_id": request_id,
                },
                ns,
            )
            for ns, method, path, status, code, latency_ms, request_id in pending
        ]
        self._buffer += lines
        self._size += sum(map(len, lines))

    @staticmethod
    def _text_line(fields: dict[str, Any], created: float) -> bytes:
        """``... INFO    hstgw.access: GET /v1/apps 200 code=0 latency_ms=0.52 request_id=...``"""
        rest = dict(fields)
        head = " ".join(str(rest.pop(k)) for k in ("method", "path", "status") if k in rest)
        tail = " ".join(f"{k}={_text_value(v)}" for k, v in rest.items())
        now = _text_time(created)
        return f"{now} INFO    hstgw.access: {head} {tail}".encode()

    def flush(self) -> None:
        self._scheduled = False
        if self._pending:
            self._make_pending()
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
