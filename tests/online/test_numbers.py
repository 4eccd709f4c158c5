"""Numbers beyond 64 bits, or not finite, in JSON passed on to terminals are refused
naming the field, never a 606000005 or a null delivered (issue 10, item 8)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests.online.conftest import OnlineApp, Raw, raw_login

pytestmark = pytest.mark.anyio

NUMBERS = "numbers must be 64-bit integers or finite"
N = 12345  # stands for the number under test in a frame, replaced in its JSON text


def frame(obj: dict[str, Any], number: str) -> str:
    return json.dumps(obj).replace(str(N), number)


BAD = ["18446744073709551616", "-9223372036854775809", "9223372036854775808", "1e400", "-1e400"]


@pytest.mark.parametrize("number", BAD)
async def test_rest_trans_cmd_and_invite_refuse_them(app: OnlineApp, number: str) -> None:
    t, _ = await raw_login(app, "alice")
    trans = frame(
        {
            "app_id": app.app_id,
            "msg_id": 1,
            "trans_mess": {"a": [1, {"n": N}]},
            "user_list": [{"user_id": "alice", "mutex_type": "web", "client_guid": ""}],
        },
        number,
    )
    reply = app.rest("POST", "/v1/online/trans-cmd", content=trans.encode())
    assert (reply["code"], reply["msg"]) == (606000003, f"trans_mess: {NUMBERS}")
    invite = frame(
        {
            "app_id": app.app_id,
            "group_id": "g",
            "user_id_list": ["alice"],
            "seq_id": 1,
            "extend_info": {"n": N},
        },
        number,
    )
    reply = app.rest("POST", "/v1/online/invite", content=invite.encode())
    assert (reply["code"], reply["msg"]) == (606000003, f"extend_info: {NUMBERS}")
    with pytest.raises(TimeoutError):  # nothing was delivered
        await t.expect("trans_cmd", timeout=0.2)
    await t.close()


async def test_rest_passes_the_64_bit_extremes_exactly(app: OnlineApp) -> None:
    t, _ = await raw_login(app, "alice")
    mess = {"max": 2**63 - 1, "min": -(2**63), "f": 1e308, "none": None, "s": "1" * 30}
    body = {
        "app_id": app.app_id,
        "msg_id": 1,
        "trans_mess": mess,
        "user_list": [{"user_id": "alice", "mutex_type": "web", "client_guid": ""}],
    }
    assert app.rest("POST", "/v1/online/trans-cmd", json=body)["code"] == 0
    assert (await t.expect("trans_cmd"))["trans_mess"] == mess
    await t.close()


@pytest.mark.parametrize("number", BAD)
async def test_terminal_requests_refuse_them(app: OnlineApp, number: str) -> None:
    sender, _ = await raw_login(app, "sender")
    target, _ = await raw_login(app, "target")
    message = {"type": "message", "seq": 2, "to_user_id": "target", "body": {"n": [N]}}
    await sender.send(frame(message, number))
    reply = await sender.expect("message_result")
    assert (reply["code"], reply["msg"]) == (1000101, f"body: {NUMBERS}")
    invite = {"type": "invite", "seq": 3, "group_id": "g", "user_ids": ["target"], "seq_id": 1}
    await sender.send(frame({**invite, "extend_info": {"n": N}}, number))
    reply = await sender.expect("invite_result")
    assert (reply["code"], reply["msg"]) == (1000101, f"extend_info: {NUMBERS}")
    with pytest.raises(TimeoutError):
        await target.expect("message", timeout=0.2)
    for t in (sender, target):
        await t.close()


async def test_a_terminal_may_send_long_digit_strings_and_int64_extremes(app: OnlineApp) -> None:
    sender, _ = await raw_login(app, "sender")
    target, _ = await raw_login(app, "target")
    body = {"s": "12345678901234567890123", "max": 2**63 - 1, "min": -(2**63)}
    await sender.send(
        json.dumps({"type": "message", "seq": 2, "to_user_id": "target", "body": body})
    )
    assert (await sender.expect("message_result"))["code"] == 0
    assert (await target.expect("message"))["body"] == {
        "s": "12345678901234567890123",
        "max": 2**63 - 1,
        "min": -(2**63),
    }
    for t in (sender, target):
        await t.close()


def test_payload_size_is_the_json_size() -> None:
    from hstgw.online.frames import payload_size

    assert payload_size({"a": None, "b": [1, 2.5]}, "x") == len(b'{"a":null,"b":[1,2.5]}')


@pytest.mark.parametrize("number", BAD[:3])
async def test_a_seq_beyond_64_bits_is_refused_not_echoed(app: OnlineApp, number: str) -> None:
    """The reply names the field and leaves the seq out (it cannot be written back):
    no error in the log, no dropped connection, before login or after."""
    conn = await connect(app.ws_url, compression=None, ping_interval=None)
    first = Raw(conn)
    await first.send(frame(app.login_frame("early", seq=N), number))
    reply = await first.recv()
    assert (reply["type"], reply["code"], reply["msg"]) == (
        "login_result",
        1000101,
        f"seq: {NUMBERS}",
    )
    assert "seq" not in reply
    await first.close()
    t, _ = await raw_login(app, "late")
    await t.send(f'{{"type": "heartbeat", "seq": {number}}}')
    reply = await t.expect("heartbeat_result")
    assert (reply["code"], reply["msg"], "seq" in reply) == (1000101, f"seq: {NUMBERS}", False)
    assert (await t.request({"type": "heartbeat", "seq": 7}))["seq"] == 7  # still connected
    await t.close()
