"""A logged-in subscriber's requests: subscribe, unsubscribe, sync, heartbeat, logout,
and a login again (a fresh access_token on the same connection).

Subscribe checks every app before it subscribes any: one app that is not the caller's
refuses the whole request. A sync answers each app on its own (one 20009 each).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hstgw.egw import protocol as p
from hstgw.egw.frames import AppEntry, Request, app_entries, reply, seq_of, text_field
from hstgw.egw.service import EventGatewayService
from hstgw.egw.session import BATCH, Session, Stream
from hstgw.errors import Code, GatewayError, ParameterInvalid, SystemBusy
from hstgw.store import Unavailable

__all__ = ["Requests", "Subscribers"]


class Subscribers:
    """Who listens to which app, on this node (the listener fans each event out by it)."""

    __slots__ = ("by_app",)

    def __init__(self) -> None:
        self.by_app: dict[str, set[Session]] = {}

    def add(self, session: Session, app_id: str) -> None:
        self.by_app.setdefault(app_id, set()).add(session)

    def remove(self, session: Session, app_ids: Iterable[str]) -> None:
        for app_id in list(app_ids):
            held = self.by_app.get(app_id)
            if held is not None:
                held.discard(session)
                if not held:
                    del self.by_app[app_id]
            session.streams.pop(app_id, None)


class Requests:
    def __init__(self, service: EventGatewayService, subscribers: Subscribers) -> None:
        self._service = service
        self._subs = subscribers

    async def handle(self, session: Session, request: Request) -> None:
        """Run one request; its reply (or replies) go to the session's outbox."""
        try:
            await self._run(session, request)
        except GatewayError as exc:
            await session.send(reply(request.reply_id, exc.code, exc.msg))
        except Unavailable:
            await session.send(reply(request.reply_id, Code.SYSTEM_BUSY, SystemBusy().msg))

    async def _run(self, session: Session, request: Request) -> None:
        rid, data = request.id, request.data
        # each app of a sync is a snapshot read, of a subscribe a lookup: a call each (a
        # large app's snapshot more, as it is read: ``Snapshots``)
        apps = data.get("app_list") if rid in (p.SYNC, p.SUBSCRIBE) else None
        await self._service.allow(session.dev_id, len(apps) if isinstance(apps, list) else 1)
        if rid == p.HEARTBEAT:
            await session.send(reply(p.HEARTBEAT_REPLY, Code.OK))
        elif rid == p.SUBSCRIBE:
            entries = app_entries(data, required=True)
            await self._service.own(session.dev_id, [e.app_id for e in entries])
            for e in entries:
                if e.app_id not in session.streams:
                    session.streams[e.app_id] = Stream()
                self._subs.add(session, e.app_id)
            await session.send(reply(p.SUBSCRIBE_REPLY, Code.OK))
        elif rid == p.UNSUBSCRIBE:
            entries = app_entries(data, required=False)
            gone = [e.app_id for e in entries] if entries else list(session.streams)
            self._subs.remove(session, gone)
            await session.send(reply(p.UNSUBSCRIBE_REPLY, Code.OK))
        elif rid == p.SYNC:
            await self._sync(session, data)
        elif rid == p.LOGIN:  # again: a fresh access_token, same developer
            dev_id = text_field(data, "dev_id")
            token = text_field(data, "token")
            if dev_id != session.dev_id:
                raise ParameterInvalid("dev_id", "a connection serves the developer it logged in")
            # a failure counts against the address, as a first login's does
            await self._service.login(dev_id, token, session.address)
            session.token = token
            await session.send(reply(p.LOGIN_REPLY, Code.OK))
        elif rid == p.LOGOUT:
            await session.send(reply(p.LOGOUT_REPLY, Code.OK))
            self._subs.remove(session, list(session.streams))
            session.end(1000, "logout")

    async def _sync(self, session: Session, data: dict[str, Any]) -> None:
        seq = seq_of(data)
        entries = app_entries(data, required=True, sync=True)
        for i, entry in enumerate(entries):
            try:
                await self._service.own(session.dev_id, [entry.app_id])
            except ParameterInvalid as exc:
                field = exc.field.replace("app_list[0]", f"app_list[{i}]")
                await session.send(_sync_error(ParameterInvalid(field, exc.reason), entry, seq))
                continue
            try:
                await self._sync_app(session, entry, seq)
            except GatewayError as exc:
                await session.send(_sync_error(exc, entry, seq))
            except Unavailable:
                await session.send(_sync_error(SystemBusy(), entry, seq))
            if session.ended:
                return

    async def _sync_app(self, session: Session, entry: AppEntry, seq: Any) -> None:
        app_id = entry.app_id
        subscribed = app_id in session.streams
        if entry.from_version is not None and not subscribed:
            self._subs.add(session, app_id)  # a replay continues live: it subscribes
            subscribed = True
        async with session.lock:
            st = session.hold(app_id)
            try:
                if entry.from_version is not None and await self._replay(session, st, entry, seq):
                    return
                version = await session.sync_reply(app_id, seq, entry.group_list)
                if subscribed and not await session.position(app_id, st, version, None):
                    session.end(p.CLOSE_TOO_SLOW, "events after the sync are gone: sync again")
            except BaseException:
                if subscribed and st.pending is not None:
                    session.unhold(app_id, st)
                raise
            finally:
                if not subscribed:
                    session.release(app_id, st)

    async def _replay(self, session: Session, st: Stream, entry: AppEntry, seq: Any) -> bool:
        """Replay what followed ``from_version``; False if a full sync must answer."""
        app_id, start = entry.app_id, entry.from_version or 0
        if start > await self._service.version(app_id):
            return False  # a version this app never had: the client's state is not ours
        first = await self._service.after(app_id, start, BATCH)
        if first is None:
            return False
        extra: dict[str, Any] = {"app_id": app_id, "version": start, "from_version": start}
        if seq is not None:
            extra["seq"] = seq
        await session.send(reply(p.SYNC_REPLY, Code.OK, p.REPLAY_MESSAGE, replay=True, **extra))
        if not await session.position(app_id, st, start, first):
            session.end(p.CLOSE_TOO_SLOW, "events to replay are gone: sync")
        return True


def _sync_error(exc: GatewayError, entry: AppEntry, seq: Any) -> str:
    extra: dict[str, Any] = {"app_id": entry.app_id}
    if seq is not None:
        extra["seq"] = seq
    return reply(p.SYNC_REPLY, exc.code, exc.msg, **extra)
