"""The webhook endpoints' REST API: create, list, delete, rotate, deliveries,
redeliver; validation with field-named errors; one developer's endpoints and apps do
not exist for another; the SSRF rule at registration."""

from __future__ import annotations

from typing import Any

import pytest

from hstgw.errors import Code
from tests.conftest import Gateway
from tests.webhooks.conftest import dev_token, new_app

URL = "http://127.0.0.1:9/hook"
BAD, MISSING = (
    Code.PARAMETER_INVALID,
    Code.PARAMETER_MISSING,
)  # nothing is delivered here: no event happens


def create(gw: Gateway, token: str, **body: Any) -> dict[str, Any]:
    return gw.call("POST", "/v1/webhooks", token, json={"url": URL, **body})


def test_create_list_delete(shared_hooks_gateway: Gateway) -> None:
    gw = shared_hooks_gateway
    _, token = dev_token(gw)
    app_id = new_app(gw, token)
    made = create(gw, token, app_id=app_id, event_ids=[20100, 20101])
    assert made["code"] == 0, made
    hook = made["result"]
    assert hook["url"] == URL and hook["app_id"] == app_id
    assert hook["event_ids"] == [20100, 20101] and hook["status"] == "active"
    assert hook["secret"].startswith("whsec_") and len(hook["secret"]) == 54
    every = create(gw, token)["result"]
    assert every["app_id"] is None and every["event_ids"] == []

    listed = gw.call("GET", "/v1/webhooks", token, params={"page_size": 1})
    assert listed["code"] == 0
    page = listed["result"]
    assert page["total"] == 2 and page["page"] == 1 and page["page_size"] == 1
    assert [w["webhook_id"] for w in page["webhooks"]] == [hook["webhook_id"]]
    assert "secret" not in page["webhooks"][0]  # shown at creation and rotation only

    gone = gw.call("DELETE", "/v1/webhooks", token, params={"webhook_id": hook["webhook_id"]})
    assert gone["code"] == 0
    again = gw.call("DELETE", "/v1/webhooks", token, params={"webhook_id": hook["webhook_id"]})
    assert again["code"] == Code.PARAMETER_INVALID and again["msg"] == "webhook_id: no such webhook"
    assert gw.call("GET", "/v1/webhooks", token)["result"]["total"] == 1


def test_rotate_secret(shared_hooks_gateway: Gateway) -> None:
    gw = shared_hooks_gateway
    _, token = dev_token(gw)
    hook = create(gw, token)["result"]
    rotated = gw.call("POST", "/v1/webhooks/secret", token, json={"webhook_id": hook["webhook_id"]})
    assert rotated["code"] == 0
    assert rotated["result"]["secret"].startswith("whsec_")
    assert rotated["result"]["secret"] != hook["secret"]


@pytest.mark.parametrize(
    ("body", "code", "msg"),
    [
        ({}, MISSING, "url: required"),
        ({"url": 5}, BAD, "url: must be a string"),
        ({"url": "ftp://example.com/x"}, BAD, "url: must start with http:// or https://"),
        ({"url": "http://"}, BAD, "url: has no host"),
        ({"url": "http://u:p@127.0.0.1/"}, BAD, "url: must not carry credentials"),
        ({"url": "http://127.0.0.1/回调"}, BAD, "url: must be ASCII"),
        ({"url": "http://127.0.0.1/caf\u00e9"}, BAD, "url: must be ASCII"),
        ({"url": "http://bücher.example/"}, BAD, "url: must be ASCII"),
        ({"url": "http://127.0.0.1/" + "a" * 2048}, BAD, "url: must be at most 2048"),
        ({"url": URL, "app_id": "nope"}, BAD, "app_id: must be 32..32 characters"),
        ({"url": URL, "app_id": "0" * 32}, BAD, "app_id: no such app"),
        ({"url": URL, "event_ids": [1]}, BAD, "event_ids[0]: must be one of"),
        ({"url": URL, "event_ids": [20100, 20100]}, BAD, "event_ids[1]: duplicate 20100"),
        ({"url": URL, "event_ids": [20100] * 20}, BAD, "event_ids: must have at most"),
    ],
)  # fmt: skip
def test_create_refuses_bad_input(
    shared_hooks_gateway: Gateway, body: dict[str, Any], code: int, msg: str
) -> None:
    gw = shared_hooks_gateway
    _, token = dev_token(gw)
    got = gw.call("POST", "/v1/webhooks", token, json=body)
    assert got["code"] == code, got
    assert got["msg"].startswith(msg), got


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "msg"),
    [
        ("GET", "/v1/webhooks", {"params": {"page_size": "0"}}, "page_size: must be 1..100"),
        ("DELETE", "/v1/webhooks", {"params": {}}, "webhook_id: required"),
        ("DELETE", "/v1/webhooks", {"params": {"webhook_id": "x"}}, "webhook_id: must be 32..32"),
        ("POST", "/v1/webhooks/secret", {"json": {}}, "webhook_id: required"),
        ("GET", "/v1/webhooks/deliveries", {"params": {}}, "webhook_id: required"),
        ("POST", "/v1/webhooks/redeliver", {"json": {"webhook_id": "0" * 32, "from_version": 0}},
         "from_version: must be 1.."),
    ],
)  # fmt: skip
def test_other_routes_name_the_field(
    shared_hooks_gateway: Gateway, method: str, path: str, kwargs: dict[str, Any], msg: str
) -> None:
    gw = shared_hooks_gateway
    _, token = dev_token(gw)
    got = gw.call(method, path, token, **kwargs)
    assert got["code"] in (Code.PARAMETER_MISSING, Code.PARAMETER_INVALID), got
    assert got["msg"].startswith(msg), got


