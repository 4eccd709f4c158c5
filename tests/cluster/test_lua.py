"""The cluster's Lua scripts: one file each under hstgw/cluster/lua, with a header
naming its KEYS and ARGV, read at import, accepted by Redis, and shipped in the wheel."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

import redis

from hstgw.cluster import lua
from hstgw.online.presence import FIELD_SEPARATOR
from hstgw.validation import HEX32_RE, ID_RE, VISIBLE_RE
from tests.cluster.conftest import REDIS_URL, require_redis

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = {
    "claim",
    "release",
    "set_state",
    "forget_node",
    "keep_resume",
    "forget_resumes",
    "retain",
    "remember_invite",
    "take_buckets",
    "issue_token",
}


def lua_files() -> set[str]:
    return {
        e.name.removesuffix(".lua")
        for e in resources.files(lua).iterdir()
        if e.name.endswith(".lua")
    }


def test_every_script_is_read_from_its_file() -> None:
    assert lua_files() == EXPECTED
    assert set(lua.SCRIPTS) == EXPECTED
    for name in EXPECTED:
        text = (resources.files(lua) / f"{name}.lua").read_text(encoding="utf-8")
        assert lua.source(name) == text


def test_every_script_states_its_keys_and_argv() -> None:
    for name, text in lua.SCRIPTS.items():
        header = []
        for line in text.splitlines():
            if not line.startswith("--"):
                break
            header.append(line)
        assert header[0].startswith(f"-- {name}: "), name
        assert any(h.startswith("-- KEYS[") for h in header), name
        assert any(h.startswith("-- ARGV[") for h in header), name
        assert any(h.startswith("-- Returns") for h in header), name


def test_no_lua_is_left_in_the_modules() -> None:
    for module in (ROOT / "src/hstgw/cluster").glob("*.py"):
        assert "redis.call(" not in module.read_text(encoding="utf-8"), module.name


def test_redis_accepts_every_script() -> None:
    require_redis()
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for name, text in lua.SCRIPTS.items():
            sha = client.script_load(text)
            assert sha == hashlib.sha1(text.encode()).hexdigest(), name
            assert client.script_exists(sha) == [True], name
    finally:
        client.close()


def test_the_wheel_ships_every_script(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "-w", str(tmp_path), "--no-deps", "-q"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in EXPECTED:
        assert f"hstgw/cluster/lua/{name}.lua" in names
    assert "hstgw/cluster/lua/__init__.py" in names


def test_the_field_separator_is_in_no_id() -> None:
    # Presence joins ids with it and splits them back (cluster/presence.py, resume owners).
    for rule in (ID_RE, HEX32_RE, VISIBLE_RE):
        assert re.fullmatch(rule, "a" + FIELD_SEPARATOR + "b") is None, rule
    assert FIELD_SEPARATOR.join(("app", "user", "")).split(FIELD_SEPARATOR) == ["app", "user", ""]
