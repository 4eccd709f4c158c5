"""The terminal port under a flood from one address: others and logged-in terminals go on."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from tests.conftest import Gateway, start_gateway
from tests.online.conftest import Raw, make_app, raw_login
from tests.waiting import eventually

pytestmark = pytest.mark.anyio

PER_ADDRESS = 10


@pytest.fixture
def capped(tmp_path: Path) -> Iterator[Gateway]:
    yield from start_gateway(
        tmp_path,
        terminal_max_connections_per_address=PER_ADDRESS,
        http_max_connections_per_address=PER_ADDRESS,
    )


def open_socket(port: int, source: str) -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


def closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(4096) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


async def test_a_flood_from_one_address_leaves_others_served(capped: Gateway) -> None:
    app = make_app(capped)
    # A terminal logged in before the flood, from another address (127.0.0.1 floods).
    conn = await connect(
        app.ws_url, compression=None, ping_interval=None, local_addr=("127.0.0.2", 0)
    )
    alice = Raw(conn)
    await alice.send(app.login_frame("alice"))
    assert (await alice.recv())["code"] == 0

    port = capped.settings.terminal_port
    flood = [open_socket(port, "127.0.0.1") for _ in range(PER_ADDRESS + 20)]
    try:
        # what is over the cap is closed at once
        assert await eventually(lambda: sum(map(closed, flood)) >= 20)
        # the logged-in terminal is still served: a trans-cmd reaches it
        reply = app.rest(
            "POST",
            "/v1/online/trans-cmd",
            json={
                "app_id": app.app_id,
                "msg_id": 1,
                "trans_mess": {"cmd": "mute"},
                "user_list": [{"user_id": "alice", "mutex_type": "web", "client_guid": ""}],
            },
        )
        assert reply["result"]["user_list"][0]["result"] == 0
        assert (await alice.expect("trans_cmd"))["trans_mess"] == {"cmd": "mute"}
        # a terminal from another address logs in
        conn = await connect(
            app.ws_url, compression=None, ping_interval=None, local_addr=("127.0.0.3", 0)
        )
        bob = Raw(conn)
        await bob.send(app.login_frame("bob"))
        assert (await bob.expect("login_result"))["code"] == 0
        await bob.close()
    finally:
        for sock in flood:
            sock.close()
    await alice.close()
    # once the flood is gone, the address may connect again
    carol, reply = await raw_login(app, "carol")
    assert reply["code"] == 0
    await carol.close()