def test_endpoints_per_developer_are_bounded(tmp_path: Any) -> None:
    from tests.conftest import start_gateway
    from tests.webhooks.conftest import HOOK_SETTINGS

    for gw in start_gateway(tmp_path, limit_webhooks_per_developer=2, **HOOK_SETTINGS):
        _, token = dev_token(gw)
        assert create(gw, token)["code"] == 0
        assert create(gw, token)["code"] == 0
        third = create(gw, token)
        assert third["code"] == Code.OPERATION_FAILED
        assert "at most 2 webhook endpoints" in third["msg"]
        _, other = dev_token(gw)
        assert create(gw, other)["code"] == 0  # per developer


def test_another_developers_endpoint_and_app_do_not_exist(shared_hooks_gateway: Gateway) -> None:
    gw = shared_hooks_gateway
    _, mine = dev_token(gw)
    _, theirs = dev_token(gw)
    their_app = new_app(gw, theirs)
    their_hook = create(gw, theirs, app_id=their_app)["result"]["webhook_id"]

    refused = create(gw, mine, app_id=their_app)
    assert (refused["code"], refused["msg"]) == (Code.PARAMETER_INVALID, "app_id: no such app")
    for method, path, kwargs in [
        ("DELETE", "/v1/webhooks", {"params": {"webhook_id": their_hook}}),
        ("POST", "/v1/webhooks/secret", {"json": {"webhook_id": their_hook}}),
        ("GET", "/v1/webhooks/deliveries", {"params": {"webhook_id": their_hook}}),
        ("POST", "/v1/webhooks/redeliver", {"json": {"webhook_id": their_hook}}),
    ]:
        got = gw.call(method, path, mine, **kwargs)
        assert (got["code"], got["msg"]) == (Code.PARAMETER_INVALID, "webhook_id: no such webhook")
    assert gw.call("GET", "/v1/webhooks", mine)["result"]["total"] == 0
    # my own endpoint of every app cannot be redelivered for their app
    my_hook = create(gw, mine)["result"]["webhook_id"]
    got = gw.call(
        "POST", "/v1/webhooks/redeliver", mine,
        json={"webhook_id": my_hook, "app_id": their_app, "from_version": 1},
    )  # fmt: skip
    assert (got["code"], got["msg"]) == (Code.PARAMETER_INVALID, "app_id: no such app")
    # and theirs is intact
    assert gw.call("GET", "/v1/webhooks", theirs)["result"]["total"] == 1


def test_redeliver_rules(shared_hooks_gateway: Gateway) -> None:
    gw = shared_hooks_gateway
    _, token = dev_token(gw)
    app_id = new_app(gw, token)
    every = create(gw, token)["result"]["webhook_id"]
    got = gw.call(
        "POST", "/v1/webhooks/redeliver", token, json={"webhook_id": every, "from_version": 1}
    )
    assert got["code"] == Code.PARAMETER_MISSING and got["msg"].startswith("app_id: required")
    resumed = gw.call("POST", "/v1/webhooks/redeliver", token, json={"webhook_id": every})
    assert resumed["code"] == 0
    assert resumed["result"] == {
        "webhook_id": every,
        "app_id": None,
        "from_version": None,
        "status": "active",
    }
    one = create(gw, token, app_id=app_id)["result"]["webhook_id"]
    beyond = gw.call(
        "POST", "/v1/webhooks/redeliver", token, json={"webhook_id": one, "from_version": 99}
    )
    assert beyond["code"] == Code.PARAMETER_INVALID and beyond["msg"].startswith(
        "from_version: must be 1.."
    )
    other_app = new_app(gw, token, "other")
    wrong = gw.call(
        "POST", "/v1/webhooks/redeliver", token, json={"webhook_id": one, "app_id": other_app}
    )
    assert (wrong["code"], wrong["msg"]) == (
        Code.PARAMETER_INVALID,
        "app_id: not an app of this webhook",
    )


def test_deliveries_of_a_new_endpoint_are_none(shared_hooks_gateway: Gateway) -> None:
    gw = shared_hooks_gateway
    _, token = dev_token(gw)
    hook = create(gw, token)["result"]["webhook_id"]
    got = gw.call("GET", "/v1/webhooks/deliveries", token, params={"webhook_id": hook})
    assert got["code"] == 0
    assert got["result"] == {"total": 0, "page": 1, "page_size": 20, "deliveries": []}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",  # a name that resolves to loopback
        "http://[::1]:9/hook",
        "http://169.254.169.254/latest/meta-data",  # link-local (cloud metadata)
        "http://10.1.2.3/hook",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
        "http://[::ffff:127.0.0.1]/hook",
    ],
)
def test_private_targets_are_refused_by_default(gateway: Gateway, url: str) -> None:
    """The session gateway runs with the default: HSTGW_WEBHOOK_ALLOW_PRIVATE off."""
    dev = gateway.new_dev()
    token = gateway.access_token(dev)
    got = gateway.call("POST", "/v1/webhooks", token, json={"url": url})
    assert got["code"] == Code.PARAMETER_INVALID, got
    assert got["msg"].startswith("url: "), got
    assert "non-public address" in got["msg"]
