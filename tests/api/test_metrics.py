"""GET /metrics: Prometheus text with the node's requests, terminals, deliveries, usage."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.billing.conftest import ev
from tests.conftest import Gateway
from tests.online.conftest import make_app, raw_login

pytestmark = pytest.mark.anyio


def samples(gateway: Gateway) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = gateway.http.get(f"{gateway.url}/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_metrics_follow_what_the_node_does(fresh_gateway: Gateway) -> None:
    gw = fresh_gateway
    app = make_app(gw)  # an access token, an app and the address: REST requests
    gw.http.get(f"{gw.url}/v1/nothing")
    a, _ = await raw_login(app, "a")
    b, _ = await raw_login(app, "b")
    await a.request({"type": "message", "to_user_id": "b", "body": "hi"})
    node = gw.new_node()
    gw.call(
        "POST",
        "/internal/v1/usage",
        json={"events": [ev("m1", app.app_id, 1, 1000)] * 2},
        headers={"Authorization": f"Bearer {node}"},
    )
    got = samples(gw)
    assert (
        got[
            ("hstgw_http_requests_total", (("code", "0"), ("method", "POST"), ("route", "/v1/app")))
        ]
        == 1
    )
    assert (
        got[
            (
                "hstgw_http_requests_total",
                (("code", "606000003"), ("method", "GET"), ("route", "unmatched")),
            )
        ]
        == 1
    )
    assert got[("hstgw_http_request_duration_seconds_count", (("route", "/access/token"),))] == 1
    assert got[("hstgw_terminals_connected", ())] == 2
    assert got[("hstgw_terminal_messages_delivered_total", ())] == 1
    assert got[("hstgw_usage_events_total", (("outcome", "accepted"),))] == 1
    assert got[("hstgw_usage_events_total", (("outcome", "duplicate"),))] == 1
    await a.close()
    await b.close()
