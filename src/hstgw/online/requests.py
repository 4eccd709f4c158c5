"""What a logged-in terminal asks for: one handler per request type."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from hstgw.billing.quota import Quota
from hstgw.errors import ParameterInvalid, TerminalCode
from hstgw.online import protocol as p
from hstgw.online.config import OnlineConfig
from hstgw.online.frames import (
    Reply,
    TerminalError,
    check_body,
    dumps,
    parse_frame,
    parse_request,
    reply,
)
from hstgw.online.groups import NoEvents, TerminalGroups
from hstgw.online.invites import Invites
from hstgw.online.models import (
    InviteReplyReq,
    InviteReq,
    ListOnlineReq,
    MessageReq,
    SetStateReq,
)
from hstgw.online.presence import Presence
from hstgw.online.routing import Reach
from hstgw.online.scope import ScopeNotices
from hstgw.online.session import Session
from hstgw.online.tenants import DEVELOPER_DISABLED, DeveloperStatus, OnlineApps
from hstgw.online.terminals import LocalTerminals
from hstgw.store import App, Store, Unavailable

__all__ = ["HANDLERS", "TerminalRequests"]

log = logging.getLogger("hstgw.online")

# A frame that reads every terminal of its company (list_online), or tells each of them
# (set_state), costs a message more for each this many terminals (~1.3 µs an entry to
# read, sort and page; a push about as much: 100 of them about a message's cost).
TERMINALS_PER_MESSAGE = 100


class TerminalRequests:
    def __init__(
        self,
        store: Store,
        presence: Presence,
        terminals: LocalTerminals,
        scope: ScopeNotices,
        reach: Reach,
        invites: Invites,
        apps: OnlineApps,
        developers: DeveloperStatus,
        quota: Quota,
        config: OnlineConfig,
        clock: Callable[[], int],
        ticks: Callable[[], float] = time.monotonic,
        groups: TerminalGroups | None = None,
    ) -> None:
        self._store = store
        self.groups = groups or TerminalGroups(NoEvents())
        self._presence = presence
        self._terminals = terminals
        self._scope = scope
        self._reach = reach
        self._invites = invites
        self._apps = apps
        self._developers = developers
        self._quota = quota
        self._message_rate = config.message_rate
        self._clock = clock
        self._ticks = ticks  # seconds, monotonic: the rate bucket, last seen

    async def handle(self, session: Session, raw: str | bytes) -> str:
        """The reply to one frame of a logged-in terminal."""
        session.last_seen = now = self._ticks()
        kind, seq = "error", None
        try:
            data = parse_frame(raw)
            kind, seq = data["type"], data.get("seq")
            if not session.allow(now, self._message_rate):
                raise TerminalError(TerminalCode.RATE_LIMITED)
            app = self._apps.get(session.app_id)
            developers = self._developers
            if (
                app is not None
                and not developers.known_active(app.dev_id, now)
                and not await developers.active(app.dev_id, now)
            ):
                # refused at once; the housekeeping sweep kicks it (developer_disabled)
                raise TerminalError(TerminalCode.APP_OFFLINE, DEVELOPER_DISABLED)
            handler = HANDLERS.get(kind)
            if handler is None:
                raise TerminalError(TerminalCode.UNKNOWN_TYPE, f"type: unknown {kind!r}"[:200])
            result = await handler(self, session, data)
        except TerminalError as exc:
            if exc.kind is not None:  # (found as the frame was read)
                kind, seq = exc.kind, exc.seq
            return reply(kind, seq, exc.code, exc.msg)
        except ParameterInvalid as exc:  # a rule of the service the REST API shares
            return reply(kind, seq, TerminalCode.FIELD_INVALID, exc.msg)
        except Unavailable:  # Redis or the database is away: worth retrying
            return reply(kind, seq, TerminalCode.BUSY, None)
        except Exception:  # a bug must not drop the terminal; its trace goes to the log
            log.exception("terminal request failed", extra={"type": kind[:40]})
            return reply(kind, seq, TerminalCode.INTERNAL, None)
        return reply(kind, seq, TerminalCode.OK, None, result)

    async def _logout(self, session: Session, data: dict[str, Any]) -> Reply:
        self._terminals.end(session)
        session.link.close(1000, "logout")
        return {}

    async def _heartbeat(self, session: Session, data: dict[str, Any]) -> Reply:
        return {"server_time": self._clock()}

    async def _list_online(self, session: Session, data: dict[str, Any]) -> Reply:
        req: ListOnlineReq = parse_request(ListOnlineReq, data)
        found, read = await self._presence.scope(session.app_id, session.company_id)
        users = sorted(found, key=lambda t: (t.user_id, t.mutex_type))
        start = (req.page - 1) * req.page_size
        # Each page reads and sorts every terminal of the company (in a cluster, reads
        # the app's: Redis keeps them by app): a message more for each
        # TERMINALS_PER_MESSAGE of them, so that one terminal of a large company cannot
        # spend the node's loop a hundred listings a second.
        session.charge(self._ticks(), self._message_rate, read // TERMINALS_PER_MESSAGE)
        return {
            "total": len(users),
            "page": req.page,
            "page_size": req.page_size,
            "users": [s.describe() for s in users[start : start + req.page_size]],
        }

    async def _set_state(self, session: Session, data: dict[str, Any]) -> Reply:
        req: SetStateReq = parse_request(SetStateReq, data)
        session.custom_state = req.custom_state
        await self._presence.set_state(session)
        told = self._scope.notify(session, state=1)
        # Told each terminal of its company (in a cluster, each node its own: charged
        # by the app, as a listing is): a message more a hundred.
        presence = self._presence
        if not presence.alone:
            told = await presence.count(session.app_id)
        session.charge(self._ticks(), self._message_rate, told // TERMINALS_PER_MESSAGE)
        return {}

    async def _check_signaling(self, session: Session) -> App:
        """The session's app, if its signaling may be spent (else why not)."""
        # Billing decides (from memory when it holds the app's use; else it reads it).
        app = self._apps.get(session.app_id) or await self._store.find_app(session.app_id)
        if app is None:
            raise TerminalError(TerminalCode.APP_NOT_FOUND)
        refusal = await self._quota.signaling_refusal(app)
        if refusal is not None:
            raise TerminalError(TerminalCode.CONSUMPTION_LIMIT, refusal)
        return app

    async def _invite_from_terminal(self, session: Session, data: dict[str, Any]) -> Reply:
        req: InviteReq = parse_request(InviteReq, data)
        app = await self._check_signaling(session)
        if req.extend_info is not None:
            check_body(req.extend_info, "extend_info", terminal=True)
        failed = await self._invites.send(
            app.dev_id,
            session.app_id,
            req.group_id,
            req.user_ids,
            req.seq_id,
            req.extend_info,
            session,
        )
        return {"seq_id": req.seq_id, "failed_user_ids": failed}

    async def _invite_reply(self, session: Session, data: dict[str, Any]) -> Reply:
        req: InviteReplyReq = parse_request(InviteReplyReq, data)
        await self._check_signaling(session)  # a reply is a billed reception too
        if req.extend_info is not None:
            check_body(req.extend_info, "extend_info", terminal=True)
        known, inviting = await self._presence.find_invite(
            session.app_id, req.group_id, req.seq_id, session.user_id, self._clock()
        )
        if not known:
            raise TerminalError(TerminalCode.FIELD_INVALID, "seq_id: no such invite")
        if inviting is None:  # the app's backend invited: it hears through its events
            fields = {"group_id": req.group_id, "seq_id": req.seq_id, "accept": req.accept}
            await self._terminals.events.invite_reply(
                session, {**fields, "extend_info": req.extend_info}
            )
            return {"delivered": True}
        [inviter] = await self._presence.find(session.app_id, [inviting])
        if inviter is None or inviter.company_id != session.company_id:
            raise TerminalError(TerminalCode.NOT_ONLINE, "the inviting terminal is not online")
        text = dumps(
            {
                "type": "invite_reply",
                "group_id": req.group_id,
                "seq_id": req.seq_id,
                "accept": req.accept,
                "extend_info": req.extend_info,
                **session.describe(),
            }
        )
        [delivered] = await self._reach.deliver(session.app_id, [inviter], text)
        return {"delivered": delivered}

    async def _message(self, session: Session, data: dict[str, Any]) -> Reply:
        req: MessageReq = parse_request(MessageReq, data)
        await self._check_signaling(session)
        check_body(req.body, "body", terminal=True)
        text = dumps(
            {
                "type": "message",
                "from_user_id": session.user_id,
                "from_mutex_type": session.mutex_type,
                "from_client_guid": session.client_guid,
                "body": req.body,
            }
        )
        targets = [
            t
            for t in await self._presence.of_user(session.app_id, req.to_user_id)
            if t.conn != session.conn and t.company_id == session.company_id
        ]
        delivered = sum(await self._reach.deliver(session.app_id, targets, text))
        if not delivered:
            raise TerminalError(
                TerminalCode.NOT_ONLINE, "to_user_id: no terminal of the user online"
            )
        return {"delivered": delivered}


# The handler of each request type (a test puts a broken one in to see it contained).
HANDLERS: dict[str, Callable[[TerminalRequests, Session, dict[str, Any]], Awaitable[Reply]]] = {
    p.HEARTBEAT: TerminalRequests._heartbeat,
    p.LIST_ONLINE: TerminalRequests._list_online,
    p.SET_STATE: TerminalRequests._set_state,
    p.INVITE: TerminalRequests._invite_from_terminal,
    p.INVITE_REPLY: TerminalRequests._invite_reply,
    p.MESSAGE: TerminalRequests._message,
    p.LOGOUT: TerminalRequests._logout,
    p.JOIN_GROUP: lambda r, s, d: r.groups.join(s, d),
    p.LEAVE_GROUP: lambda r, s, d: r.groups.leave(s, d),
    p.START_MEDIA: lambda r, s, d: r.groups.start_media(s, d),
    p.STOP_MEDIA: lambda r, s, d: r.groups.stop_media(s, d),
}
