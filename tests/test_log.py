"""Log lines: JSON for a machine, text for a person (HSTGW_LOG_FORMAT, or stderr a terminal)."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hstgw.log import AccessLog, JsonFormatter, TextFormatter, log_format
from tests.conftest import free_port

TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}"


def record(msg: str, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("hstgw", logging.INFO, __file__, 1, msg, (), None)
    rec.__dict__.update(extra)
    return rec


def test_text_and_json_lines_carry_the_same_fields() -> None:
    rec = record("gateway started", data_dir="/srv/hstgw data", terminal_port=28001, ok=True)
    text = TextFormatter().format(rec)
    assert re.fullmatch(
        TIME + r' INFO    hstgw: gateway started data_dir="/srv/hstgw data" '
        r"terminal_port=28001 ok=true",
        text,
    ), text
    line = json.loads(JsonFormatter().format(rec))
    assert (line["msg"], line["data_dir"], line["terminal_port"]) == (
        "gateway started",
        "/srv/hstgw data",
        28001,
    )


def test_the_websockets_librarys_connection_object_is_left_out() -> None:
    """websockets puts its connection on its records (``extra={"websocket": ...}``):
    its repr, an address in memory, is left out of both formats."""
    rec = record("connection closed", websocket=object(), peer="10.0.0.1")
    assert "websocket" not in json.loads(JsonFormatter().format(rec))
    assert TextFormatter().format(rec).endswith("connection closed peer=10.0.0.1")


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_format_is_text_on_a_terminal_unless_chosen() -> None:
    assert log_format(None, Tty()) == "text"
    assert log_format(None, io.StringIO()) == "json"
    assert log_format("json", Tty()) == "json"
    assert log_format("text", io.StringIO()) == "text"


@pytest.mark.anyio
async def test_the_access_log_in_text() -> None:
    out = io.BytesIO()
    log = AccessLog(stream=out, fmt="text")
    fields = {"method": "GET", "path": "/v1/apps", "status": 200, "code": 0}
    log.write({**fields, "latency_ms": 0.52, "request_id": "r1"})
    log.flush()
    assert re.fullmatch(
        TIME + r" INFO    hstgw.access: GET /v1/apps 200 code=0 latency_ms=0.52 request_id=r1\n",
        out.getvalue().decode(),
    )


@pytest.mark.anyio
async def test_the_access_log_in_json_stamps_each_line_with_its_millisecond() -> None:
    out = io.BytesIO()
    log = AccessLog(stream=out, fmt="json")
    before = datetime.now(UTC)
    for n in range(3):
        log.write({"method": "GET", "path": "/v1/apps", "status": 200, "request_id": f"r{n}"})
    after = datetime.now(UTC)
    log.flush()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["request_id"] for line in lines] == ["r0", "r1", "r2"]
    for line in lines:  # (the stamp is made once a millisecond, not once a line)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["ts"])
        stamp = datetime.fromisoformat(line["ts"])
        assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= stamp <= after


def test_serve_logs_text_when_told(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "HSTGW_LOG_FORMAT": "text", "HSTGW_TERMINAL_PORT": str(free_port())}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hstgw", "serve", "--port", str(port), "--data-dir", str(tmp_path)],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    try:
        lines = []
        for line in proc.stderr:  # blocks until the next line: no sleeping
            lines.append(line)
            if "running on" in line:  # uvicorn listens
                break
        started = next(line for line in lines if "gateway started" in line)
        assert re.match(TIME + r" INFO    hstgw: gateway started data_dir=", started), lines
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10):
            pass
    finally:
        proc.terminate()
        rest = proc.communicate(timeout=30)[1]
    assert re.search(TIME + r" INFO    hstgw.access: GET /healthz 200 code=0 ", rest), rest
    assert not [line for line in lines + rest.splitlines() if line.startswith("{")]


@pytest.mark.anyio
@pytest.mark.parametrize("fmt", ["json", "text"])
async def test_a_rest_calls_line_is_writes_line_made_when_written_out(fmt: str) -> None:
    """``request`` only notes the call; its line, made at the flush, is the one ``write``
    makes of the same fields (stamped when the call was noted), in the calls' order."""
    noted, written = io.BytesIO(), io.BytesIO()
    a = AccessLog(stream=noted, fmt=fmt)
    b = AccessLog(stream=written, fmt=fmt)
    odd = 'x"\\\n\u2028é'  # (what a client may put in X-Request-Id or a 404's path)
    calls = [
        ("GET", "/v1/app", 200, 0, 0.123456, "0123abcd"),
        ("POST", f"/v1/{odd}", 404, 606000003, 12.0, odd),
    ]
    for method, path, status, code, ms, rid in calls:
        a.request(method, path, status, code, ms, rid)
        b.write({"method": method, "path": path, "status": status, "code": code,
                 "latency_ms": round(ms, 3), "request_id": rid})  # fmt: skip
    a.write({"method": "GET", "path": "/console", "status": 200})  # a page's line, after
    b.write({"method": "GET", "path": "/console", "status": 200})
    assert noted.getvalue() == b""  # nothing made yet
    a.flush()
    b.flush()
    strip = (
        (lambda line: {k: v for k, v in json.loads(line).items() if k != "ts"})
        if (fmt == "json")
        else (lambda line: line[24:])
    )  # (the text line's time)
    assert [strip(x) for x in noted.getvalue().splitlines()] == [
        strip(x) for x in written.getvalue().splitlines()
    ]


@pytest.mark.anyio
async def test_noted_calls_are_written_out_by_the_hundreds() -> None:
    out = io.BytesIO()
    log = AccessLog(stream=out, fmt="json")
    for n in range(256):
        log.request("GET", "/healthz", 200, 0, 0.1, f"r{n}")
    assert len(out.getvalue().splitlines()) == 256  # without waiting for the timer


def test_noted_calls_are_written_out_by_a_flush_without_a_loop() -> None:
    """(the shutdown's last flush may run where no event loop is)"""
    out = io.BytesIO()
    log = AccessLog(stream=out, fmt="json")
    log._pending.append((0, "GET", "/healthz", 200, 0, 0.1, "r"))  # noted in a loop before
    log.flush()
    assert json.loads(out.getvalue())["request_id"] == "r"
