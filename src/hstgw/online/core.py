"""The online service's core: logins, presence, kicks, app changes, housekeeping.

Everything runs on the event loop without awaiting a terminal: a delivery is a
non-blocking ``Link.push``. Only a login reads the store (the app, from the cache).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from hstgw.billing.service import Limits
from hstgw.errors import ParameterInvalid, TerminalCode
from hstgw.online import protocol as p
from hstgw.online.frames import TerminalError, body_size, dumps, parse_frame, parse_request, reply
from hstgw.online.models import (
    LoginReq,
)
from hstgw.online.registry import Registry
from hstgw.online.session import Link, Session, TerminalKey
from hstgw.online.usage import UsageCounters
from hstgw.services import ServiceId
from hstgw.store import App, Store
from hstgw.tokens.fsp import TokenError, verify
from hstgw.validation import is_user_id

__all__ = ["OnlineConfig", "OnlineCore"]

log = logging.getLogger("hstgw.online")

_INVITE_TTL_MS = 10 * 60 * 1000
_INVITES_MAX = 100_000


@dataclass(frozen=True, slots=True)
class OnlineConfig:
    heartbeat_interval: float = 30.0
    retention_s: int = 86400
    message_rate: float = 100.0
    token_max_age_s: int = 86400
    token_future_skew_s: int = 300


class OnlineCore:
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

    # login and logout

    async def login(self, link: Link, raw: str | bytes) -> tuple[str, Session | None]:
        """The login reply to send, and the session if the login succeeded."""
        seq = None
        try:
            data = parse_frame(raw)
            seq = data.get("seq")
            if data.get("type") != p.LOGIN:
                raise TerminalError(TerminalCode.NOT_LOGGED_IN)
            req: LoginReq = parse_request(LoginReq, data)
            session = await self._login(link, req)
        except TerminalError as exc:
            return reply(p.LOGIN, seq, exc.code, exc.msg), None
        extra = {
            "heartbeat_interval": self.config.heartbeat_interval,
            "protocol": p.PROTOCOL_VERSION,
        }
        return reply(p.LOGIN, seq, TerminalCode.OK, None, extra), session

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
        refusal = await self.limits.login_refusal(app)
        if refusal is not None:
            raise TerminalError(TerminalCode.CONSUMPTION_LIMIT, refusal)
        # No await from here on: the check of the same user and mutex_type and the
        # registration happen in one step, so two logins cannot both pass it.
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
