"""Deliveries to real receivers: signed, in version order, one in flight, at least
once; retried after failures and downtime; failing after the retry window, then
redelivered; filtered by event id."""

from __future__ import annotations

from typing import Any

from hstgw.errors import Code
from hstgw.events.model import EventId
from hstgw.sdk.webhooks import verify
from tests.conftest import Gateway
from tests.waiting import eventually_sync
from tests.webhooks.conftest import (
    Receiver,
    all_delivered,
    deliveries,
    dev_token,
    hook_status,
    new_app,
    produce,
)


def register(gw: Gateway, token: str, url: str, **body: Any) -> dict[str, Any]:
    got = gw.call("POST", "/v1/webhooks", token, json={"url": url, **body})
    assert got["code"] == 0, got
    result: dict[str, Any] = got["result"]
    return result


def test_events_arrive_signed_in_order(hooks_gateway: Gateway, receiver: Receiver) -> None:
    gw = hooks_gateway
    _, token = dev_token(gw)
    app_id = new_app(gw, token)
    produce(gw, app_id, 2)  # before the endpoint: not its business
    hook = register(gw, token, receiver.url, app_id=app_id)
    versions = produce(gw, app_id, 5)
    assert eventually_sync(lambda: len(receiver.received) >= 5, 10)
    assert receiver.versions() == versions == [3, 4, 5, 6, 7]
    for got, version in zip(receiver.received, versions, strict=True):
        payload = verify(got.body, got.headers["Hst-Signature"], hook["secret"])
        assert payload["version"] == version and payload["app_id"] == app_id
        assert payload["id"] == EventId.TERMINAL_ONLINE and isinstance(payload["time"], int)
        assert payload["user_id"].startswith("u")
        assert got.headers["Hst-Webhook-Id"] == hook["webhook_id"]
        assert got.headers["Content-Type"] == "application/json"
    assert eventually_sync(lambda: all_delivered(gw, token, hook["webhook_id"], 5))
    log = deliveries(gw, token, hook["webhook_id"])
    assert [d["version"] for d in log] == versions[::-1]  # newest first
    assert {(d["attempts"], d["response_code"], d["last_error"]) for d in log} == {(1, 200, "")}
    assert all(d["latency_ms"] is not None and d["event_id"] == 20900 for d in log)


def test_a_failing_receiver_gets_every_event_in_order_once_per_attempt(
    hooks_gateway: Gateway, receiver: Receiver
) -> None:
    gw = hooks_gateway
    _, token = dev_token(gw)
    app_id = new_app(gw, token)
    hook = register(gw, token, receiver.url, app_id=app_id)
    receiver.fail_next = 3
    versions = produce(gw, app_id, 4)
    assert eventually_sync(lambda: len(receiver.received) >= 4, 10)
    assert receiver.versions() == versions  # in order, each once
    tried = [r.json["version"] for r in receiver.attempts]
    assert tried == [versions[0]] * 4 + versions[1:]  # one in flight: the first held the rest
    assert eventually_sync(lambda: all_delivered(gw, token, hook["webhook_id"], 4))
    log = {d["version"]: d for d in deliveries(gw, token, hook["webhook_id"])}
    assert log[versions[0]]["attempts"] == 4 and log[versions[0]]["status"] == "delivered"
    assert all(log[v]["attempts"] == 1 for v in versions[1:])


def test_a_receiver_down_then_up_gets_the_backlog_in_order(
    hooks_gateway: Gateway, receiver: Receiver
) -> None:
    gw = hooks_gateway
    _, token = dev_token(gw)
    app_id = new_app(gw, token)
    hook = register(gw, token, receiver.url, app_id=app_id)
    receiver.stop()
    versions = produce(gw, app_id, 3)

    def retried() -> bool:
        log = deliveries(gw, token, hook["webhook_id"])
        return bool(log) and log[0]["attempts"] >= 2 and log[0]["status"] == "pending"

    assert eventually_sync(retried, 10)
    first = deliveries(gw, token, hook["webhook_id"])[0]
    assert first["response_code"] is None and first["last_error"].startswith("ConnectError")
    versions += produce(gw, app_id, 2)
    receiver.start()
    assert eventually_sync(lambda: len(receiver.received) >= 5, 15)
    assert receiver.versions() == versions


def test_only_the_events_asked_for(hooks_gateway: Gateway, receiver: Receiver) -> None:
    gw = hooks_gateway
    _, token = dev_token(gw)
    app_id = new_app(gw, token)
    hook = register(gw, token, receiver.url, event_ids=[int(EventId.TERMINAL_OFFLINE)])
    produce(gw, app_id, 3)  # online: filtered out
    [wanted] = produce(gw, app_id, 1, EventId.TERMINAL_OFFLINE)
    produce(gw, app_id, 2)
    [last] = produce(gw, app_id, 1, EventId.TERMINAL_OFFLINE)
    assert eventually_sync(lambda: len(receiver.received) >= 2, 10)
    assert receiver.versions() == [wanted, last]
    # (their rows are written behind the deliveries)
    assert eventually_sync(lambda: len(deliveries(gw, token, hook["webhook_id"])) == 2)


