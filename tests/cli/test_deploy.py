"""deploy/: the systemd unit verifies; the Containerfile names what the repository has."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hstgw.settings import Settings

DEPLOY = Path(__file__).parents[2] / "deploy"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    unit = (DEPLOY / "hstgw.service").read_text()
    assert "ExecStart=/opt/hstgw/bin/hstgw serve\n" in unit
    # verify also checks that ExecStart's program exists: point it at this install's
    hstgw = Path(sys.executable).parent / "hstgw"
    (tmp_path / "hstgw.service").write_text(unit.replace("/opt/hstgw/bin/hstgw", str(hstgw)))
    out = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "hstgw.service")],
        capture_output=True,
        text=True,
    )
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
    for hardening in ("NoNewPrivileges=yes", "ProtectSystem=strict", "CapabilityBoundingSet=\n"):
        assert hardening in unit


def test_the_containerfile_copies_what_exists_and_exposes_the_default_ports() -> None:
    text = (DEPLOY / "Containerfile").read_text()
    root = DEPLOY.parent
    for line in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M):
        for source in line.split():
            assert (root / source).exists(), source
    assert "--constraint requirements/constraints.txt '.[server]'" in text
    defaults = Settings(_env_file=None)
    assert f"EXPOSE {defaults.port} {defaults.terminal_port}" in text
    assert "UNTESTED" in text
