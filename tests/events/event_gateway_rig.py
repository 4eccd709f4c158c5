"""What the event gateway's tests share: a gateway whose tokens are checked often, a
subscriber's socket, apps, and events appended on the server's own loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from hstgw.egw.listener import EventListener
from hstgw.events.model import Entry, Event, EventId
from tests.conftest import Dev, Gateway, start_gateway

__all__ = ["Sub", "append", "egw_gateway", "join", "make_app", "on_server"]

RECV_S = 5.0


@pytest.fixture(scope="module")
def egw_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway of the module's own: tokens asked again every 0.1 s."""
    yield from start_gateway(
        Path(tmp_path_factory.mktemp("egw")), auth_cache_ttl=0, event_token_check=0.1
    )


def listener(gateway: Gateway) -> EventListener:
    found: EventListener = gateway.app.state["events"]
    return found


async def on_server(gateway: Gateway, work: Coroutine[Any, Any, Any]) -> Any:
    """Run ``work`` on the server's event loop (its own thread) and await its result."""
    loop = listener(gateway).loop
    assert loop is not None
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, loop))


def join(group: str, user: str) -> Entry:
    return Entry(EventId.USER_JOINED, {"group_id": group, "user_id": user}, holder=f"h-{user}")


def crowd(groups: int, users: int) -> list[Entry]:
    """``groups`` groups of ``users`` users each, every user a terminal of its own."""
    return [
        Entry(
            EventId.USER_JOINED, {"group_id": f"g{i:03d}", "user_id": f"u{u}"}, holder=f"h{i}-{u}"
        )
        for i in range(groups)
        for u in range(users)
    ]


async def append(gateway: Gateway, app_id: str, *entries: Entry) -> list[Event]:
    out = await on_server(
        gateway, gateway.app.state["gateway"].events.append(app_id, list(entries))
    )
    refused = [r for r in out if not isinstance(r, Event)]
    assert not refused, refused[:3]
    return list(out)


def make_app(gateway: Gateway, dev: Dev) -> str:
    token = gateway.access_token(dev)
    body = {"app_name": "events_app", "status": "online", "service": [{"service_id": 7}]}
    app_id: str = gateway.call("POST", "/v1/app", token, json=body)["result"]["app_id"]
    return app_id


class Sub:
    """A subscriber's socket, speaking frames as dicts."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn

    @classmethod
    async def open(cls, gateway: Gateway) -> Sub:
        return cls(await connect(ws_url(gateway), compression=None))

    async def send(self, id: int, **fields: Any) -> None:
        await self.conn.send(json.dumps({"business": "EGW", "id": id, **fields}))

    async def recv(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(self.conn.recv(), RECV_S))
        return message

    async def ask(self, id: int, **fields: Any) -> dict[str, Any]:
        await self.send(id, **fields)
        return await self.recv()

    async def login(self, dev_id: str, token: str) -> dict[str, Any]:
        return await self.ask(20000, dev_id=dev_id, token=token)

    async def closed(self) -> tuple[int | None, str | None]:
        """Wait for the gateway to close; (code, reason) it gave."""
        await asyncio.wait_for(self.conn.wait_closed(), RECV_S)
        rcvd = self.conn.protocol.close_rcvd
        return (rcvd.code, rcvd.reason) if rcvd is not None else (None, None)

    async def close(self) -> None:
        await self.conn.close()


def ws_url(gateway: Gateway) -> str:
    result: str = gateway.call("GET", "/server/address", params={"appType": "8"})["result"]
    return result