def test_after_the_retry_window_the_endpoint_fails_and_redelivery_resumes(
    hooks_gateway: Gateway, receiver: Receiver
) -> None:
    gw = hooks_gateway
    dev, token = dev_token(gw)
    app_id = new_app(gw, token)
    hook = register(gw, token, receiver.url)  # every app
    webhook_id = hook["webhook_id"]
    receiver.status = 503
    versions = produce(gw, app_id, 3)
    assert eventually_sync(lambda: len(receiver.attempts) >= 2, 10)
    gw.clock.advance(86400 + 1)  # past HSTGW_WEBHOOK_RETRY_FOR (24 h)
    token = gw.access_token(dev)  # (the old one expired meanwhile)
    assert eventually_sync(lambda: hook_status(gw, token, webhook_id) == "failing", 10)
    [failed] = deliveries(gw, token, webhook_id)
    assert (failed["status"], failed["response_code"], failed["last_error"]) == (
        "failed",
        503,
        "HTTP 503",
    )
    versions += produce(gw, app_id, 1)  # kept in the backlog
    tried = len(receiver.attempts)
    receiver.status = 200
    resumed = gw.call("POST", "/v1/webhooks/redeliver", token, json={"webhook_id": webhook_id})
    assert resumed["code"] == 0, resumed
    assert eventually_sync(lambda: len(receiver.received) >= 4, 10)
    assert receiver.versions() == versions
    assert len(receiver.attempts) == tried + 4
    assert hook_status(gw, token, webhook_id) == "active"

    # from a version: delivered again, in order
    again = gw.call(
        "POST", "/v1/webhooks/redeliver", token,
        json={"webhook_id": webhook_id, "app_id": app_id, "from_version": versions[2]},
    )  # fmt: skip
    assert again["code"] == 0, again
    assert again["result"]["from_version"] == versions[2]
    assert eventually_sync(lambda: len(receiver.received) >= 6, 10)
    assert receiver.versions() == versions + versions[2:]


def test_a_rotated_secret_and_the_old_one_both_sign(
    hooks_gateway: Gateway, receiver: Receiver
) -> None:
    gw = hooks_gateway
    _, token = dev_token(gw)
    app_id = new_app(gw, token)
    hook = register(gw, token, receiver.url, app_id=app_id)
    rotated = gw.call("POST", "/v1/webhooks/secret", token, json={"webhook_id": hook["webhook_id"]})
    assert rotated["code"] == 0
    produce(gw, app_id, 1)
    assert eventually_sync(lambda: len(receiver.received) >= 1, 10)
    got = receiver.received[0]
    assert verify(got.body, got.headers["Hst-Signature"], rotated["result"]["secret"])
    assert verify(got.body, got.headers["Hst-Signature"], hook["secret"])
    assert got.headers["Hst-Signature"].count("v1=") == 2


def test_deleted_endpoints_hear_nothing_more(hooks_gateway: Gateway, receiver: Receiver) -> None:
    gw = hooks_gateway
    _, token = dev_token(gw)
    app_id = new_app(gw, token)
    hook = register(gw, token, receiver.url, app_id=app_id)
    produce(gw, app_id, 1)
    assert eventually_sync(lambda: len(receiver.received) >= 1, 10)
    gone = gw.call("DELETE", "/v1/webhooks", token, params={"webhook_id": hook["webhook_id"]})
    assert gone["code"] == 0
    listed = gw.call(
        "GET", "/v1/webhooks/deliveries", token, params={"webhook_id": hook["webhook_id"]}
    )
    assert listed["code"] == Code.PARAMETER_INVALID
    other = register(gw, token, receiver.url, app_id=app_id)  # a witness: hears the next
    produce(gw, app_id, 1)
    assert eventually_sync(lambda: len(receiver.received) >= 2, 10)
    assert receiver.received[1].headers["Hst-Webhook-Id"] == other["webhook_id"]


def test_a_host_name_is_resolved_and_kept_in_host(
    shared_hooks_gateway: Gateway, receiver: Receiver
) -> None:
    """localhost may resolve to ::1 first (nobody listens there): the next address is tried."""
    gw = shared_hooks_gateway
    _, token = dev_token(gw)
    app_id = new_app(gw, token)
    url = f"http://localhost:{receiver.port}/hook?x=1"
    register(gw, token, url, app_id=app_id)
    produce(gw, app_id, 1)
    assert eventually_sync(lambda: len(receiver.received) >= 1, 10)
    assert receiver.received[0].headers["Host"] == f"localhost:{receiver.port}"
