"""``client.webhooks`` (sync and async) and ``hstgw webhooks ...`` against a real
gateway."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hstgw.sdk import AsyncClient, Client, InvalidParameterError, Webhook
from tests.conftest import Gateway
from tests.waiting import eventually_sync
from tests.webhooks.conftest import Receiver, new_app, produce


def test_sync_client_round_trip(shared_hooks_gateway: Gateway, receiver: Receiver) -> None:
    gw = shared_hooks_gateway
    dev = gw.new_dev()
    with Client(gw.url, dev.dev_id, dev.dev_secret) as client:
        app = client.apps.create("hooked", [7], status="online")
        hook = client.webhooks.create(receiver.url, app_id=app.app_id, event_ids=[20900])
        assert isinstance(hook, Webhook) and hook.secret and hook.secret not in repr(hook)
        assert hook.event_ids == (20900,) and hook.app_id == app.app_id
        for _ in range(2):
            client.webhooks.create(receiver.url)
        page = client.webhooks.list(page_size=2)
        assert page.total == 3 and len(page.items) == 2 and page.items[0].secret is None
        assert page.items[0].webhook_id == hook.webhook_id
        assert len(list(page)) == 3  # every page

        produce(gw, app.app_id, 2)
        assert eventually_sync(lambda: len(receiver.received) >= 6, 10)
        log = client.webhooks.deliveries(hook.webhook_id, app_id=app.app_id, page_size=1)
        assert log.total == 2 and [d.version for d in log] == [2, 1]

        def delivered() -> bool:  # (received, then its row written: not at once)
            page = client.webhooks.deliveries(hook.webhook_id, app_id=app.app_id)
            return all(d.status == "delivered" and d.response_code == 200 for d in page)

        assert eventually_sync(delivered)

        rotated = client.webhooks.rotate_secret(hook.webhook_id)
        assert rotated.secret and rotated.secret != hook.secret
        again = client.webhooks.redeliver(hook.webhook_id, from_version=2)
        assert (again.app_id, again.from_version, again.status) == (app.app_id, 2, "active")
        with pytest.raises(InvalidParameterError) as err:
            client.webhooks.redeliver(hook.webhook_id, from_version=9)
        assert err.value.msg == "from_version: must be 1..3"
        client.webhooks.delete(hook.webhook_id)
        with pytest.raises(InvalidParameterError, match="webhook_id: no such webhook"):
            client.webhooks.delete(hook.webhook_id)


@pytest.mark.anyio
async def test_async_client_round_trip(shared_hooks_gateway: Gateway) -> None:
    gw = shared_hooks_gateway
    dev = gw.new_dev()
    async with AsyncClient(gw.url, dev.dev_id, dev.dev_secret) as client:
        made = [await client.webhooks.create("http://127.0.0.1:9/x") for _ in range(3)]
        page = await client.webhooks.list(page_size=2)
        assert [h.webhook_id async for h in page] == [h.webhook_id for h in made]
        rotated = await client.webhooks.rotate_secret(made[0].webhook_id)
        assert rotated.secret != made[0].secret
        log = await client.webhooks.deliveries(made[0].webhook_id)
        assert log.total == 0 and [d async for d in log] == []
        resumed = await client.webhooks.redeliver(made[0].webhook_id)
        assert resumed.status == "active" and resumed.from_version is None
        await client.webhooks.delete(made[0].webhook_id)
        assert (await client.webhooks.list()).total == 2


def hstgw(gw: Gateway, dev_id: str, secret: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HSTGW_BASE_URL": gw.url,
        "HSTGW_DEV_ID": dev_id,
        "HSTGW_DEV_SECRET": secret,
    }
    return subprocess.run(
        [sys.executable, "-m", "hstgw", "webhooks", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_cli(shared_hooks_gateway: Gateway) -> None:
    gw = shared_hooks_gateway
    dev = gw.new_dev()
    token = gw.access_token(dev)
    app_id = new_app(gw, token)
    run = lambda *a: hstgw(gw, dev.dev_id, dev.dev_secret, *a)  # noqa: E731

    out = run("create", "--url", "http://127.0.0.1:9/x", "--app-id", app_id, "--event-id", "20100")
    assert out.returncode == 0, out.stderr
    made = json.loads(out.stdout)
    assert made["secret"].startswith("whsec_") and made["event_ids"] == [20100]
    listed = json.loads(run("list").stdout)  # piped: JSON
    assert listed["total"] == 1 and "secret" not in listed["webhooks"][0]
    assert json.loads(run("list", "--all").stdout)[0]["webhook_id"] == made["webhook_id"]
    wid = ["--webhook-id", made["webhook_id"]]
    rotated = json.loads(run("rotate-secret", *wid).stdout)
    assert rotated["secret"] != made["secret"]
    log = json.loads(run("deliveries", *wid).stdout)
    assert log == {"total": 0, "page": 1, "page_size": 20, "deliveries": []}
    done = json.loads(run("redeliver", *wid, "--from-version", "1").stdout)
    assert done == {
        "webhook_id": made["webhook_id"],
        "app_id": app_id,
        "from_version": 1,
        "status": "active",
    }
    assert json.loads(run("delete", *wid).stdout) == {"deleted": made["webhook_id"]}

    bad = run("create", "--url", "127.0.0.1:9/x")
    assert bad.returncode == 2 and "--url" in bad.stderr
    gone = run("delete", *wid)
    assert gone.returncode == 1
    assert json.loads(gone.stderr)["error"]["msg"] == "webhook_id: no such webhook"
