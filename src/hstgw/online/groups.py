"""Groups on the online service: a terminal joins and leaves groups and announces
the media it broadcasts in them; each is an event of the app's log (docs/events.md).

The log decides (the limits, who is in which group) inside its transaction, so that
terminals on several nodes cannot pass a limit together; the session remembers its
groups so that going offline, however it happens, leaves them (and stops its media).
What the online service itself tells the log of (terminals online, offline, kicked,
replies to the backend's invites) goes through :class:`TerminalEvents` too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol

from hstgw.errors import TerminalCode
from hstgw.events.model import Entry, Event, EventId, Refusal
from hstgw.online.frames import Reply, TerminalError, parse_request
from hstgw.online.models import GroupReq, MediaReq
from hstgw.online.session import Session
from hstgw.validation import is_user_id

__all__ = ["EventSink", "NoEvents", "TerminalEvents", "TerminalGroups"]


class EventSink(Protocol):
    """The event log as the online service uses it (``hstgw.events.log.EventLog``)."""

    node: str

    def submit(
        self, app_id: str, entries: list[Entry]
    ) -> asyncio.Future[list[Event | Refusal]]: ...

    def post(self, app_id: str, entries: list[Entry]) -> None: ...


class NoEvents:
    """No log (a part tested alone): everything appended is accepted and forgotten."""

    node = ""

    def submit(self, app_id: str, entries: list[Entry]) -> asyncio.Future[list[Event | Refusal]]:
        fut: asyncio.Future[list[Event | Refusal]] = asyncio.get_running_loop().create_future()
        fut.set_result([Event(app_id, 0, e.id, 0, e.body) for e in entries])
        return fut

    def post(self, app_id: str, entries: list[Entry]) -> None:
        pass


def _terminal(session: Session) -> dict[str, Any]:
    return {
        "user_id": session.user_id,
        "mutex_type": session.mutex_type,
        "client_guid": session.client_guid,
        "company_id": session.company_id,
    }


class TerminalEvents:
    """What happens to terminals, told to the log without waiting (a failure is logged:
    a terminal is not held up by the store)."""

    def __init__(self, sink: EventSink) -> None:
        self.sink = sink

    def online(self, session: Session) -> None:
        self.sink.post(session.app_id, [Entry(EventId.TERMINAL_ONLINE, _terminal(session))])

    def kicked(self, session: Session, reason: str) -> None:
        body = {**_terminal(session), "reason": reason}
        self.sink.post(session.app_id, [Entry(EventId.TERMINAL_KICKED, body)])

    def offline(self, session: Session) -> None:
        """Its groups left (their media stopped first, by the log), then offline."""
        entries = [
            Entry(
                EventId.USER_LEFT,
                {"group_id": g, "user_id": session.user_id},
                holder=session.conn,
                node=self.sink.node,
            )
            for g in sorted(session.groups or ())
        ]
        session.groups = None
        entries.append(Entry(EventId.TERMINAL_OFFLINE, _terminal(session)))
        self.sink.post(session.app_id, entries)

    def rejoin(self, session: Session, group_ids: list[str]) -> None:
        """Join these groups of the session and start its media there again: its node
        had been taken for dead, and the node that reaped it left them (a fact: the
        limits held when it joined; what is still there is refused, harmlessly)."""
        entries = []
        groups = session.groups or {}
        for group_id in sorted(group_ids):
            media = groups.get(group_id, {})
            body = {"group_id": group_id, "user_id": session.user_id}
            entries.append(self._entry(session, EventId.USER_JOINED, body))
            entries += [
                self._entry(
                    session,
                    EventId.MEDIA_STARTED,
                    {**body, "media_id": media_id, "media_type": media_type},
                )
                for media_id, media_type in media.items()
            ]
        if entries:
            self.sink.post(session.app_id, entries)

    def _entry(self, session: Session, id: EventId, body: dict[str, Any]) -> Entry:
        return Entry(id, body, holder=session.conn, node=self.sink.node, fact=True)

    async def invite_reply(self, session: Session, fields: dict[str, Any]) -> None:
        """A reply to the backend's invite: durable before the terminal is answered."""
        body = {**fields, **_terminal(session)}
        [result] = await self.sink.submit(session.app_id, [Entry(EventId.INVITE_REPLY, body)])
        if isinstance(result, Refusal):  # (no rule refuses it; kept for the type)
            raise TerminalError(TerminalCode(result.code), result.msg)


