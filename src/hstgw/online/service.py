"""The online service: logins, presence, and everything delivered to terminals.

All of it runs on the event loop without awaiting a terminal: a delivery is a
non-blocking ``Link.push``. Only a login reads the store (the app, from the cache).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from hstgw.billing.service import Limits
from hstgw.errors import ParameterInvalid, TerminalCode
from hstgw.online import protocol as p
from hstgw.online.models import (
    InviteReplyReq,
    InviteReq,
    ListOnlineReq,
    LoginReq,
    MessageReq,
    SetStateReq,
)
from hstgw.online.registry import Registry
from hstgw.online.session import Link, Session, TerminalKey
from hstgw.online.usage import UsageCounters
from hstgw.services import ServiceId
from hstgw.store import App, Store
from hstgw.tokens.fsp import TokenError, verify
from hstgw.validation import is_user_id, to_gateway_error

__all__ = ["OnlineConfig", "OnlineService"]

log = logging.getLogger("hstgw.online")

Reply = dict[str, Any]
_INVITE_TTL_MS = 10 * 60 * 1000
_INVITES_MAX = 100_000


@dataclass(frozen=True, slots=True)
class OnlineConfig:
    heartbeat_interval: float = 30.0
    retention_s: int = 86400
    message_rate: float = 100.0
    token_max_age_s: int = 86400
    token_future_skew_s: int = 300


def dumps(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


def body_size(value: Any) -> int:
    return len(orjson.dumps(value))


class TerminalError(Exception):
    def __init__(self, code: TerminalCode, msg: str | None = None) -> None:
        self.code = code
        self.msg = msg or code.default_msg
        super().__init__(self.msg)


def _parse(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data, strict=True)
    except ValidationError as exc:
        raise TerminalError(TerminalCode.FIELD_INVALID, to_gateway_error(exc).msg) from None


class OnlineService:
    def __init__(
        self,
        store: Store,
        usage: UsageCounters,
        limits: Limits,
        config: OnlineConfig,
        clock: Callable[[], int],
    ) -> None:
        self._store = store
        self.usage = usage
        self.limits = limits
        # The apps of online terminals, as last seen (limits are checked against them).
        self._apps: dict[str, App] = {}
        self.config = config
        self._clock = clock
        self.registry = Registry()
        # (app_id, group_id, seq_id) -> (inviting terminal, or None for the backend; when)
        self._invites: dict[tuple[str, str, int], tuple[TerminalKey | None, int]] = {}
        self._handlers: dict[str, Callable[[Session, dict[str, Any]], Reply]] = {
            p.HEARTBEAT: self._heartbeat,
            p.LIST_ONLINE: self._list_online,
            p.SET_STATE: self._set_state,
            p.INVITE: self._invite_from_terminal,
            p.INVITE_REPLY: self._invite_reply,
            p.MESSAGE: self._message,
            p.LOGOUT: self._logout,
        }

    # login and logout

    async def login(self, link: Link, raw: str | bytes) -> tuple[str, Session | None]:
        """The login reply to send, and the session if the login succeeded."""
        seq = None
        try:
            data = _frame(raw)
            seq = data.get("seq")
            if data.get("type") != p.LOGIN:
                raise TerminalError(TerminalCode.NOT_LOGGED_IN)
            req: LoginReq = _parse(LoginReq, data)
            session = await self._login(link, req)
        except TerminalError as exc:
            return _reply(p.LOGIN, seq, exc.code, exc.msg), None
        extra = {
            "heartbeat_interval": self.config.heartbeat_interval,
            "protocol": p.PROTOCOL_VERSION,
        }
        return _reply(p.LOGIN, seq, TerminalCode.OK, None, extra), session

    async def _login(self, link: Link, req: LoginReq) -> Session:
        if not is_user_id(req.user_id):
            raise TerminalError(TerminalCode.USER_ID_INVALID)
        app = await self._store.find_app(req.app_id)
        if app is None:
            raise TerminalError(TerminalCode.APP_NOT_FOUND)
        try:
            claims = verify(
                req.token,
                app.app_secret,
                aid=app.app_id,
                now_ms=self._clock(),
                max_age_s=self.config.token_max_age_s,
                future_skew_s=self.config.token_future_skew_s,
            )
            if claims.user_id != req.user_id:
                raise TokenError("claim uid is not the user_id")
        except TokenError as exc:
            log.info("terminal token refused", extra={"reason": exc.reason, "app_id": app.app_id})
            raise TerminalError(TerminalCode.TOKEN_INVALID) from None
        if app.status != "online":
            raise TerminalError(TerminalCode.APP_OFFLINE)
        online = next((s for s in app.services if s.service_id == ServiceId.ONLINE), None)
        if online is None:
            raise TerminalError(TerminalCode.NO_ONLINE_SERVICE)
        key = (req.app_id, req.user_id, req.mutex_type)
        older = self.registry.get(key)
        if older is not None and not req.force_login:
            raise TerminalError(TerminalCode.ALREADY_ONLINE)
        # The online service's use_limit is its concurrent terminals (design 6); a
        # forced login takes a place rather than adding one.
        if (
            online.use_limit is not None
            and older is None
            and self.registry.app_count(app.app_id) >= online.use_limit
        ):
            raise TerminalError(
                TerminalCode.CONSUMPTION_LIMIT,
                f"use_limit of the online service: {online.use_limit} concurrent terminals",
            )
        refusal = await self.limits.login_refusal(app)
        if refusal is not None:
            raise TerminalError(TerminalCode.CONSUMPTION_LIMIT, refusal)
        if older is not None:
            self.kick(older, "force_login")
        self._apps[app.app_id] = app
        session = Session(
            link,
            req.app_id,
            req.user_id,
            req.mutex_type,
            req.client_guid,
            req.company_id,
            req.custom_state,
            req.extend_info,
            time.monotonic(),
        )
        session.fill(self.config.message_rate)
        self.registry.add(session)
        self.usage.terminals(app.app_id, self.registry.app_count(app.app_id))
        self._notify_scope(session, state=1)
        return session

    def disconnected(self, session: Session) -> None:
        """The link closed: the terminal is offline (if it was not kicked already)."""
        self._end(session)

    def kick(self, session: Session, reason: str) -> None:
        """Tell the terminal why, take it offline, close its link."""
        session.link.push(
            dumps({"type": "kicked", "reason": reason, "msg": p.KICK_REASONS[reason]})
        )
        self._end(session)
        session.link.close(p.CLOSE_KICKED, reason)

    def _end(self, session: Session) -> None:
        if session.ended:
            return
        session.ended = True
        if self.registry.remove(session, self._clock()):
            self._notify_scope(session, state=0)

    def _notify_scope(self, session: Session, state: int) -> None:
        text = dumps({"type": "online_state", "state": state, **session.describe()})
        for other in self.registry.in_scope(session.app_id, session.company_id):
            if other is not session:
                other.link.push(text)

    # terminal requests after login

    def handle(self, session: Session, raw: str | bytes) -> str:
        """The reply to one frame of a logged-in terminal."""
        session.last_seen = now = time.monotonic()
        kind, seq = "error", None
        try:
            data = _frame(raw)
            kind, seq = data["type"], data.get("seq")
            if not session.allow(now, self.config.message_rate):
                raise TerminalError(TerminalCode.RATE_LIMITED)
            handler = self._handlers.get(kind)
            if handler is None:
                raise TerminalError(TerminalCode.UNKNOWN_TYPE, f"type: unknown {kind!r}"[:200])
            result = handler(session, data)
        except TerminalError as exc:
            return _reply(kind, seq, exc.code, exc.msg)
        return _reply(kind, seq, TerminalCode.OK, None, result)

    def _logout(self, session: Session, data: dict[str, Any]) -> Reply:
        self._end(session)
        session.link.close(1000, "logout")
        return {}

    def _heartbeat(self, session: Session, data: dict[str, Any]) -> Reply:
        return {"server_time": self._clock()}

    def _list_online(self, session: Session, data: dict[str, Any]) -> Reply:
        req: ListOnlineReq = _parse(ListOnlineReq, data)
        users = sorted(
            self.registry.in_scope(session.app_id, session.company_id),
            key=lambda s: (s.user_id, s.mutex_type),
        )
        start = (req.page - 1) * req.page_size
        return {
            "total": len(users),
            "page": req.page,
            "page_size": req.page_size,
            "users": [s.describe() for s in users[start : start + req.page_size]],
        }

    def _set_state(self, session: Session, data: dict[str, Any]) -> Reply:
        req: SetStateReq = _parse(SetStateReq, data)
        session.custom_state = req.custom_state
        self._notify_scope(session, state=1)
        return {}

    def _check_signaling(self, session: Session) -> None:
        app = self._apps.get(session.app_id)
        refusal = self.limits.cached_signaling_refusal(app) if app is not None else None
        if refusal is not None:
            raise TerminalError(TerminalCode.CONSUMPTION_LIMIT, refusal)

    def _invite_from_terminal(self, session: Session, data: dict[str, Any]) -> Reply:
        req: InviteReq = _parse(InviteReq, data)
        self._check_signaling(session)
        if req.extend_info is not None and body_size(req.extend_info) > p.BODY_LIMIT:
            raise TerminalError(TerminalCode.TOO_LARGE, "extend_info: larger than 8192 bytes")
        failed = self.invite(
            session.app_id, req.group_id, req.user_ids, req.seq_id, req.extend_info, session
        )
        return {"seq_id": req.seq_id, "failed_user_ids": failed}

    def _invite_reply(self, session: Session, data: dict[str, Any]) -> Reply:
        req: InviteReplyReq = _parse(InviteReplyReq, data)
        if req.extend_info is not None and body_size(req.extend_info) > p.BODY_LIMIT:
            raise TerminalError(TerminalCode.TOO_LARGE, "extend_info: larger than 8192 bytes")
        invite = self._invites.get((session.app_id, req.group_id, req.seq_id))
        if invite is None:
            raise TerminalError(TerminalCode.FIELD_INVALID, "seq_id: no such invite")
        inviter_key, _ = invite
        if inviter_key is None:  # the app's backend invited: nobody to tell
            return {"delivered": False}
        inviter = self.registry.get(inviter_key)
        if inviter is None:
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
        delivered = inviter.link.push(text)
        if delivered:
            self.usage.received(session.app_id)
        return {"delivered": delivered}

    def _message(self, session: Session, data: dict[str, Any]) -> Reply:
        req: MessageReq = _parse(MessageReq, data)
        self._check_signaling(session)
        if body_size(req.body) > p.BODY_LIMIT:
            raise TerminalError(TerminalCode.TOO_LARGE, "body: larger than 8192 bytes")
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
            s for s in self.registry.of_user(session.app_id, req.to_user_id) if s is not session
        ]
        delivered = self._push_all(session.app_id, targets, text)
        if not delivered:
            raise TerminalError(
                TerminalCode.NOT_ONLINE, "to_user_id: no terminal of the user online"
            )
        return {"delivered": delivered}

    # what the REST API asks for (the app is known to belong to the caller)

    def kickout(self, app_id: str, user_id: str, mutex_type: str | None) -> int:
        sessions = [
            s
            for s in self.registry.of_user(app_id, user_id)
            if mutex_type is None or s.mutex_type == mutex_type
        ]
        for s in sessions:
            self.kick(s, "kickout")
        return len(sessions)

    def user_state(
        self, app_id: str, company_id: str | None, user_ids: set[str] | None
    ) -> list[dict[str, Any]]:
        def wanted(user_id: str, company: str) -> bool:
            return (company_id is None or company == company_id) and (
                user_ids is None or user_id in user_ids
            )

        rows = [
            (s.user_id, s.mutex_type, 1, s.client_guid)
            for s in self.registry.of_app(app_id)
            if wanted(s.user_id, s.company_id)
        ]
        rows += [
            (o.user_id, o.mutex_type, 0, o.client_guid)
            for o in self.registry.offline_of_app(app_id)
            if wanted(o.user_id, o.company_id)
        ]
        rows.sort()
        return [
            {"state": state, "user_id": u, "terminal_seq_num": guid, "mutex_type": m}
            for u, m, state, guid in rows
        ]

    def trans_cmd(
        self,
        app_id: str,
        msg_id: int,
        trans_mess: dict[str, Any],
        targets: Iterable[tuple[str, str, str]],
    ) -> list[dict[str, Any]]:
        if body_size(trans_mess) > p.BODY_LIMIT:
            raise ParameterInvalid("trans_mess", f"larger than {p.BODY_LIMIT} bytes")
        text = dumps({"type": "trans_cmd", "msg_id": msg_id, "trans_mess": trans_mess})
        results = []
        delivered = 0
        get = self.registry.get
        for user_id, mutex_type, guid in targets:
            s = get((app_id, user_id, mutex_type))
            if s is None or (guid and s.client_guid != guid):
                result, seq_num = 2, guid
            elif s.link.push(text):
                result, seq_num = 0, s.client_guid
                delivered += 1
            else:
                result, seq_num = 1, s.client_guid
            results.append(
                {
                    "result": result,
                    "user_id": user_id,
                    "terminal_seq_num": seq_num,
                    "mutex_type": mutex_type,
                }
            )
        if delivered:
            self.usage.received(app_id, delivered)
        return results

    def invite(
        self,
        app_id: str,
        group_id: str,
        user_ids: Iterable[str],
        seq_id: int,
        extend_info: dict[str, Any] | None,
        inviter: Session | None = None,
    ) -> list[str]:
        """Deliver an invite to every online terminal of each user; the users none reached."""
        if extend_info is not None and body_size(extend_info) > p.BODY_LIMIT:
            raise ParameterInvalid("extend_info", f"larger than {p.BODY_LIMIT} bytes")
        who = inviter.describe() if inviter is not None else {"backend": True}
        text = dumps(
            {
                "type": "invite",
                "group_id": group_id,
                "seq_id": seq_id,
                "extend_info": extend_info,
                "inviter": who,
            }
        )
        self._remember_invite(app_id, group_id, seq_id, inviter)
        failed = []
        for user_id in dict.fromkeys(user_ids):
            targets = [s for s in self.registry.of_user(app_id, user_id) if s is not inviter]
            if not self._push_all(app_id, targets, text):
                failed.append(user_id)
        return failed

    def _remember_invite(
        self, app_id: str, group_id: str, seq_id: int, inviter: Session | None
    ) -> None:
        if len(self._invites) >= _INVITES_MAX:
            self._invites.pop(next(iter(self._invites)))
        self._invites[(app_id, group_id, seq_id)] = (
            inviter.key if inviter is not None else None,
            self._clock(),
        )

    def _push_all(self, app_id: str, sessions: Iterable[Session], text: str) -> int:
        delivered = sum(1 for s in sessions if s.link.push(text))
        if delivered:
            self.usage.received(app_id, delivered)
        return delivered

    # apps changing under their terminals

    def app_changed(self, app: App | None, app_id: str) -> None:
        """Disconnect terminals that may no longer be online: app deleted (``app`` None),
        set offline, or without its online service."""
        if app is None:
            self._apps.pop(app_id, None)
            reason = "app_deleted"
        elif app.status != "online":
            reason = "app_offline"
        elif all(s.service_id != ServiceId.ONLINE for s in app.services):
            reason = "service_removed"
        else:
            if app_id in self._apps:
                self._apps[app_id] = app  # its limits may have changed
            return
        self._apps.pop(app_id, None)
        for s in self.registry.of_app(app_id):
            self.kick(s, reason)

    # housekeeping

    def sweep(self) -> None:
        """Drop silent terminals, forget what is past retention, note the peaks."""
        deadline = time.monotonic() - 3 * self.config.heartbeat_interval
        now = self._clock()
        apps: set[str] = set()
        for s in self.registry.all():
            apps.add(s.app_id)
            if s.last_seen < deadline:
                self.kick(s, "heartbeat_timeout")
        for app_id in apps:
            self.usage.terminals(app_id, self.registry.app_count(app_id))
        self.registry.prune_offline(now - self.config.retention_s * 1000)
        old = [k for k, (_, at) in self._invites.items() if at < now - _INVITE_TTL_MS]
        for k in old:
            del self._invites[k]

    def shutdown(self) -> None:
        for s in self.registry.all():
            self.kick(s, "shutdown")


def _frame(raw: str | bytes) -> dict[str, Any]:
    if isinstance(raw, bytes):
        raise TerminalError(TerminalCode.MALFORMED, "frames are JSON text, not binary")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise TerminalError(TerminalCode.MALFORMED, "frame: malformed JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise TerminalError(TerminalCode.MALFORMED)
    seq = data.get("seq")
    if seq is not None and (type(seq) is not int):
        raise TerminalError(TerminalCode.FIELD_INVALID, "seq: must be an integer")
    return data


def _reply(
    kind: str, seq: Any, code: TerminalCode, msg: str | None, extra: Reply | None = None
) -> str:
    message: dict[str, Any] = {
        "type": f"{kind}_result",
        "code": int(code),
        "msg": msg or code.default_msg,
    }
    if seq is not None and type(seq) is int:
        message["seq"] = seq
    if extra:
        message.update(extra)
    return dumps(message)
