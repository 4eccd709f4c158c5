"""Idempotency-Key on POST, PATCH and DELETE: the first response again, the work once."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ENGINES, Gateway, engine_settings, start_gateway

APP = {"app_name": "once", "status": "online", "service": [{"service_id": 3}]}


@pytest.fixture(params=ENGINES)
def gw(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Gateway]:
    for db in engine_settings(request.param):
        yield from start_gateway(tmp_path, **db)


def post(gw: Gateway, token: str, key: str | None, body: dict[str, Any]) -> Any:
    headers = {"Authorization": token}
    if key is not None:
        headers["Idempotency-Key"] = key
    return gw.http.post(f"{gw.url}/v1/app", json=body, headers=headers)


def test_a_retried_create_makes_one_app_and_answers_alike(gw: Gateway) -> None:
    token = gw.access_token(gw.new_dev())
    first = post(gw, token, "k-1", APP)
    again = post(gw, token, "k-1", APP)
    assert first.json()["code"] == 0
    assert again.content == first.content
    assert gw.call("GET", "/v1/apps", token, params={"page": 1})["result"]["total"] == 1
    # without a key, the same body is a second request (here: the name is taken)
    assert post(gw, token, None, APP).json()["code"] != 0


def test_the_same_key_with_another_request_is_refused(gw: Gateway) -> None:
    token = gw.access_token(gw.new_dev())
    assert post(gw, token, "k", APP).json()["code"] == 0
    other = post(gw, token, "k", {**APP, "app_name": "other"}).json()
    assert other == {
        "code": 606000003,
        "msg": "Idempotency-Key: already used with another request in the last 24 h",
    }


def test_concurrent_copies_do_the_work_once(gw: Gateway) -> None:
    token = gw.access_token(gw.new_dev())
    with ThreadPoolExecutor(10) as pool:
        replies = list(pool.map(lambda _: post(gw, token, "race", APP).content, range(10)))
    assert len(set(replies)) == 1
    assert gw.call("GET", "/v1/apps", token, params={"page": 1})["result"]["total"] == 1


def test_keys_belong_to_their_developer(gw: Gateway) -> None:
    one, two = gw.access_token(gw.new_dev()), gw.access_token(gw.new_dev())
    a = post(gw, one, "shared", APP).json()
    b = post(gw, two, "shared", APP).json()
    assert a["code"] == b["code"] == 0
    assert a["result"]["app_id"] != b["result"]["app_id"]


def test_refusals_are_first_responses_too_and_keys_are_checked(gw: Gateway) -> None:
    token = gw.access_token(gw.new_dev())
    bad = {**APP, "app_name": ""}
    first = post(gw, token, "bad", bad).json()
    assert first["code"] == 606000002 or first["code"] == 606000003
    assert post(gw, token, "bad", bad).json() == first
    for key in ("", "x" * 256, "tab\there"):
        reply = post(gw, token, key, APP).json()
        assert reply["code"] == 606000003 and reply["msg"].startswith("Idempotency-Key:"), reply


def test_a_retried_delete_answers_as_the_first(gw: Gateway) -> None:
    token = gw.access_token(gw.new_dev())
    app_id = post(gw, token, None, APP).json()["result"]["app_id"]
    headers = {"Authorization": token, "Idempotency-Key": "del-1"}
    url = f"{gw.url}/v1/app?app_id={app_id}"
    first = gw.http.delete(url, headers=headers)
    assert first.json()["code"] == 0
    assert gw.http.delete(url, headers=headers).content == first.content
    # without the key it is a new request: the app is gone
    assert gw.http.delete(url, headers={"Authorization": token}).json()["code"] == 606000003


def test_usage_from_nodes_takes_keys_too(gw: Gateway) -> None:
    token = gw.access_token(gw.new_dev())
    app_id = post(gw, token, None, {**APP, "service": [{"service_id": 6}]}).json()["result"][
        "app_id"
    ]
    key = gw.new_node("media")
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "batch-7"}
    batch = {
        "events": [
            {
                "event_id": "idem-1",
                "app_id": app_id,
                "charge_term": 6,
                "start_time": 1764300000000,
                "end_time": 1764300000000,
                "total_sig_num": 5,
            }
        ]
    }
    first = gw.http.post(f"{gw.url}/internal/v1/usage", json=batch, headers=headers).json()
    again = gw.http.post(f"{gw.url}/internal/v1/usage", json=batch, headers=headers).json()
    assert first == again == {"code": 0, "msg": "OK", "result": {"accepted": 1, "duplicates": 0}}


def test_after_24_hours_a_key_is_new(gw: Gateway) -> None:
    dev = gw.new_dev()
    token = gw.access_token(dev)
    assert post(gw, token, "daily", APP).json()["code"] == 0
    gw.clock.advance(24 * 3600 + 1)
    token = gw.access_token(dev)
    reply = post(gw, token, "daily", {**APP, "app_name": "tomorrow"}).json()
    assert reply["code"] == 0 and reply["result"]["app_name"] == "tomorrow"
