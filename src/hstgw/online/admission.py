"""Admission: a terminal's login, from its first frame to its place in presence.

The rules, in order: the user_id and a credential (a token, or a resume credential
of the same app, user, company and kind of terminal); the token's replay protection;
the abuse limits (failed logins per address, logins per app); the app's state, its
developer's and its online service; the spending limits; the place (app, user_id,
mutex_type) and the app's use_limit, claimed in presence.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable

from hstgw.abuse import Guard
from hstgw.billing.quota import Quota
from hstgw.errors import TerminalCode
from hstgw.online import protocol as p
from hstgw.online.config import OnlineConfig
from hstgw.online.frames import TerminalError, parse_frame, parse_request, reply
from hstgw.online.models import LoginReq
from hstgw.online.presence import KICKS_KEPT_MS, Presence, Retained, resume_owner
from hstgw.online.routing import Reach
from hstgw.online.session import Link, Session
from hstgw.online.tenants import DEVELOPER_DISABLED, DeveloperStatus
from hstgw.online.terminals import LocalTerminals
from hstgw.services import ServiceId
from hstgw.store import App, Store, Unavailable
from hstgw.tokens.fsp import TokenError, verify
from hstgw.validation import is_user_id

__all__ = ["Admission"]

log = logging.getLogger("hstgw.online")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Admission:
    def __init__(
        self,
        store: Store,
        presence: Presence,
        terminals: LocalTerminals,
        reach: Reach,
        developers: DeveloperStatus,
        quota: Quota,
        config: OnlineConfig,
        clock: Callable[[], int],
        guard: Guard | None = None,
        ticks: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._presence = presence
        self._terminals = terminals
        self._reach = reach
        self._developers = developers
        self._quota = quota
        self._config = config
        self._clock = clock
        self._ticks = ticks
        self._guard = guard

    async def login(
        self, link: Link, raw: str | bytes, address: str = ""
    ) -> tuple[str, Session | None]:
        """The login reply to send, and the session if the login succeeded.

        ``address``: the terminal's source address (its failed logins are limited)."""
        seq = None
        try:
            data = parse_frame(raw)
            seq = data.get("seq")
            if data.get("type") != p.LOGIN:
                raise TerminalError(TerminalCode.NOT_LOGGED_IN)
            req: LoginReq = parse_request(LoginReq, data)
            session, resume = await self._login(link, req, address)
        except TerminalError as exc:
            return reply(p.LOGIN, exc.seq if exc.kind else seq, exc.code, exc.msg), None
        except Unavailable:  # Redis or the database is away: the terminal retries
            return reply(p.LOGIN, seq, TerminalCode.BUSY, None), None
        extra = {
            "heartbeat_interval": self._config.heartbeat_interval,
            "protocol": p.PROTOCOL_VERSION,
            "resume": resume,
            "resume_ttl": self._config.resume_ttl_s,
        }
        return reply(p.LOGIN, seq, TerminalCode.OK, None, extra), session

    async def _failed(self, address: str, code: TerminalCode) -> TerminalError:
        """A login refused for its credential or app_id: counted against its address."""
        refusal = await self._guard.login_failed(address) if self._guard is not None else None
        if refusal is not None:
            return TerminalError(TerminalCode.TOO_MANY_LOGINS, refusal)
        return TerminalError(code)

    async def _login(self, link: Link, req: LoginReq, address: str) -> tuple[Session, str]:
        """The new session and its resume credential."""
        if not is_user_id(req.user_id):
            raise TerminalError(TerminalCode.USER_ID_INVALID)
        if not req.token and not req.resume:
            raise TerminalError(TerminalCode.FIELD_INVALID, "token: required")
        app = await self._store.find_app(req.app_id)
        if app is None:
            raise await self._failed(address, TerminalCode.APP_NOT_FOUND)
        # A resume credential answers for the same user in the same company on the same
        # kind of terminal only: its owner is the four joined. (Across mutex_types, one
        # token login's credential would let a terminal make a place, and an offline
        # entry, of every kind it names, none of which a token login accounts for.)
        owner = resume_owner(app.app_id, req.user_id, req.company_id, req.mutex_type)
        used: str | None = None  # the token's replay key, once noted as used
        kicked: str | None = None  # by resume: the mark of the user's bucket at its check
        now = self._clock()
        presence = self._presence
        if req.resume:
            kicked = await presence.resume_of(_digest(req.resume), owner, now)
            if kicked is None:
                log.info("terminal resume refused", extra={"app_id": app.app_id})
                raise await self._failed(address, TerminalCode.TOKEN_INVALID)
        else:
            used = await self._check_token(req, app, address, now)
        # Only now, its credential good, does the login take from the app's budget
        # (anyone may send logins naming an app_id; they must not lock its users out).
        if self._guard is not None:
            refusal = await self._guard.login(app.app_id, address)
            if refusal is not None:
                if used is not None:
                    await presence.forget_use(used)
                raise TerminalError(TerminalCode.TOO_MANY_LOGINS, refusal)
        # The resume credential is kept before the terminal takes its place: once it
        # has, nothing may await before its login reply, which must be its first frame.
        resume = secrets.token_hex(16)
        digest = _digest(resume)
        await presence.keep_resume(digest, owner, now + self._config.resume_ttl_s * 1000, now)
        try:
            session = await self._admit(link, req, app, kicked, now)
        except BaseException:
            # The login did not happen: the token may be used again, the credential not.
            if used is not None:
                await presence.forget_use(used)
            await presence.forget_resume(digest, owner)
            raise
        if not req.resume:  # (a login by resume adds nothing its token login did not)
            # Only a login that took its place counts: a refused one (its token usable
            # again) must not push the developer's other users out. Not awaited: the
            # login's reply is its first frame.
            pending = presence.retain(app.dev_id, Retained(used or "", owner, req.mutex_type))
            if pending is not None:
                self._terminals.spawn(pending)
        return session, resume

    async def _check_token(self, req: LoginReq, app: App, address: str, now: int) -> str | None:
        """Verify the login's token; its replay key, once noted as used (if protected)."""
        config = self._config
        try:
            claims = verify(
                req.token,
                app.app_secret,
                aid=app.app_id,
                now_ms=now,
                max_age_s=config.token_max_age_s,
                future_skew_s=config.token_future_skew_s,
            )
            if claims.user_id != req.user_id:
                raise TokenError("claim uid is not the user_id")
            if claims.cid is not None and claims.cid != req.company_id:
                raise TokenError("claim cid is not the company_id")
        except TokenError as exc:
            log.info("terminal token refused", extra={"reason": exc.reason, "app_id": app.app_id})
            raise await self._failed(address, TerminalCode.TOKEN_INVALID) from None
        if not config.replay_protection:
            return None
        until = claims.valid_until_ms(config.token_max_age_s)
        used = _digest(f"{claims.aid}|{claims.uid}|{claims.gid}|{claims.ts}|{claims.r}|{claims.et}")
        if not await self._presence.first_use(used, until, now):
            log.info("terminal token replayed", extra={"app_id": app.app_id})
            raise await self._failed(address, TerminalCode.TOKEN_INVALID)
        return used

    async def _admit(
        self, link: Link, req: LoginReq, app: App, kicked: str | None, checked: int
    ) -> Session:
        """Past the credentials: the app's state, the limits, the terminal's place.

        ``kicked``: for a login by resume, the mark of its user's kickout bucket at the
        credential's check (at ``checked``, ms). A kickout forgets the user's credentials,
        then lists its terminals: if one ran since the check, the place is refused (else
        the kickout lists it)."""
        if app.status != "online":
            raise TerminalError(TerminalCode.APP_OFFLINE)
        if not await self._developers.active(app.dev_id, self._ticks()):
            raise TerminalError(TerminalCode.APP_OFFLINE, DEVELOPER_DISABLED)
        online = next((s for s in app.services if s.service_id == ServiceId.ONLINE), None)
        if online is None:
            raise TerminalError(TerminalCode.NO_ONLINE_SERVICE)
        refusal = await self._quota.login_refusal(app)
        if refusal is not None:
            raise TerminalError(TerminalCode.CONSUMPTION_LIMIT, refusal)
        session = Session(
            link,
            req.app_id,
            req.user_id,
            req.mutex_type,
            req.client_guid,
            req.company_id,
            req.custom_state,
            req.extend_info,
            self._ticks(),
            secrets.token_hex(8),
            self._clock(),
        )
        session.fill(self._config.message_rate)
        # Presence decides whether logins of one terminal take turns: none needed
        # when its claim never awaits (one process), a lock per terminal when it does
        # (Redis), so that a forced login never overtakes the one it replaces.
        async with self._presence.login_turn(session.key):
            if kicked is not None and self._clock() - checked > KICKS_KEPT_MS // 2:
                # (a mark is kept that long: past it, a kickout's could be gone unseen)
                raise TerminalError(TerminalCode.BUSY)
            count = await self._claim(session, req, online.use_limit, kicked)
            return self._terminals.register(session, app, count)

    async def _claim(
        self, session: Session, req: LoginReq, use_limit: int | None, kicked: str | None
    ) -> int:
        # The app's own use_limit, or the gateway's cap on terminals per app if lower.
        cap = self._guard.rules.terminals_per_app if self._guard is not None else 0
        limit = use_limit
        if cap and (limit is None or cap < limit):
            limit = cap
        presence = self._presence
        claim = await presence.claim(session, req.force_login, limit, kicked)
        if claim.refused is TerminalCode.TOKEN_INVALID and kicked is not None:
            # The bucket's mark moved. A kickout of this user forgot the credential it
            # presents; if the credential is still there, the kickout was of another user
            # of the bucket: the place is claimed again, held to the mark read with it.
            owner = resume_owner(
                session.app_id, session.user_id, session.company_id, session.mutex_type
            )
            again = await presence.resume_of(_digest(req.resume), owner, self._clock())
            if again is not None:
                claim = await presence.claim(session, req.force_login, limit, again)
                if claim.refused is TerminalCode.TOKEN_INVALID:  # (moved again: try later)
                    raise TerminalError(TerminalCode.BUSY)
        if claim.refused is TerminalCode.CONSUMPTION_LIMIT:
            if limit != use_limit:
                raise TerminalError(
                    TerminalCode.TERMINALS_LIMIT, f"at most {cap} terminals per app online"
                )
            raise TerminalError(
                claim.refused,
                f"use_limit of the online service: {use_limit} concurrent terminals",
            )
        if claim.refused is not None:
            raise TerminalError(claim.refused)
        if claim.older is not None:
            self._reach.kick(session.app_id, claim.older, "force_login")
        return claim.count
