"""``TerminalClient``: a terminal of the online service, over asyncio.

    async with TerminalClient(base_url, app_id, "alice", app_secret=secret) as t:
        await t.set_state("busy")
        async for event in t.events():
            print(event["type"], event)

``base_url`` is the gateway's REST address (the client asks it where terminals
connect) or a ``ws://`` URL. Replies are matched to requests by ``seq``; pushes
arrive through ``events()``. With ``reconnect=True`` a lost connection is
re-established with back-off and logged in again (a ``reconnected`` event says so);
a kick is final.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from hstgw.errors import TerminalCode
from hstgw.online import protocol as p
from hstgw.sdk._constants import (
    DEFAULT_HEARTBEAT_INTERVAL_S,
    RECONNECT_DELAYS_S,
    TERMINAL_REQUEST_TIMEOUT_S,
)
from hstgw.sdk._exceptions import HstgwError
from hstgw.sdk._terminal_requests import TerminalRequests
from hstgw.tokens.fsp import build

__all__ = ["TerminalClient", "TerminalError", "TerminalLoginError"]


class TerminalError(HstgwError):
    """A request answered with a non-zero code."""

    def __init__(self, code: int, msg: str) -> None:
        self.code = code
        self.msg = msg
        super().__init__(f"{code} {msg}")


class TerminalLoginError(TerminalError):
    pass


class TerminalClient(TerminalRequests):
    def __init__(
        self,
        url: str,
        app_id: str,
        user_id: str,
        *,
        app_secret: str | None = None,
        token: str | None = None,
        company_id: str = "",
        mutex_type: str = "web",
        client_guid: str | None = None,
        force_login: bool = False,
        custom_state: str = "",
        extend_info: str = "",
        reconnect: bool = False,
        heartbeat: bool = True,
    ) -> None:
        if token is None and app_secret is None:
            raise ValueError("give app_secret (to build tokens) or token")
        super().__init__()
        self.url = url
        self.app_id = app_id
        self.user_id = user_id
        self.company_id = company_id
        self.mutex_type = mutex_type
        self.client_guid = client_guid if client_guid is not None else uuid.uuid4().hex
        self.force_login = force_login
        self.custom_state = custom_state
        self.extend_info = extend_info
        self.reconnect = reconnect
        self.heartbeat_interval = DEFAULT_HEARTBEAT_INTERVAL_S
        self._app_secret = app_secret
        self._token = token
        self._heartbeat = heartbeat
        self._conn: ClientConnection | None = None
        self._seq = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self._resume: str | None = None
        self.kicked: dict[str, Any] | None = None

    @property
    def connection(self) -> ClientConnection | None:
        """The WebSocket of the current login (None before the first): to watch it, or,
        in a test, to drop it as a network would (the client then reconnects)."""
        return self._conn

    # connecting

    async def _ws_url(self) -> str:
        if self.url.startswith(("ws://", "wss://")):
            return self.url
        async with httpx.AsyncClient(timeout=TERMINAL_REQUEST_TIMEOUT_S) as http:
            reply = (await http.get(f"{self.url.rstrip('/')}/v1/online/address")).json()
        return str(reply["result"]["ws_url"])

    def _login_frame(self, seq: int, resume: str | None) -> str:
        """A login with the resume credential of the last one (a reconnect), else with
        a token: the one given, or a new one built with the app secret."""
        credential = (
            {"resume": resume}
            if resume
            else {
                "token": self._token or build(self.app_id, self._app_secret or "", uid=self.user_id)
            }
        )
        return json.dumps(
            {
                "type": p.LOGIN,
                "seq": seq,
                "app_id": self.app_id,
                **credential,
                "user_id": self.user_id,
                "company_id": self.company_id,
                "mutex_type": self.mutex_type,
                "client_guid": self.client_guid,
                "force_login": self.force_login,
                "custom_state": self.custom_state,
                "extend_info": self.extend_info,
            }
        )

    async def connect(self) -> dict[str, Any]:
        """Connect and log in; the login reply. Raises TerminalLoginError on a refusal."""
        reply = await self._open()
        self._tasks.append(asyncio.create_task(self._read_forever()))
        if self._heartbeat:
            self._tasks.append(asyncio.create_task(self._beat()))
        return reply

    async def _open(self) -> dict[str, Any]:
        try:
            return await self._open_with(self._resume)
        except TerminalLoginError as exc:
            # A resume credential past its time (or a gateway that forgot it): log in
            # with a token instead, if there is one to use.
            if not self._resume or exc.code != TerminalCode.TOKEN_INVALID:
                raise
            self._resume = None
            return await self._open_with(None)

    async def _open_with(self, resume: str | None) -> dict[str, Any]:
        conn = await connect(
            await self._ws_url(), compression=None, ping_interval=None, max_size=2**20
        )
        seq = next(self._seq)
        await conn.send(self._login_frame(seq, resume))
        reply = json.loads(await asyncio.wait_for(conn.recv(), TERMINAL_REQUEST_TIMEOUT_S))
        if reply.get("code") != TerminalCode.OK:
            await conn.close()
            raise TerminalLoginError(reply.get("code", -1), reply.get("msg", ""))
        self.heartbeat_interval = float(
            reply.get("heartbeat_interval", DEFAULT_HEARTBEAT_INTERVAL_S)
        )
        # A token logs in once (replay protection): reconnects use this credential.
        self._resume = reply.get("resume") or None
        self._conn = conn
        return dict(reply)

    async def _read_forever(self) -> None:
        while True:
            conn = self._conn
            assert conn is not None
            try:
                async for raw in conn:
                    self._dispatch(json.loads(raw))
            except ConnectionClosed:
                pass
            self._fail_waiting()
            if self._closed or self.kicked is not None or not self.reconnect:
                break
            if not await self._reconnect():
                break
        await self._events.put(None)  # ends events()

    async def _reconnect(self) -> bool:
        for delay in itertools.chain(RECONNECT_DELAYS_S, itertools.repeat(RECONNECT_DELAYS_S[-1])):
            await asyncio.sleep(delay * (0.75 + random.random() / 2))
            if self._closed:
                return False
            try:
                await self._open()
            except TerminalLoginError as exc:
                if exc.code == TerminalCode.ALREADY_ONLINE:
                    # our previous connection may not be seen as gone yet: take its place
                    self.force_login = True
                    continue
                if exc.code == TerminalCode.BUSY:  # the gateway lost Redis or its database
                    continue
                await self._events.put(
                    {"type": "reconnect_failed", "code": exc.code, "msg": exc.msg}
                )
                return False
            except (OSError, ConnectionClosed, TimeoutError, httpx.HTTPError):
                continue
            await self._events.put({"type": "reconnected"})
            if self.groups:  # (in a task: this one reads the replies)
                self._tasks.append(asyncio.create_task(self._rejoin()))
            return True
        return False

    async def _rejoin(self) -> None:
        try:
            await self.rejoin()
        except (TerminalError, ConnectionError, TimeoutError) as exc:
            await self._events.put({"type": "rejoin_failed", "msg": str(exc)})

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type", "")
        if kind.endswith("_result"):
            fut = self._waiting.pop(message.get("seq", -1), None)
            if fut is not None and not fut.done():
                fut.set_result(message)
            return
        if kind == "kicked":
            self.kicked = message
        self._events.put_nowait(message)

    def _fail_waiting(self) -> None:
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(ConnectionError("connection closed"))
        self._waiting.clear()

    async def _beat(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.heartbeat_interval)
            with contextlib.suppress(Exception):
                await self.request(p.HEARTBEAT)

    # using it

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Pushes as they arrive, until the connection ends for good."""
        while True:
            event = await self._events.get()
            if event is None:
                return
            yield event

    async def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Send one request and return its reply; TerminalError if its code is not 0."""
        if self._conn is None:
            raise ConnectionError("not connected")
        seq = next(self._seq)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[seq] = fut
        try:
            await self._conn.send(json.dumps({"type": kind, "seq": seq, **fields}))
            reply = await asyncio.wait_for(fut, TERMINAL_REQUEST_TIMEOUT_S)
        except ConnectionClosed:
            raise ConnectionError("connection closed") from None
        finally:
            self._waiting.pop(seq, None)
            # The connection may have failed it while the send itself failed: mark the
            # exception retrieved, or asyncio reports it as never retrieved.
            if fut.done() and not fut.cancelled():
                fut.exception()
            else:
                fut.cancel()
        if reply.get("code") != TerminalCode.OK:
            raise TerminalError(reply["code"], reply.get("msg", ""))
        return reply

    async def close(self) -> None:
        """Log out and close; ``events()`` ends."""
        self._closed = True
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.send(json.dumps({"type": p.LOGOUT}))
            await conn.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self._events.put_nowait(None)

    async def __aenter__(self) -> TerminalClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
