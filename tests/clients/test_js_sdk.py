"""The TypeScript terminal SDK (clients/js): its own tests (``npm test``, against a real
``hstgw serve``), its package, and that it agrees with the Python source of truth."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import hstgw
from tests.clients.conftest import JS_PACKAGE


def test_the_code_table_is_the_python_one() -> None:
    # src/codes.ts is generated from hstgw.errors.TerminalCode and hstgw.online.protocol.
    render = runpy.run_path(str(JS_PACKAGE / "scripts" / "codes.py"))["render"]
    assert (JS_PACKAGE / "src" / "codes.ts").read_text(encoding="utf-8") == render(), (
        "clients/js/src/codes.ts is out of date: run `npm run codes` in clients/js"
    )


def test_the_package_version_is_the_python_package_version() -> None:
    package = json.loads((JS_PACKAGE / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((JS_PACKAGE / "package-lock.json").read_text(encoding="utf-8"))
    assert package["version"] == lock["version"] == lock["packages"][""]["version"]
    assert package["version"] == hstgw.__version__
    # no runtime dependency; dev dependencies pinned exactly
    assert "dependencies" not in package
    assert all(v[0].isdigit() for v in package["devDependencies"].values())


def test_npm_test_against_a_real_gateway(js_sdk: Path) -> None:
    env = {**os.environ, "HSTGW_VENV": sys.prefix}  # the gateway of this interpreter's venv
    done = subprocess.run(
        ["npm", "test"], cwd=js_sdk, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "# fail 0" in done.stdout


def test_npm_pack_makes_an_installable_tarball(js_sdk: Path, tmp_path: Path) -> None:
    packed = subprocess.run(
        ["npm", "pack", "--json", "--pack-destination", str(tmp_path)],
        cwd=js_sdk,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    (info,) = json.loads(packed.stdout)
    files = {f["path"] for f in info["files"]}
    assert {"package.json", "README.md", "LICENSE", "dist/index.js", "dist/index.d.ts"} <= files
    assert not [f for f in files if f.startswith(("src/", "test/", "scripts/"))]
    project = tmp_path / "app"
    project.mkdir()
    (project / "package.json").write_text('{"type": "module", "private": true}')
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", str(tmp_path / info["filename"])],
        cwd=project,
        capture_output=True,
        timeout=120,
        check=True,
    )
    program = (
        "import { TerminalClient, TerminalCode, LoginError } from 'hstgw-terminal';"
        "console.log(JSON.stringify([typeof TerminalClient, TerminalCode.TOKEN_INVALID,"
        " new LoginError(1000001, 'x').code]));"
    )
    out = subprocess.run(
        ["node", "--input-type=module", "-e", program],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(out.stdout) == ["function", 1000000, 1000001]
    assert (project / "node_modules" / "hstgw-terminal" / "dist" / "index.d.ts").is_file()
