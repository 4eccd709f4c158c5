"""The ``hstgw`` command line, run as a user runs it: in a subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from hstgw.tokens.fsp import decode
from tests.conftest import Gateway


def hstgw(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hstgw", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_dev_create_json_prints_exactly_one_object(tmp_path: Path) -> None:
    out = hstgw("dev", "create", "--name", "acme", "--data-dir", str(tmp_path), "--json")
    assert out.returncode == 0, out.stderr
    dev = json.loads(out.stdout)
    assert set(dev) == {"dev_id", "dev_secret"}
    assert re.fullmatch(r"[0-9a-f]{32}", dev["dev_id"])
    assert re.fullmatch(r"[A-Za-z0-9]{16}", dev["dev_secret"])


def test_dev_list_reset_disable_enable(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    dev = json.loads(hstgw("dev", "create", "--name", "one", *data, "--json").stdout)
    listed = json.loads(hstgw("dev", "list", *data, "--json").stdout)
    assert [(d["dev_id"], d["name"], d["status"]) for d in listed] == [
        (dev["dev_id"], "one", "active")
    ]
    assert dev["dev_secret"] not in json.dumps(listed)

    reset = json.loads(hstgw("dev", "reset-secret", dev["dev_id"], *data, "--json").stdout)
    assert reset["dev_id"] == dev["dev_id"] and reset["dev_secret"] != dev["dev_secret"]

    assert hstgw("dev", "disable", dev["dev_id"], *data).returncode == 0
    assert json.loads(hstgw("dev", "list", *data, "--json").stdout)[0]["status"] == "disabled"
    assert hstgw("dev", "enable", dev["dev_id"], *data).returncode == 0
    assert json.loads(hstgw("dev", "list", *data, "--json").stdout)[0]["status"] == "active"

    missing = hstgw("dev", "disable", "f" * 32, *data)
    assert missing.returncode == 1
    msg = json.loads(missing.stderr)["error"]["msg"]
    assert msg == f"dev_id: no developer {'f' * 32} (hstgw dev list shows them)"


def test_data_dir_from_the_environment(tmp_path: Path) -> None:
    out = hstgw("dev", "create", "--json", env={"HSTGW_DATA_DIR": str(tmp_path / "env")})
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "env" / "hstgw.sqlite3").exists()


def test_dev_create_beside_a_running_server(gateway: Gateway) -> None:
    dev = json.loads(hstgw("dev", "create", "--data-dir", str(gateway.data_dir), "--json").stdout)
    from tests.conftest import Dev

    assert gateway.access_token(Dev(dev["dev_id"], dev["dev_secret"]))


def test_token_build() -> None:
    out = hstgw(
        "token",
        "build",
        "--id",
        "myapp",
        "--secret",
        "1234567890123456",
        "--uid",
        "u1",
        "--gid",
        "g1",
        "--expire",
        "4102444800",
    )
    assert out.returncode == 0, out.stderr
    claims = decode(out.stdout.strip(), "1234567890123456")
    assert (claims.aid, claims.uid, claims.gid, claims.et) == ("myapp", "u1", "g1", 4102444800)
    plain = decode(
        hstgw("token", "build", "--id", "d", "--secret", "1234567890123456").stdout.strip(),
        "1234567890123456",
    )
    assert (plain.uid, plain.gid, plain.et) == ("null", "null", None)
    bad = hstgw("token", "build", "--id", "d", "--secret", "short")
    assert bad.returncode == 2 and "16" in json.loads(bad.stderr)["error"]["msg"]


def test_app_commands_over_the_api(gateway: Gateway) -> None:
    dev = json.loads(hstgw("dev", "create", "--data-dir", str(gateway.data_dir), "--json").stdout)
    env = {
        "HSTGW_BASE_URL": gateway.url,
        "HSTGW_DEV_ID": dev["dev_id"],
        "HSTGW_DEV_SECRET": dev["dev_secret"],
    }

    def run(*args: str) -> Any:
        out = hstgw("app", *args, env=env)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    app = run(
        "create", "--name", "cli_app", "--service", "3", "--service", "7:100", "--status", "online"
    )
    assert app["app_name"] == "cli_app" and app["status"] == "online"
    assert [(s["service_id"], s["use_limit"]) for s in app["service"]] == [(3, None), (7, 100)]
    assert run("get", "--app-id", app["app_id"]) == app
    updated = run(
        "update", "--app-id", app["app_id"], "--name", "cli_app2", "--consumption-limit", "9"
    )
    assert (updated["app_name"], updated["consumption_limit"]) == ("cli_app2", 9)
    updated = run("update", "--app-id", app["app_id"], "--no-consumption-limit")
    assert updated["consumption_limit"] is None
    assert run("list")["total"] == 1
    assert [a["app_id"] for a in run("list", "--all", "--page-size", "1")] == [app["app_id"]]
    assert run("delete", "--app-id", app["app_id"]) == {"deleted": app["app_id"]}

    failed = hstgw("app", "get", "--app-id", app["app_id"], env=env)
    assert failed.returncode == 1
    error = json.loads(failed.stderr)["error"]
    assert (error["code"], error["msg"]) == (606000003, "app_id: no such app")
    assert error["request_id"]

    # credentials from flags instead of the environment
    flags = [
        "--base-url",
        gateway.url,
        "--dev-id",
        dev["dev_id"],
        "--dev-secret",
        dev["dev_secret"],
    ]
    assert json.loads(hstgw("app", "list", *flags).stdout)["total"] == 0


def test_app_commands_without_credentials_fail_clearly() -> None:
    out = hstgw("app", "list", env={"HSTGW_DEV_ID": "", "HSTGW_DEV_SECRET": ""})
    assert out.returncode == 1
    assert "dev_id and dev_secret are required" in json.loads(out.stderr)["error"]["msg"]
