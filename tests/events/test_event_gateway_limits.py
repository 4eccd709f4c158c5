"""The event gateway's limits, each on a gateway of its own: failed logins per
address and calls per developer (shared with REST), the port's caps, its public URL,
and an access_token that expires while connected."""

from __future__ import annotations

from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidMessage

from hstgw.egw import protocol as p
from tests.conftest import start_gateway
from tests.events.event_gateway_rig import Sub, listener

pytestmark = pytest.mark.anyio


async def test_failed_logins_from_one_address_are_limited(tmp_path: Any) -> None:
    for gw in start_gateway(tmp_path, limit_auth_failures_per_address=2):
        dev = gw.new_dev()
        results = []
        for _ in range(3):
            sub = await Sub.open(gw)
            results.append((await sub.login(dev.dev_id, "f" * 32))["result"])
            await sub.closed()
        assert results == [606000000, 606000000, 606000006]
        # REST shares the count: the same address is refused there too
        body = gw.call("GET", "/v1/apps", "f" * 32)
        assert body["code"] == 606000006


async def test_an_expired_token_ends_the_session_and_caps_hold(tmp_path: Any) -> None:
    for gw in start_gateway(
        tmp_path,
        event_token_check=0.1,
        auth_cache_ttl=0,
        event_public_url="wss://events.example.com",
        event_max_connections_per_address=2,
    ):
        r = gw.http.get(f"{gw.url}/server/address", params={"appType": "8"})
        assert r.json()["result"] == "wss://events.example.com"
        port = listener(gw).port
        dev = gw.new_dev()
        token = gw.access_token(dev)
        sub = Sub(await connect(f"ws://127.0.0.1:{port}", compression=None))
        assert (await sub.login(dev.dev_id, token))["result"] == 0
        # a third connection from this address is closed before its handshake
        second = await connect(f"ws://127.0.0.1:{port}", compression=None)
        with pytest.raises((OSError, InvalidMessage, ConnectionClosed)):
            await connect(f"ws://127.0.0.1:{port}", compression=None, open_timeout=5)
        await second.close()
        gw.clock.advance(7201)  # the access_token's life (7200 s) is over
        assert await sub.recv() == {
            "id": 20003,
            "result": 606000001,
            "message": "access_token expired or superseded",
        }
        assert (await sub.closed())[0] == p.CLOSE_LOGGED_OUT


async def test_requests_share_the_developers_call_rate_with_rest(tmp_path: Any) -> None:
    for gw in start_gateway(tmp_path, limit_calls_per_developer=1):  # burst 2
        dev = gw.new_dev()
        sub = await Sub.open(gw)
        assert (await sub.login(dev.dev_id, gw.access_token(dev)))["result"] == 0
        results = [(await sub.ask(20010))["result"] for _ in range(4)]
        assert results[:2] == [0, 0] and 606000006 in results[2:], results
        busy = await sub.ask(20010)
        if busy["result"]:
            assert busy["message"] == "too many calls for this developer; retry later"
        await sub.close()


async def test_a_subscriber_that_does_not_read_is_closed_not_buffered(tmp_path: Any) -> None:
    import socket

    from websockets.exceptions import ConnectionClosed as Closed

    from hstgw.events.model import Entry, EventId
    from tests.events.event_gateway_rig import append, make_app

    def online(i: int) -> Entry:
        who = {"user_id": f"u{i}", "mutex_type": "pc", "client_guid": "", "company_id": ""}
        return Entry(EventId.TERMINAL_ONLINE, who)

    for gw in start_gateway(tmp_path, event_queue=16):
        dev = gw.new_dev()
        app_id = make_app(gw, dev)
        port = listener(gw).port
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # (before connecting)
        sock.connect(("127.0.0.1", port))
        sub = Sub(await connect(f"ws://127.0.0.1:{port}", sock=sock, compression=None))
        assert (await sub.login(dev.dev_id, gw.access_token(dev)))["result"] == 0
        assert (await sub.ask(20004, app_list=[{"app_id": app_id}]))["result"] == 0
        # the subscriber reads nothing while thousands of events come
        for batch in range(5):
            await append(gw, app_id, *(online(batch * 1000 + i) for i in range(1000)))
        assert await eventually_closed(gw)
        received = 0
        with pytest.raises(Closed) as closed:
            while True:
                await sub.recv()
                received += 1
        assert closed.value.rcvd is not None and closed.value.rcvd.code == p.CLOSE_TOO_SLOW
        assert received < 5000  # it was not given them all: it resumes with from_version


async def eventually_closed(gw: Any) -> bool:
    from tests.waiting import eventually

    return bool(await eventually(lambda: not listener(gw).sessions or _ended(gw), 10))


def _ended(gw: Any) -> bool:
    return all(s.ended for s in listener(gw).sessions)
