"""``hstgw completion bash|zsh|fish``: scripts the shells accept, that complete the tree."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hstgw.cli import build_parser, subcommands
from tests.cli.test_cli import hstgw

COMMANDS = list(subcommands(build_parser()))


def script(shell: str, tmp_path: Path) -> Path:
    out = hstgw("completion", shell)
    assert out.returncode == 0, out.stderr
    path = tmp_path / f"hstgw.{shell}"
    path.write_text(out.stdout)
    return path


def bash_complete(path: Path, *words: str) -> list[str]:
    """What bash offers after ``words`` (the last one being completed)."""
    quoted = " ".join(f"'{w}'" for w in words)
    program = (
        f"source {path}; COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; _hstgw; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    out = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_the_bash_script_is_valid_and_completes_the_tree(tmp_path: Path) -> None:
    path = script("bash", tmp_path)
    subprocess.run(["bash", "-n", str(path)], check=True)
    assert COMMANDS == [
        "serve",
        "dev",
        "node",
        "token",
        "app",
        "records",
        "terminal",
        "events",
        "webhooks",
        "completion",
    ]
    assert bash_complete(path, "hstgw", "") == [*COMMANDS, "-h", "--help", "--version"]
    assert bash_complete(path, "hstgw", "app", "cr") == ["create"]
    assert bash_complete(path, "hstgw", "app", "create", "--serv") == ["--service"]
    assert bash_complete(path, "hstgw", "app", "update", "--status", "") == ["online", "offline"]
    assert bash_complete(path, "hstgw", "dev", "list", "--j") == ["--json"]
    assert bash_complete(path, "hstgw", "completion", "") == [
        "bash",
        "zsh",
        "fish",
        "-h",
        "--help",
        "--debug",
    ]
    assert bash_complete(path, "hstgw", "app", "create", "--name", "") == []  # a value of one's own
    (tmp_path / "data").mkdir()
    assert bash_complete(path, "hstgw", "dev", "list", "--data-dir", f"{tmp_path}/d") == [
        f"{tmp_path}/data"
    ]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_the_zsh_script_is_valid_and_completes_the_tree(tmp_path: Path) -> None:
    path = script("zsh", tmp_path)
    subprocess.run(["zsh", "-n", str(path)], check=True)
    # compsys stand-ins that print what they are given
    program = f"""
        compdef() {{ : }}
        _describe() {{ local name=${{@[-1]}}; print -l -- ${{(P)name}} }}
        compadd() {{ shift; print -l -- "$@" }}
        source {path}
        words=(hstgw app cr); CURRENT=3; PREFIX=cr; _hstgw
        words=(hstgw app create --status ''); CURRENT=5; PREFIX=''; _hstgw
    """
    out = subprocess.run(["zsh", "-c", program], capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    assert "create:create an app" in lines and "delete:delete an app" in lines
    assert lines[-2:] == ["online", "offline"]


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_the_fish_script_is_valid_and_completes_the_tree(tmp_path: Path) -> None:
    path = script("fish", tmp_path)
    subprocess.run(["fish", "-n", str(path)], check=True)

    def complete(line: str) -> list[str]:
        program = f"source {path}; complete -C '{line}'"
        out = subprocess.run(["fish", "-c", program], capture_output=True, text=True, check=True)
        return [row.split("\t")[0] for row in out.stdout.splitlines()]

    assert sorted(complete("hstgw ")) == sorted(COMMANDS)
    assert complete("hstgw app cr") == ["create"]
    assert sorted(complete("hstgw app create --status ")) == ["offline", "online"]
