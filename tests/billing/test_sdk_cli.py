"""Records through the SDK and the CLI; node credentials through the CLI."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from hstgw.sdk import AsyncClient, Client, Record
from tests.billing.conftest import T0, ev
from tests.cli.test_cli import hstgw
from tests.conftest import Gateway


def setup(gateway: Gateway) -> tuple[dict[str, str], str, str]:
    dev = json.loads(hstgw("dev", "create", "--json", env=gateway.cli_env()).stdout)
    node = json.loads(hstgw("node", "create", "--json", env=gateway.cli_env()).stdout)
    with Client(gateway.url, dev["dev_id"], dev["dev_secret"]) as client:
        app_id = client.apps.create("rec_app", [3, 4]).app_id
    events = [ev(f"r{i}", app_id, 1, 60_000 * (i + 1)) for i in range(5)]
    reply = gateway.call(
        "POST",
        "/internal/v1/usage",
        json={"events": events},
        headers={"Authorization": f"Bearer {node['node_key']}"},
    )
    assert reply["result"] == {"accepted": 5, "duplicates": 0}
    env = {
        "HSTGW_BASE_URL": gateway.url,
        "HSTGW_DEV_ID": dev["dev_id"],
        "HSTGW_DEV_SECRET": dev["dev_secret"],
    }
    return env, app_id, node["node_id"]


def test_node_commands(gateway: Gateway) -> None:
    env = gateway.cli_env()
    created = json.loads(hstgw("node", "create", "--name", "media-1", "--json", env=env).stdout)
    assert set(created) == {"node_id", "node_key"} and len(created["node_key"]) >= 40
    listed = json.loads(hstgw("node", "list", "--json", env=env).stdout)
    mine = next(n for n in listed if n["node_id"] == created["node_id"])
    assert (mine["name"], mine["status"]) == ("media-1", "active")
    assert created["node_key"] not in json.dumps(listed)
    assert hstgw("node", "revoke", created["node_id"], env=env).returncode == 0
    reply = gateway.call(
        "POST",
        "/internal/v1/usage",
        json={"events": [ev("x", "a" * 32, 1)]},
        headers={"Authorization": f"Bearer {created['node_key']}"},
    )
    assert reply["code"] == 606000000
    missing = hstgw("node", "revoke", "0" * 32, env=env)
    assert missing.returncode == 1


def test_sdk_records_iterate_all_pages_and_summarize(gateway: Gateway) -> None:
    env, app_id, _ = setup(gateway)
    with Client(env["HSTGW_BASE_URL"], env["HSTGW_DEV_ID"], env["HSTGW_DEV_SECRET"]) as client:
        page = client.records.list(T0 - 1000, T0 + 1000, page_size=2)
        assert (page.total, len(page.items)) == (5, 2)
        records = list(page)
        assert all(isinstance(r, Record) for r in records)
        assert [r.amount for r in records] == [Decimal("0.006") * i for i in range(1, 6)]
        assert (
            records[0].start_time == "2025-11-28 11:20:00" and records[0].product_name == "音频服务"
        )
        since = datetime.fromtimestamp((T0 - 1000) / 1000, UTC)
        assert len(list(client.records.list(since, T0 + 1000, app_id=app_id))) == 5
        summary = client.records.summary("2025-11")
        assert summary.amount == Decimal("0.09")
        [app] = summary.apps
        assert (app.app_id, app.terms[0].charge_term, app.terms[0].records) == (app_id, 1, 5)
        with pytest.raises(ValueError, match="aware datetime"):
            client.records.list(datetime(2025, 11, 1), T0)


@pytest.mark.anyio
async def test_async_sdk_records(gateway: Gateway) -> None:
    env, app_id, _ = setup(gateway)
    async with AsyncClient(
        env["HSTGW_BASE_URL"], env["HSTGW_DEV_ID"], env["HSTGW_DEV_SECRET"]
    ) as client:
        page = await client.records.list(T0 - 1000, T0 + 1000, page_size=3)
        assert len([r async for r in page]) == 5
        assert (await client.records.summary("2025-11", app_id=app_id)).amount == Decimal("0.09")


def test_cli_records_list_json_csv_and_summary(gateway: Gateway) -> None:
    env, app_id, _ = setup(gateway)
    window = ["--start", str(T0 - 1000), "--end", "2025-11-28T11:20:01+08:00"]
    out = hstgw("records", "list", *window, env=env)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["amount"] for r in rows] == [
        "0.006000",
        "0.012000",
        "0.018000",
        "0.024000",
        "0.030000",
    ]
    as_csv = hstgw("records", "list", *window, "--csv", "--app-id", app_id, env=env)
    table = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(table) == 5 and table[4]["amount"] == "0.030000" and table[0]["charge_term"] == "1"
    summary = json.loads(hstgw("records", "summary", "--month", "2025-11", env=env).stdout)
    assert summary["amount"] == "0.090000" and summary["apps"][0]["terms"][0]["records"] == 5
    bad = hstgw("records", "list", "--start", "yesterday", "--end", "1", env=env)
    assert bad.returncode == 2
    wide = hstgw("records", "list", "--start", "0", "--end", str(T0), env=env)
    assert wide.returncode == 1
    assert json.loads(wide.stderr)["error"]["msg"] == "end_time: the range must be at most 93 days"
