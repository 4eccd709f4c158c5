"""``hstgw events``, run as a user runs it: one JSON line per reply and push."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import Dev, Gateway
from tests.events.event_gateway_rig import egw_gateway, join, listener, make_app

__all__ = ["egw_gateway"]


@pytest.fixture
def gw(egw_gateway: Gateway) -> Gateway:
    return egw_gateway


def run_events(gw: Gateway, dev: Dev, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hstgw", "events", "--url", gw.url, "--dev-id", dev.dev_id,
         "--dev-secret", dev.dev_secret, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )  # fmt: skip


def line(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    text = proc.stdout.readline()
    assert text, proc.stderr.read() if proc.stderr else ""
    return dict(json.loads(text))


def append_now(gw: Gateway, app_id: str, *entries: Any) -> None:
    loop = listener(gw).loop
    assert loop is not None
    work = gw.app.state["gateway"].events.append(app_id, list(entries))
    asyncio.run_coroutine_threadsafe(work, loop).result(10)


def test_events_prints_replies_and_pushes_as_json_lines(gw: Gateway) -> None:
    dev = gw.new_dev()
    app_id = make_app(gw, dev)
    append_now(gw, app_id, join("g", "aa"))
    proc = run_events(gw, dev, "--app-id", app_id)
    try:
        assert line(proc) == {"id": 20001, "result": 0, "message": "login successful"}
        assert line(proc) == {"id": 20005, "result": 0, "message": "subscribe successful"}
        sync = line(proc)
        assert (sync["id"], sync["version"], sync["app_id"]) == (20009, 1, app_id)
        assert sync["group_list"][0]["user_list"][0]["user_id"] == "aa"
        append_now(gw, app_id, join("g", "bb"))
        push = {"id": 20100, "app_id": app_id, "version": 2, "group_id": "g", "user_id": "bb"}
        assert line(proc) == push
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_events_from_a_version_replays_what_followed_it(gw: Gateway) -> None:
    dev = gw.new_dev()
    app_id = make_app(gw, dev)
    append_now(gw, app_id, join("g", "aa"), join("g", "bb"), join("g", "cc"))
    proc = run_events(gw, dev, "--app-id", app_id, "--from-version", "1")
    try:
        assert [line(proc)["id"] for _ in range(2)] == [20001, 20005]
        replay = line(proc)
        assert (replay["id"], replay["replay"], replay["version"]) == (20009, True, 1)
        assert [line(proc)["version"] for _ in range(2)] == [2, 3]
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_events_for_another_developers_app_is_one_error_line(gw: Gateway) -> None:
    dev = gw.new_dev()
    theirs = make_app(gw, gw.new_dev())
    proc = run_events(gw, dev, "--app-id", theirs)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert [json.loads(x)["id"] for x in out.splitlines()] == [20001]
    assert err.count("\n") == 1 and "app_list[0].app_id: no such app" in err


def test_events_usage_errors(gw: Gateway) -> None:
    dev = gw.new_dev()
    proc = run_events(gw, dev, "--app-id", "x", "--from-version", "-3")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "--from-version: must be 0 or more" in err


def test_events_on_a_gateway_that_is_not_there_says_so_in_one_line() -> None:
    from tests.conftest import free_port

    dev = Dev("d" * 32, "s" * 16)
    url = f"http://127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hstgw", "events", "--url", url, "--dev-id", dev.dev_id,
         "--dev-secret", dev.dev_secret, "--app-id", "a" * 32],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and out == ""
    assert err.count("\n") == 1 and f"cannot reach the gateway at {url}" in err
