"""The event gateway's WebSocket listener (its own port, like the terminals').

Built as the terminal listener is (``hstgw.online.endpoint``): the ``websockets``
library, each socket admitted through a ``ConnectionGate`` (caps per address and in
all), a deadline for the handshake and for the login, a frame size limit. Each
connection: the first frame must be a login (20000) within ``LOGIN_TIMEOUT_S``, then
requests until it closes. Replies and pushes go through the session's bounded outbox,
written by one task per connection, in order.

The listener is the event log's one reader on this node (``EventFeed.listen``): each
event is written once and offered to the sessions subscribed to its app. Every
``token_check`` seconds each session's access_token is asked again: one expired or
superseded ends its session (20003 with 606000001, then close 4001); and so is each
app followed: a deleted one closes its sessions (4004).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from hstgw.connections import (
    ConnectionGate,
    TrustedProxies,
    client_address,
    gated_connection,
)
from hstgw.egw import protocol as p
from hstgw.egw.frames import FrameError, dumps, parse, reply, text_field
from hstgw.egw.requests import Requests, Subscribers
from hstgw.egw.service import EventGatewayService
from hstgw.egw.session import Session
from hstgw.errors import Code, GatewayError, SystemBusy
from hstgw.events.model import Event
from hstgw.store import Unavailable
from hstgw.tasks import Background, cancel

__all__ = ["EventListener"]

log = logging.getLogger("hstgw.egw")

LOGIN_TIMEOUT_S = 10.0
HANDSHAKE_TIMEOUT_S = 10.0
# A writer that cannot hand its last frames over within this is closed regardless.
DRAIN_TIMEOUT_S = 5.0
# Requests are small (at most 1000 apps with their groups); a larger frame closes 1009.
MAX_FRAME = 256 * 1024
_END = ""  # (in an outbox: close once what is before it is sent)


class _Link:
    """A session's socket: the task that writes its outbox, and how it closes."""

    __slots__ = ("_closing", "_why", "conn", "writer")

    def __init__(self, conn: ServerConnection, closing: Background) -> None:
        self.conn = conn
        self._closing = closing
        self._why = (1000, "")
        self.writer: asyncio.Task[None] | None = None

    def start(self, session: Session) -> None:
        self.writer = asyncio.get_running_loop().create_task(self._write(session))

    async def _write(self, session: Session) -> None:
        conn, outbox = self.conn, session.outbox
        try:
            with contextlib.suppress(ConnectionClosed):
                while (text := await outbox.get()) is not _END:
                    await conn.send(text)
                await conn.close(*self._why)
        finally:
            # Nothing more goes out: whoever waits to queue a frame must not wait forever.
            session.end(1000, "")
            while not outbox.empty():
                outbox.get_nowait()

    def close(self, outbox: asyncio.Queue[str], code: int, reason: str) -> None:
        self._why = (code, reason)
        if code != p.CLOSE_TOO_SLOW:
            try:  # after what is queued (a logout's reply, the notice of a token's end)
                outbox.put_nowait(_END)
                return
            except asyncio.QueueFull:
                pass
        if self.writer is not None:
            self.writer.cancel()
        self._closing.spawn(self.conn.close(code, reason))


