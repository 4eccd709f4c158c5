"""POST /internal/v1/events: media nodes' group facts and recording states."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Gateway
from tests.online.conftest import OnlineApp, make_app, raw_login
from tests.online.test_groups import brief, logged

pytestmark = pytest.mark.anyio


def report(gateway: Gateway, key: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    return gateway.call("POST", "/internal/v1/events", f"Bearer {key}", json={"events": events})


def fact(app: OnlineApp, event_id: str, id: int, **fields: Any) -> dict[str, Any]:
    return {"event_id": event_id, "app_id": app.app_id, "id": id, "group_id": "room", **fields}


def test_a_nodes_facts_become_events_once(gateway: Gateway) -> None:
    app = make_app(gateway)
    key = gateway.new_node("media-1")
    batch = [
        fact(app, "e1", 20100, user_id="aa"),
        fact(app, "e2", 20102, user_id="aa", media_id="LocalCam_2", media_type=2),
        fact(app, "e3", 20104, record_id="r-1", record_statue=2, record_msg='{"file_name": "x"}'),
    ]
    first = report(gateway, key, batch)
    assert first["result"] == {"accepted": 3, "duplicates": 0, "ignored": []}, first
    again = report(
        gateway,
        key,
        [*batch, fact(app, "e4", 20103, user_id="aa", media_id="LocalCam_2", media_type=2)],
    )
    assert again["result"] == {"accepted": 1, "duplicates": 3, "ignored": []}
    events = logged(app)
    assert brief(events) == [
        (20100, "aa", "room", None),
        (20102, "aa", "room", "LocalCam_2"),
        (20104, None, "room", None),
        (20103, "aa", "room", "LocalCam_2"),
    ]
    assert events[2].push() == {
        "id": 20104,
        "app_id": app.app_id,
        "version": 3,
        "group_id": "room",
        "record_id": "r-1",
        "record_statue": 2,
        "record_msg": '{"file_name": "x"}',
    }


def test_contradicted_facts_are_ignored_and_named(gateway: Gateway) -> None:
    app = make_app(gateway)
    key = gateway.new_node()
    batch = [
        fact(app, "x1", 20101, user_id="nobody"),
        fact(app, "x2", 20100, user_id="bb"),
        fact(app, "x3", 20100, user_id="bb"),
    ]
    result = report(gateway, key, batch)["result"]
    assert result["accepted"] == 1
    assert [(i["index"], i["code"]) for i in result["ignored"]] == [(0, 1000112), (2, 1000114)]


@pytest.mark.parametrize(
    ("change", "code", "msg"),
    [
        ({"id": 20105}, 606000003, "events[1].id: "),
        ({"user_id": None}, 606000002, "events[1].user_id: required for id 20100"),
        ({"group_id": "a b"}, 606000003, "events[1].group_id: "),
        ({"app_id": "0" * 32}, 606000003, "events[1].app_id: no such app"),
        ({"event_id": ""}, 606000003, "events[1].event_id: "),
    ],
)
def test_a_bad_event_refuses_the_batch(
    gateway: Gateway, change: dict[str, Any], code: int, msg: str
) -> None:
    app = make_app(gateway)
    key = gateway.new_node()
    good = fact(app, "ok", 20100, user_id="aa")
    bad = {**fact(app, "bad", 20100, user_id="aa"), **change}
    bad = {k: v for k, v in bad.items() if v is not None}
    reply = report(gateway, key, [good, bad])
    assert reply["code"] == code and reply["msg"].startswith(msg), reply
    assert logged(app) == []  # nothing appended


def test_a_node_key_is_required(gateway: Gateway) -> None:
    app = make_app(gateway)
    reply = report(gateway, "nope", [fact(app, "e1", 20100, user_id="aa")])
    assert reply["code"] == 606000000


async def test_a_terminal_and_a_node_share_the_groups(gateway: Gateway) -> None:
    app = make_app(gateway)
    key = gateway.new_node()
    t, _ = await raw_login(app, "aa")
    assert (await t.request({"type": "join_group", "group_id": "room"}))["code"] == 0
    # the node says aa joined too: the groups say it is there already
    result = report(gateway, key, [fact(app, "n1", 20100, user_id="aa")])["result"]
    assert [i["code"] for i in result["ignored"]] == [1000114]
    await t.close()
