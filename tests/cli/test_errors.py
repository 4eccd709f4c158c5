"""Every CLI error is one line on stderr, never a traceback; 2 for usage, 1 otherwise."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hstgw import cli
from hstgw.tokens import fsp
from tests.cli.test_cli import hstgw
from tests.cli.tty import run_on_a_terminal
from tests.conftest import POSTGRES_URL, postgres_reachable

KEY = "ab" * 32


def one_error(out: subprocess.CompletedProcess[str], status: int) -> str:
    """The error's msg, after checking it is the whole of stderr and nothing else."""
    assert "Traceback" not in out.stderr + out.stdout, out.stderr
    assert out.returncode == status, out.stderr
    assert out.stderr.count("\n") == 1, out.stderr
    return str(json.loads(out.stderr)["error"]["msg"])


TERMINAL = ["terminal", "--app-id", "a" * 32, "--user-id", "alice"]


def test_terminal_with_the_server_down() -> None:
    out = hstgw(*TERMINAL, "--url", "http://127.0.0.1:1", "--app-secret", "x" * 16)
    msg = one_error(out, 1)
    assert msg.startswith("cannot reach the gateway at http://127.0.0.1:1 (")
    assert out.stdout == ""


def test_terminal_with_a_url_without_a_scheme() -> None:
    out = hstgw(*TERMINAL, "--url", "127.0.0.1:28000", "--app-secret", "x" * 16)
    assert (
        one_error(out, 2) == "--url: '127.0.0.1:28000' has no scheme: write http://127.0.0.1:28000"
    )


def test_terminal_with_a_short_secret() -> None:
    out = hstgw(*TERMINAL, "--url", "http://127.0.0.1:1", "--app-secret", "short")
    assert "--app-secret: the app's app_secret has 16 characters, not 5" in one_error(out, 2)
    missing = hstgw(*TERMINAL, "--url", "http://127.0.0.1:1", env={"HSTGW_TERMINAL_TOKEN": ""})
    assert one_error(missing, 2).startswith("--app-secret (the app's app_secret) or")


def test_app_commands_with_a_bad_base_url_or_the_server_down() -> None:
    creds = ["--dev-id", "d" * 32, "--dev-secret", "x" * 16]
    bad = hstgw("app", "list", *creds, "--base-url", "127.0.0.1:1")
    assert one_error(bad, 2) == "--base-url: '127.0.0.1:1' has no scheme: write http://127.0.0.1:1"
    down = hstgw("app", "list", *creds, "--base-url", "http://127.0.0.1:1")
    assert one_error(down, 1).startswith("cannot reach the gateway at http://127.0.0.1:1 (")


def test_dev_with_the_wrong_master_key(tmp_path: Path) -> None:
    assert hstgw("dev", "create", "--data-dir", str(tmp_path), "--json").returncode == 0
    out = hstgw("dev", "list", "--data-dir", str(tmp_path), env={"HSTGW_SECRET_KEY": KEY})
    msg = one_error(out, 1)
    assert msg.startswith("a stored secret cannot be opened with this HSTGW_SECRET_KEY: set ")


@pytest.mark.skipif(not postgres_reachable(), reason="needs the local PostgreSQL")
def test_dev_on_a_database_that_does_not_exist() -> None:
    url = POSTGRES_URL.rsplit("/", 1)[0] + f"/missing_{secrets.token_hex(4)}"
    out = hstgw("dev", "list", env={"HSTGW_DATABASE_URL": url, "HSTGW_SECRET_KEY": KEY})
    msg = one_error(out, 1)
    assert "does not exist: create it (createdb, or CREATE DATABASE in psql)" in msg


@pytest.mark.parametrize("command", [["dev", "list"], ["node", "list"], ["node", "create"]])
def test_operator_commands_with_postgres_down(command: list[str]) -> None:
    env = {"HSTGW_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/test", "HSTGW_SECRET_KEY": KEY}
    msg = one_error(hstgw(*command, env=env), 1)
    assert msg.startswith("cannot reach PostgreSQL: ")
    assert msg.endswith("is PostgreSQL running at HSTGW_DATABASE_URL?")