class TerminalGroups:
    """The four group frames of a logged-in terminal. ``rate``: group frames a second
    per terminal (0: no limit), past which a frame is refused (1000104) before the log
    is asked: every one that passes is a durable event."""

    def __init__(
        self, sink: EventSink, rate: float = 0.0, ticks: Callable[[], float] = time.monotonic
    ) -> None:
        self._sink = sink
        self._rate = rate
        self._ticks = ticks

    def _allow(self, session: Session) -> None:
        if self._rate and not session.allow_group(self._ticks(), self._rate):
            raise TerminalError(
                TerminalCode.RATE_LIMITED,
                f"group frames: at most {self._rate:g} a second for a terminal",
            )

    async def _append(self, session: Session, entry: Entry) -> Event:
        [result] = await self._sink.submit(session.app_id, [entry])
        if isinstance(result, Refusal):
            raise TerminalError(TerminalCode(result.code), result.msg)
        return result

    def _entry(self, session: Session, id: EventId, body: dict[str, Any]) -> Entry:
        return Entry(id, body, holder=session.conn, node=self._sink.node)

    async def join(self, session: Session, data: dict[str, Any]) -> Reply:
        req: GroupReq = parse_request(GroupReq, data)
        group_id = _group_id(req.group_id)
        self._allow(session)
        body = {"group_id": group_id, "user_id": session.user_id}
        event = await self._append(session, self._entry(session, EventId.USER_JOINED, body))
        if session.ended:  # went offline while joining: its leaves are already queued
            self._sink.post(session.app_id, [self._entry(session, EventId.USER_LEFT, body)])
        else:
            if session.groups is None:
                session.groups = {}
            session.groups[group_id] = {}
        return {"group_id": group_id, "version": event.version}

    async def leave(self, session: Session, data: dict[str, Any]) -> Reply:
        req: GroupReq = parse_request(GroupReq, data)
        group_id = _group_id(req.group_id)
        self._allow(session)
        body = {"group_id": group_id, "user_id": session.user_id}
        event = await self._append(session, self._entry(session, EventId.USER_LEFT, body))
        if session.groups is not None:
            session.groups.pop(group_id, None)
        return {"group_id": group_id, "version": event.version}

    async def start_media(self, session: Session, data: dict[str, Any]) -> Reply:
        return await self._media(session, data, EventId.MEDIA_STARTED)

    async def stop_media(self, session: Session, data: dict[str, Any]) -> Reply:
        return await self._media(session, data, EventId.MEDIA_STOPPED)

    async def _media(self, session: Session, data: dict[str, Any], id: EventId) -> Reply:
        req: MediaReq = parse_request(MediaReq, data)
        group_id = _group_id(req.group_id)
        self._allow(session)
        body = {
            "group_id": group_id,
            "user_id": session.user_id,
            "media_id": req.media_id,
            "media_type": req.media_type,
        }
        event = await self._append(session, self._entry(session, id, body))
        media = (session.groups or {}).get(group_id)
        if media is not None:
            if id is EventId.MEDIA_STARTED:
                media[req.media_id] = req.media_type
            else:
                media.pop(req.media_id, None)
        return {"group_id": group_id, "media_id": req.media_id, "version": event.version}


def _group_id(value: str) -> str:
    if not is_user_id(value):
        raise TerminalError(
            TerminalCode.GROUP_ID_INVALID, "group_id: 1-128 of [A-Za-z0-9_-] required"
        )
    return value
