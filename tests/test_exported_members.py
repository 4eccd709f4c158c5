"""The public surface: each package's __all__ names what it exports, and nothing private."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGES = [
    "hstgw.sdk",
    "hstgw.tokens",
    "hstgw.store",
    "hstgw.api",
    "hstgw.errors",
    "hstgw.services",
    "hstgw.console",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_public_members_only(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert sorted(exported) == sorted(set(exported))
    for member in exported:
        assert hasattr(module, member), member
        assert not member.startswith("_")


def test_sdk_surface() -> None:
    import hstgw.sdk

    assert {"Client", "AsyncClient", "APIError", "SyncPage", "AsyncPage", "App"} <= set(
        hstgw.sdk.__all__
    )


def test_sdk_and_api_cli_import_without_server_dependencies() -> None:
    """A backend installing only the SDK has no pydantic, httptools, orjson or database driver."""
    blocked = [
        "pydantic",
        "pydantic_settings",
        "httptools",
        "orjson",
        "sqlite3",
        "_sqlite3",
        "uvloop",
    ]
    code = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        "import hstgw.sdk, hstgw.cli\n"
        "from hstgw.cli import main\n"
        "sys.exit(main(['token', 'build', '--id', 'x', '--secret', '1234567890123456']))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("001")


@pytest.mark.parametrize("command", [["dev", "create"], ["node", "create"], ["dev", "list"]])
def test_operator_commands_without_the_server_extra_say_what_to_install(
    command: list[str], tmp_path: Path
) -> None:
    code = (
        "import sys\n"
        "for name in ['pydantic', 'pydantic_settings', 'httptools', 'orjson']:\n"
        "    sys.modules[name] = None\n"
        "from hstgw.cli import main\n"
        f"sys.exit(main({[*command, '--data-dir', str(tmp_path)]!r}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    assert out.returncode == 1, out.stderr
    assert "hst-gateway[server]" in out.stderr
    assert "Traceback" not in out.stderr and "ModuleNotFoundError" not in out.stderr
