"""The webhooks page: endpoints, their deliveries and failures, redeliver; another
developer's endpoint does not exist here either."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Gateway, start_gateway
from tests.console.conftest import Browser, TerminalThread, make_app
from tests.waiting import eventually_sync
from tests.webhooks.conftest import HOOK_SETTINGS


@pytest.fixture
def hooks_gw(tmp_path: Path) -> Iterator[Gateway]:
    yield from start_gateway(tmp_path / "data", auth_cache_ttl=0, **HOOK_SETTINGS)


def test_deliveries_failures_and_redeliver(hooks_gw: Gateway) -> None:
    gw = hooks_gw
    dev = gw.new_dev()
    token = gw.access_token(dev)
    with Browser(gw) as b:
        assert b.sign_in(dev).status_code == 303
        app_id = make_app(b, "hooked")
        # nothing listens on port 9: every delivery fails
        hook = gw.call("POST", "/v1/webhooks", token, json={"url": "http://127.0.0.1:9/h"})
        webhook_id = hook["result"]["webhook_id"]
        secret = gw.call("GET", "/v1/app", token, params={"app_id": app_id})["result"]
        TerminalThread(gw.url, app_id, secret["app_secret"], "eve").close()  # two events

        def failed() -> bool:
            return 'class="failed"' in b.get("/console/webhooks").text

        assert eventually_sync(failed, 15)
        page = b.get("/console/webhooks", params={"webhook_id": webhook_id}).text
        assert "http://127.0.0.1:9/h" in page and "Failures: " in page
        r = b.post(
            "/console/webhooks/redeliver", {"webhook_id": webhook_id}, csrf_from="/console/webhooks"
        )
        assert r.status_code == 303 and "msg=redelivered" in r.headers["location"]
        assert "Queued for delivery again." in b.get(r.headers["location"]).text
        bad = b.post(
            "/console/webhooks/redeliver",
            {"webhook_id": webhook_id, "app_id": app_id, "from_version": "99"},
            csrf_from="/console/webhooks",
        )
        assert bad.status_code == 400 and "from_version: must be 1.." in bad.text
    other = gw.new_dev()
    with Browser(gw) as stranger:
        stranger.sign_in(other)
        r = stranger.post("/console/webhooks/redeliver", {"webhook_id": webhook_id})
        assert r.status_code == 404 and "webhook_id: no such webhook" in r.text
        r = stranger.get("/console/webhooks", params={"webhook_id": webhook_id})
        assert r.status_code == 404
