"""Group frames from a hostile terminal: each is a durable event, so their rate is
bounded per terminal; their fields are strict."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Gateway, start_gateway
from tests.online.conftest import OnlineApp, make_app, raw_login

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    yield from start_gateway(
        tmp_path_factory.mktemp("groups-attacks"), limit_group_frames_per_terminal=2
    )


@pytest.fixture
def app(gw: Gateway) -> OnlineApp:
    return make_app(gw)


async def test_join_leave_toggled_at_the_message_rate_is_bounded(app: OnlineApp) -> None:
    t, _ = await raw_login(app, "toggler")
    codes = []
    for i in range(40):  # well within 100 frames a second
        frame = {"type": "join_group" if i % 2 == 0 else "leave_group", "group_id": "room"}
        codes.append((await t.request(frame))["code"])
    # a burst of 10 x 2 group frames, then refused without an event written
    assert codes[:20] == [0] * 20
    assert set(codes[20:]) == {1000104}
    # other frames of the terminal are not held up
    assert (await t.request({"type": "heartbeat", "seq": 99}))["code"] == 0
    # another terminal has a bucket of its own
    other, _ = await raw_login(app, "other")
    assert (await other.request({"type": "join_group", "group_id": "room"}))["code"] == 0
    await t.close()
    await other.close()


async def test_media_type_true_is_not_audio(app: OnlineApp) -> None:
    t, _ = await raw_login(app, "alice")
    assert (await t.request({"type": "join_group", "group_id": "g"}))["code"] == 0
    reply = await t.request(
        {"type": "start_media", "group_id": "g", "media_id": "m", "media_type": True}
    )
    assert reply["code"] == 1000101
    assert reply["msg"].startswith("media_type")
    await t.close()