def test_a_mistyped_option_is_named_with_the_nearest_one() -> None:
    out = hstgw("app", "create", "--name", "x", "--servce", "3")
    assert one_error(out, 2) == (
        "hstgw app create: --servce: unknown option; did you mean --service? "
        "(see hstgw app create --help)"
    )
    out = hstgw("dev", "lst")
    assert "dev: lst: unknown command; did you mean list?" in one_error(out, 2)
    out = hstgw("app", "list", "--page-size", "many")
    assert "argument --page-size: invalid int value: 'many'" in one_error(out, 2)
    # an abbreviation argparse accepts is not an unknown option
    assert "--serv" not in one_error(hstgw("app", "create", "--serv", "3"), 2)


def test_operator_commands_refuse_a_data_dir_without_a_store(tmp_path: Path) -> None:
    typo = tmp_path / "typo"
    for command in (["dev", "list"], ["node", "list"], ["dev", "disable", "f" * 32]):
        msg = one_error(hstgw(*command, "--data-dir", str(typo)), 1)
        assert msg.startswith(f"{typo}: no gateway data here (hstgw.sqlite3 not found): ")
    assert not typo.exists()

    made = hstgw("dev", "create", "--data-dir", str(typo), "--json")
    assert made.returncode == 0
    assert made.stderr == f"hstgw: made a new, empty gateway data directory: {typo}\n"
    assert set(json.loads(made.stdout)) == {"dev_id", "dev_secret"}
    again = hstgw("dev", "create", "--data-dir", str(typo), "--json")
    assert again.returncode == 0 and again.stderr == ""
    assert hstgw("dev", "list", "--data-dir", str(typo), "--json").returncode == 0


def test_an_unexpected_error_is_one_line_with_a_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("something odd")

    monkeypatch.setattr(fsp, "build", broken)
    argv = ["token", "build", "--id", "x", "--secret", "x" * 16]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert json.loads(err)["error"]["msg"] == (
        "unexpected error: RuntimeError: something odd; run again with --debug "
        "(or HSTGW_LOG_LEVEL=debug) to see the traceback"
    )
    assert cli.main([*argv, "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.splitlines()[-1].startswith('{"error": ')


def test_on_a_terminal_an_error_is_a_line_of_text(tmp_path: Path) -> None:
    status, _, err = run_on_a_terminal("dev", "list", "--data-dir", str(tmp_path / "none"))
    assert status == 1
    assert err == (
        f"hstgw: {tmp_path / 'none'}: no gateway data here (hstgw.sqlite3 not found): give the "
        "gateway's data directory with --data-dir or HSTGW_DATA_DIR (hstgw dev create makes "
        "a new one)\n"
    )
    status, _, err = run_on_a_terminal("dev", "list", "--data-dir", str(tmp_path), "--json")
    assert status == 1 and json.loads(err)["error"]["msg"].startswith(str(tmp_path))


@pytest.mark.skipif(not postgres_reachable(), reason="needs the local PostgreSQL")
def test_serve_that_cannot_start_says_so_and_exits_1(tmp_path: Path) -> None:
    url = POSTGRES_URL.rsplit("/", 1)[0] + f"/missing_{secrets.token_hex(4)}"
    env = {"HSTGW_DATABASE_URL": url, "HSTGW_PORT": "0", "HSTGW_TERMINAL_PORT": "0"}
    out = hstgw("serve", "--data-dir", str(tmp_path), env=env)
    assert out.returncode == 1
    last = json.loads(out.stderr.splitlines()[-1])
    assert last == {
        "error": {
            "msg": "the gateway did not start, or stopped on an error: the log lines above say why"
        }
    }


def test_an_unreadable_data_dir_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "hstgw.sqlite3").mkdir()  # where the database file should be
    msg = one_error(hstgw("dev", "list", "--data-dir", str(tmp_path)), 1)
    assert msg.startswith("SQLite: ") and msg.endswith(
        "check the data directory (its permissions, free space)"
    )


def test_serve_on_a_taken_terminal_port_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        env = {"HSTGW_PORT": "0", "HSTGW_TERMINAL_PORT": str(port)}
        out = hstgw("serve", "--data-dir", str(tmp_path), env=env)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "address already in use" in out.stderr


def test_terminal_with_a_bad_media() -> None:
    url = ["--url", "http://127.0.0.1:1", "--app-secret", "x" * 16]
    out = hstgw(*TERMINAL, *url, "--group", "g", "--media", "3:cam")
    assert one_error(out, 2).startswith("--media: '3:cam' is not TYPE:ID (TYPE 0 or screen")
    alone = hstgw(*TERMINAL, *url, "--media", "video:cam")
    assert one_error(alone, 2) == "--media needs --group (the group the media is broadcast in)"
