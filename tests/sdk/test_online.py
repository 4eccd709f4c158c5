"""The SDK's online resource (Client and AsyncClient) against real terminals."""

from __future__ import annotations

import pytest

from hstgw.sdk import AsyncClient, Client, InvalidParameterError, TerminalState, TransCmdResult
from tests.conftest import Gateway

pytestmark = pytest.mark.anyio


def credentials(gateway: Gateway) -> tuple[str, str, str]:
    dev = gateway.new_dev()
    return gateway.url, dev.dev_id, dev.dev_secret


async def test_sync_client_online_methods(gateway: Gateway) -> None:
    with Client(*credentials(gateway)) as client:
        app = client.apps.create("sdk_online", [7], status="online")
        from hstgw.sdk import TerminalClient

        term = TerminalClient(
            gateway.url, app.app_id, "u1", app_secret=app.app_secret, client_guid="g1"
        )
        await term.connect()
        try:
            results = client.online.trans_cmd(
                app.app_id, {"x": 1}, [("u1", "web"), ("u2", "web", "g2")], msg_id=5
            )
            assert results == [
                TransCmdResult(0, "u1", "g1", "web"),
                TransCmdResult(2, "u2", "g2", "web"),
            ]
            assert client.online.invite(app.app_id, "room", ["u1", "u9"], seq_id=3) == ["u9"]
            page = client.online.user_state(app.app_id, msg_id=9, user_ids=["u1"])
            assert list(page) == [TerminalState(1, "u1", "g1", "web")]
            assert client.online.kickout(app.app_id, "u1", mutex_type="windows") == 0
            assert client.online.kickout(app.app_id, "u1") == 1
            with pytest.raises(
                InvalidParameterError, match="user_list: must have at most 500 items"
            ):
                client.online.trans_cmd(app.app_id, {}, [("u", "web")] * 501)
        finally:
            await term.close()


async def test_async_client_online_methods(gateway: Gateway) -> None:
    async with AsyncClient(*credentials(gateway)) as client:
        app = await client.apps.create("sdk_online_async", [7], status="online")
        from hstgw.sdk import TerminalClient

        async with TerminalClient(gateway.url, app.app_id, "a1", app_secret=app.app_secret) as term:
            [result] = await client.online.trans_cmd(
                app.app_id, {"y": 2}, [{"user_id": "a1", "mutex_type": "web"}]
            )
            assert result.result == 0 and result.terminal_seq_num == term.client_guid
            assert (
                await client.online.invite(app.app_id, "g", ["a1"], seq_id=1, extend_info={"k": 1})
                == []
            )
            page = await client.online.user_state(app.app_id, page_size=1)
            assert [s.user_id async for s in page] == ["a1"]
            assert await client.online.kickout(app.app_id, "a1") == 1
