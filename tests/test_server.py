"""``hstgw serve`` as a process: settings, the access log, graceful stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import engine_settings, free_port
from tests.waiting import eventually_sync


def start(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hstgw", "serve", "--data-dir", str(tmp_path / "data"), *args],
        stderr=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            "HSTGW_PORT": str(port),
            "HSTGW_TERMINAL_PORT": str(free_port()),
            **(env or {}),
        },
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            httpx.get(f"{url}/healthz", timeout=1)
            return True
        except httpx.TransportError:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            return False

    if eventually_sync(up, 15):
        return proc, url
    proc.kill()
    raise AssertionError("server did not start")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serves_logs_each_request_and_stops_gracefully(tmp_path: Path, sig: signal.Signals) -> None:
    proc, url = start(tmp_path)
    with httpx.Client() as http:
        started = time.perf_counter()
        http.get(f"{url}/v1/apps", headers={"X-Request-Id": "abc123"})
        round_trip_ms = (time.perf_counter() - started) * 1000
        http.get(f"{url}/nope")
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=20)
    # uvicorn finishes the shutdown, then lets the signal end the process as usual
    assert proc.returncode in (0, -sig, 130), stderr
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert any(line["msg"] == "gateway stopped" for line in lines)
    access = [line for line in lines if line["logger"] == "hstgw.access"]
    assert {(a["method"], a["path"], a["status"], a["code"]) for a in access} >= {
        ("GET", "/v1/apps", 200, 606000000),
        ("GET", "/nope", 404, 606000003),
    }
    first = next(a for a in access if a["path"] == "/v1/apps")
    # the server's time is part of the client's round trip
    assert first["request_id"] == "abc123" and 0 <= first["latency_ms"] <= round_trip_ms
    assert (tmp_path / "data" / "hstgw.sqlite3").exists()


def test_settings_come_from_the_environment(tmp_path: Path) -> None:
    proc, url = start(tmp_path, env={"HSTGW_ACCESS_LOG": "false", "HSTGW_HOST": "127.0.0.1"})
    try:
        assert httpx.get(f"{url}/healthz").json()["status"] == "ok"
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=20)
    assert "hstgw.access" not in stderr and "gateway started" in stderr


def test_flags_win_over_the_environment(tmp_path: Path) -> None:
    flag_port, terminal_port, event_port = free_port(), free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hstgw",
            "serve",
            "--port",
            str(flag_port),
            "--terminal-port",
            str(terminal_port),
            "--event-port",
            str(event_port),
            "--data-dir",
            str(tmp_path / "flag"),
        ],
        stderr=subprocess.DEVNULL,
        env={
            **os.environ,
            "HSTGW_PORT": "1",
            "HSTGW_TERMINAL_PORT": "1",
            "HSTGW_EVENT_PORT": "1",
            "HSTGW_DATA_DIR": str(tmp_path / "env"),
        },
    )
    try:

        def up() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{flag_port}/healthz").status_code == 200
            except httpx.TransportError:
                assert proc.poll() is None, "server exited"
                return False

        assert eventually_sync(up, 15), "server did not start on the flag's port"
        assert (tmp_path / "flag" / "hstgw.sqlite3").exists()
        address = httpx.get(f"http://127.0.0.1:{flag_port}/v1/online/address").json()
        assert address["result"]["ws_url"] == f"ws://127.0.0.1:{terminal_port}/"
        events = httpx.get(f"http://127.0.0.1:{flag_port}/server/address?appType=8").json()
        assert events["result"] == f"ws://127.0.0.1:{event_port}"
        assert not (tmp_path / "env").exists()
    finally:
        proc.terminate()
        proc.wait(20)


def test_a_second_server_on_the_same_data_dir_refuses_to_start(tmp_path: Path) -> None:
    proc, _ = start(tmp_path)
    try:
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "hstgw",
                "serve",
                "--data-dir",
                str(tmp_path / "data"),
                "--port",
                str(free_port()),
                "--terminal-port",
                str(free_port()),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode != 0
        assert "in use by another hstgw" in second.stderr
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


def test_invalid_settings_are_refused_with_the_setting_named(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hstgw", "serve", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "HSTGW_TIME_ZONE": "Mars/Olympus"},
    )
    assert out.returncode == 1
    assert "time_zone" in json.loads(out.stderr)["error"]["msg"]


def test_a_missing_postgres_database_is_one_line_without_a_trace(tmp_path: Path) -> None:
    for db in engine_settings("postgres"):  # (skips, or fails in CI, without PostgreSQL)
        base = db["database_url"].rsplit("/", 1)[0]
        ports = ["--port", str(free_port()), "--terminal-port", str(free_port())]
        out = subprocess.run(
            [sys.executable, "-m", "hstgw", "serve", "--data-dir", str(tmp_path), *ports],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "HSTGW_DATABASE_URL": f"{base}/hstgw_no_such_db"},
        )
        assert out.returncode != 0
        msgs = [json.loads(line).get("msg") for line in out.stderr.splitlines() if line[:1] == "{"]
        assert (
            'start-up failed: PostgreSQL: database "hstgw_no_such_db" does not exist: '
            "create it (createdb, or CREATE DATABASE in psql) or correct HSTGW_DATABASE_URL"
        ) in msgs
        assert "Traceback" not in out.stderr


def test_serve_freezes_what_start_up_made_before_it_serves(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The modules, models and routes, and what the app's start-up built, are out of
    the garbage collector's full walks (hstgw.server.freeze_startup_objects says why)
    by the time the port opens."""
    import gc
    import signal

    from hstgw import server as server_module
    from hstgw.settings import Settings

    settings = Settings(
        _env_file=None, data_dir=tmp_path, port=free_port(), terminal_port=free_port()
    )
    seen: list[tuple[int, bool, bool]] = []

    def frozen() -> None:
        real_freeze()
        started = _accepts(settings.terminal_port)  # the lifespan opened it
        seen.append((gc.get_freeze_count(), started, _accepts(settings.port)))
        signal.raise_signal(signal.SIGINT)  # (serve's handler: stop once it served)

    real_freeze = server_module.freeze_startup_objects
    monkeypatch.setattr(server_module, "freeze_startup_objects", frozen)
    monkeypatch.setattr(server_module, "setup_logging", lambda *args: None)  # (the root's)
    gc.unfreeze()
    try:
        assert server_module.serve(settings)
    finally:
        gc.unfreeze()  # (this test process's objects go back to the collector)
    (count, started, serving), *more = seen
    assert not more and count > 10_000  # the imports and the app at least
    assert started and not serving  # after the start-up, before the REST port opened


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
