"""Fixtures for the online service: apps with service 7, raw and SDK terminals."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from hstgw.sdk import TerminalClient
from hstgw.tokens.fsp import build
from tests.conftest import Dev, Gateway


@dataclass
class OnlineApp:
    gateway: Gateway
    token: str  # the developer's access token
    app_id: str
    app_secret: str
    ws_url: str  # where terminals connect, as GET /v1/online/address says

    def rest(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        return self.gateway.call(method, path, self.token, **kw)

    def terminal(self, user_id: str, **kw: Any) -> TerminalClient:
        return TerminalClient(
            self.gateway.url, self.app_id, user_id, app_secret=self.app_secret, **kw
        )

    def online(self, user_id: str) -> int:
        """How many of ``user_id``'s terminals are online (``GET /v1/online/user/state``)."""
        params = {"app_id": self.app_id, "msg_id": 1, "user_ids": user_id}
        reply = self.rest("GET", "/v1/online/user/state", params=params)
        assert reply["code"] == 0, reply
        return sum(u["state"] == 1 for u in reply["result"]["user_list"])

    def login_frame(self, user_id: str, /, **fields: Any) -> dict[str, Any]:
        frame = {
            "type": "login",
            "seq": 1,
            "app_id": self.app_id,
            "token": build(self.app_id, self.app_secret, uid=user_id),
            "user_id": user_id,
            "mutex_type": "web",
            "client_guid": f"guid-{user_id}",
        }
        frame.update(fields)
        return frame


def make_app(
    gateway: Gateway,
    services: list[int] | None = None,
    status: str = "online",
    dev: Dev | None = None,
) -> OnlineApp:
    token = gateway.access_token(dev or gateway.new_dev())
    body = {
        "app_name": "online_app",
        "status": status,
        "service": [{"service_id": s} for s in (services or [3, 4, 6, 7])],
    }
    result = gateway.call("POST", "/v1/app", token, json=body)["result"]
    ws_url = gateway.call("GET", "/v1/online/address")["result"]["ws_url"]
    return OnlineApp(gateway, token, result["app_id"], result["app_secret"], ws_url)


@pytest.fixture
def app(gateway: Gateway) -> OnlineApp:
    return make_app(gateway)


class Raw:
    """A terminal speaking the protocol by hand."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.conn.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109
        return dict(json.loads(await asyncio.wait_for(self.conn.recv(), timeout)))

    async def expect(self, kind: str, timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109
        """The next frame of type ``kind``, skipping others (presence pushes)."""
        while True:
            frame = await self.recv(timeout)
            if frame["type"] == kind:
                return frame

    async def request(self, frame: dict[str, Any]) -> dict[str, Any]:
        await self.send(frame)
        return await self.expect(f"{frame['type']}_result")

    async def close(self) -> None:
        await self.conn.close()


async def raw_login(app: OnlineApp, who: str, /, **fields: Any) -> tuple[Raw, dict[str, Any]]:
    """Connect and send a login for ``who``; ``fields`` override the frame's."""
    conn = await connect(app.ws_url, compression=None, ping_interval=None)
    raw = Raw(conn)
    await raw.send(app.login_frame(who, **fields))
    return raw, await raw.recv()
