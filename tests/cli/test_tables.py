"""Lists are tables for a person on a terminal, JSON for a program (or with --json)."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

from hstgw.sdk import Client
from tests.billing.conftest import T0
from tests.billing.test_sdk_cli import setup
from tests.cli.test_cli import hstgw
from tests.cli.tty import run_on_a_terminal
from tests.conftest import Gateway


def width(text: str) -> int:
    """Columns on a terminal: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def test_dev_and_node_lists(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    dev = json.loads(hstgw("dev", "create", "--name", "acme", *data, "--json").stdout)
    node = json.loads(hstgw("node", "create", "--name", "media-1", *data, "--json").stdout)

    status, out, err = run_on_a_terminal("dev", "list", *data)
    assert (status, err) == (0, "")
    header, row, footer = out.splitlines()
    assert header.split() == ["dev_id", "status", "created_at", "name"]
    assert row.startswith(f"{dev['dev_id']}  active  ") and row.endswith(" UTC  acme")
    assert footer == "developers: 1"

    status, out, _ = run_on_a_terminal("node", "list", *data)
    header, row, footer = out.splitlines()
    assert header.split() == ["node_id", "status", "created_at", "name"]
    assert row.startswith(f"{node['node_id']}  active  ") and row.endswith(" UTC  media-1")
    assert footer == "nodes: 1"

    # piped, or with --json on a terminal: JSON
    piped = json.loads(hstgw("dev", "list", *data).stdout)
    assert [(d["dev_id"], d["name"]) for d in piped] == [(dev["dev_id"], "acme")]
    status, out, _ = run_on_a_terminal("node", "list", *data, "--json")
    assert [n["node_id"] for n in json.loads(out)] == [node["node_id"]]


def test_app_list(gateway: Gateway) -> None:
    dev = gateway.new_dev()
    env = {
        "HSTGW_BASE_URL": gateway.url,
        "HSTGW_DEV_ID": dev.dev_id,
        "HSTGW_DEV_SECRET": dev.dev_secret,
    }
    with Client(gateway.url, dev.dev_id, dev.dev_secret) as client:
        one = client.apps.create("table_one", [3, (7, 100)], status="online")
        two = client.apps.create("table_two", [4], consumption_limit=500)

    status, out, err = run_on_a_terminal("app", "list", env=env)
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["app_id", "app_name", "status", "services", "consumption_limit"]
    assert lines[1].split() == [one.app_id, "table_one", "online", "3,7", "-"]
    assert lines[2].split() == [two.app_id, "table_two", "offline", "4", "500"]
    assert lines[3] == "2 apps"
    assert one.app_secret not in out

    status, out, _ = run_on_a_terminal("app", "list", "--page-size", "1", env=env)
    assert out.splitlines()[-1] == "1 of 2 apps; --all lists every page"
    status, out, _ = run_on_a_terminal("app", "list", "--page-size", "1", "--all", env=env)
    assert out.splitlines()[-1] == "2 apps"

    piped = json.loads(hstgw("app", "list", env=env).stdout)
    assert (piped["total"], [a["app_id"] for a in piped["apps"]]) == (2, [one.app_id, two.app_id])
    status, out, _ = run_on_a_terminal("app", "list", "--json", env=env)
    assert json.loads(out)["total"] == 2


def test_records_list(gateway: Gateway) -> None:
    env, _, _ = setup(gateway)
    window = ["--start", str(T0 - 1000), "--end", str(T0 + 1000)]
    status, out, err = run_on_a_terminal("records", "list", *window, env=env)
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == [
        "start_time", "app_name", "charge_term", "product_name", "user_id", "total_time", "amount",
    ]  # fmt: skip
    assert lines[1].split()[:4] == ["2025-11-28", "11:20:00", "rec_app", "1"]
    assert lines[1].split()[-2:] == ["60", "0.006000"]
    # a wide (CJK) product name keeps the columns after it aligned; numbers to the right
    rows = lines[1:-1]
    assert {width(row) for row in rows} == {width(lines[0])}
    end = lines[0].index("total_time") + len("total_time")
    assert width(lines[0][:end]) == width(rows[0][: rows[0].index(" 60 ") + 3])
    assert lines[-1] == "5 records, amount 0.090000"

    piped = json.loads(hstgw("records", "list", *window, env=env).stdout)
    assert [r["amount"] for r in piped][-1] == "0.030000"
