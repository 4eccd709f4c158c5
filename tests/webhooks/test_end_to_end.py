"""What the issue asks for, end to end: a terminal joins a group and the developer's
backend hears it on its webhook, signed, in the log's order."""

from __future__ import annotations

import pytest

from hstgw.sdk.webhooks import verify
from tests.conftest import Gateway
from tests.online.conftest import make_app, raw_login
from tests.waiting import eventually
from tests.webhooks.conftest import Receiver

pytestmark = pytest.mark.anyio


async def test_a_terminal_joining_a_group_reaches_the_webhook(
    shared_hooks_gateway: Gateway, receiver: Receiver
) -> None:
    app = make_app(shared_hooks_gateway)
    made = app.rest(
        "POST", "/v1/webhooks", json={"url": receiver.url, "app_id": app.app_id,
                                      "event_ids": [20100, 20101]},
    )  # fmt: skip
    assert made["code"] == 0, made
    t, login = await raw_login(app, "alice")
    assert login["code"] == 0, login
    joined = await t.request({"type": "join_group", "seq": 2, "group_id": "room1"})
    assert joined["code"] == 0, joined
    left = await t.request({"type": "leave_group", "seq": 3, "group_id": "room1"})
    assert left["code"] == 0, left
    assert await eventually(lambda: len(receiver.received) >= 2, 10)
    pushes = [
        verify(r.body, r.headers["Hst-Signature"], made["result"]["secret"])
        for r in receiver.received
    ]
    assert [(p["id"], p["group_id"], p["user_id"]) for p in pushes] == [
        (20100, "room1", "alice"),
        (20101, "room1", "alice"),
    ]
    assert pushes[1]["version"] > pushes[0]["version"]  # (its 20900, online, was filtered out)
    await t.close()