class EventListener:
    def __init__(
        self,
        service: EventGatewayService,
        host: str,
        port: int,
        gate: ConnectionGate | None = None,
        proxies: TrustedProxies | None = None,
        *,
        queue: int = 1024,
        token_check: float = 5.0,
    ) -> None:
        self._connection = gated_connection("EventConnection", gate)
        self._proxies = proxies or TrustedProxies()
        self._service = service
        self._host = host
        self._port = port
        self._queue = queue
        self._token_check = token_check
        self.subscribers = Subscribers()
        self._requests = Requests(service, self.subscribers)
        self.sessions: set[Session] = set()
        self._server: Server | None = None
        self._closing = Background()
        self._sweeper: asyncio.Task[None] | None = None
        self._unlisten: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(next(iter(self._server.sockets)).getsockname()[1])

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            self._host,
            self._port,
            compression=None,
            open_timeout=HANDSHAKE_TIMEOUT_S,
            ping_interval=20,  # a subscriber that went away without a word is found
            ping_timeout=20,
            close_timeout=DRAIN_TIMEOUT_S,
            max_size=MAX_FRAME,
            max_queue=4,
            server_header=None,
            create_connection=self._connection,
            logger=logging.getLogger("hstgw.egw.ws"),
        )
        self.loop = asyncio.get_running_loop()  # (tests hand work to it from outside)
        self._unlisten = self._service.feed.listen(self._on_event)
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def stop(self) -> None:
        if self._server is None:
            return
        if self._unlisten is not None:
            self._unlisten()
        await cancel(self._sweeper)
        for session in list(self.sessions):
            session.end(p.CLOSE_SHUTDOWN, "the gateway is stopping: reconnect")
        self._server.close(close_connections=True)
        await self._server.wait_closed()
        await self._closing.wait()
        self._server = None

    # events

    def _on_event(self, event: Event) -> None:
        sessions = self.subscribers.by_app.get(event.app_id)
        if not sessions:
            return
        text = dumps(event.push())  # written once for every subscriber
        for session in list(sessions):
            session.offer(event, text)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self._token_check)
            by_token: dict[tuple[str, str], list[Session]] = {}
            for session in self.sessions:
                by_token.setdefault((session.dev_id, session.token), []).append(session)
            for (dev_id, token), sessions in by_token.items():
                try:
                    await self._service.check(dev_id, token)
                except GatewayError as exc:
                    for session in sessions:
                        if session.token == token:  # (not given a new one meanwhile)
                            session.send_now(reply(p.LOGOUT_REPLY, exc.code, exc.msg))
                            session.end(p.CLOSE_LOGGED_OUT, exc.msg)
                except Exception:  # the store or Redis away: ask again next time
                    log.warning("access_token check failed", exc_info=True)
            await self._end_deleted()

    async def _end_deleted(self) -> None:
        """Close the sessions that follow an app deleted since (on any node): they
        subscribe again, and are told there is no such app."""
        for app_id in list(self.subscribers.by_app):
            try:
                if await self._service.exists(app_id):
                    continue
            except Exception:  # the store away: look again next time
                log.warning("app lookup failed", exc_info=True)
                return
            for session in list(self.subscribers.by_app.get(app_id, ())):
                session.end(p.CLOSE_APP_DELETED, "app deleted")

    # connections

    def _address(self, conn: ServerConnection) -> str:
        return client_address(conn, self._proxies)

    async def _login(self, conn: ServerConnection) -> tuple[Session, _Link] | None:
        """The session of a good login, or None (the refusal was sent and the close begun)."""
        try:
            first = await asyncio.wait_for(conn.recv(), LOGIN_TIMEOUT_S)
        except TimeoutError:
            await conn.close(p.CLOSE_LOGIN_FAILED, "login timeout")
            return None
        try:
            request = parse(first)
            if request.id != p.LOGIN:
                await conn.send(reply(request.reply_id, Code.AUTHENTICATION_FAILED, "log in first"))
                await conn.close(p.CLOSE_PROTOCOL, "log in first")
                return None
            dev_id = text_field(request.data, "dev_id")
            token = text_field(request.data, "token")
            address = self._address(conn)
            await self._service.login(dev_id, token, address)
            self._service.opened(dev_id)  # (closed in _gone)
        except FrameError as exc:
            await conn.send(_error_reply(exc))
            await conn.close(p.CLOSE_PROTOCOL, "log in first")
            return None
        except (GatewayError, Unavailable) as exc:
            error = exc if isinstance(exc, GatewayError) else SystemBusy()
            await conn.send(reply(p.LOGIN_REPLY, error.code, error.msg))
            await conn.close(p.CLOSE_LOGIN_FAILED, "login failed")
            return None
        link = _Link(conn, self._closing)
        session = Session(
            self._service,
            dev_id,
            token,
            self._queue,
            lambda code, reason: link.close(session.outbox, code, reason),
            address,
        )
        link.start(session)
        session.send_now(reply(p.LOGIN_REPLY, Code.OK))
        return session, link

    async def _handle(self, conn: ServerConnection) -> None:
        session = link = None
        try:
            logged_in = await self._login(conn)
            if logged_in is None:
                return
            session, link = logged_in
            self.sessions.add(session)
            requests = self._requests
            async for raw in conn:
                try:
                    await requests.handle(session, parse(raw))
                except FrameError as exc:
                    await session.send(_error_reply(exc))
                except Exception:
                    log.exception("event gateway request failed")
                    await session.send(
                        reply(p.ERROR, Code.OPERATION_FAILED, "internal error (logged)")
                    )
                if session.ended:
                    break
        except ConnectionClosed:
            pass
        finally:
            if session is not None and link is not None:
                await self._gone(session, link)

    async def _gone(self, session: Session, link: _Link) -> None:
        self.sessions.discard(session)
        self._service.closed(session.dev_id)
        self.subscribers.remove(session, list(session.streams))
        session.end(1000, "")
        await session.close_tasks()
        if link.writer is not None:  # what was queued before the end goes out first
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(link.writer), DRAIN_TIMEOUT_S)
            link.writer.cancel()


def _error_reply(exc: FrameError) -> str:
    extra = {} if exc.request_id is None else {"request_id": exc.request_id}
    return reply(exc.reply_id, exc.code, exc.msg, **extra)
