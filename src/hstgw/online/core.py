"""The online service's core: logins, presence, kicks, app changes, housekeeping.

Presence (who is online where) is a ``Presence``: this process's registry, or
Redis shared by the nodes of a cluster. This node's own sessions are in
``registry``, and a delivery to one of them is a non-blocking ``Link.push``; a
terminal on another node is reached through the ``Bus`` (cluster mode only).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hstgw.abuse import Guard
from hstgw.billing.service import Quota
from hstgw.errors import ParameterInvalid, TerminalCode
from hstgw.online import protocol as p
from hstgw.online.frames import (
    TerminalError,
    check_body,
    dumps,
    parse_frame,
    parse_request,
    reply,
)
from hstgw.online.models import LoginReq
from hstgw.online.presence import FIELD_SEPARATOR, LocalPresence, Presence, Terminal
from hstgw.online.registry import Registry
from hstgw.online.session import Link, Session
from hstgw.online.usage import UsageCounters
from hstgw.services import ServiceId
from hstgw.store import App, Store, Unavailable
from hstgw.tasks import Background
from hstgw.tokens.fsp import TokenError, verify
from hstgw.validation import is_user_id

if TYPE_CHECKING:  # the cluster needs redis; the embedded default does not import it
    from hstgw.cluster.bus import Bus

__all__ = ["OnlineConfig", "OnlineCore"]

log = logging.getLogger("hstgw.online")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


DEVELOPER_DISABLED = "the app's developer is disabled"

# How long a kick that arrived before its session was registered is remembered.
_EARLY_KICK_S = 30.0


@dataclass(frozen=True, slots=True)
class OnlineConfig:
    heartbeat_interval: float = 30.0
    retention_s: int = 86400
    message_rate: float = 100.0
    token_max_age_s: int = 86400
    token_future_skew_s: int = 300
    route_timeout_s: float = 2.0
    replay_protection: bool = True
    resume_ttl_s: int = 86400
    # How long a developer's status is trusted (HSTGW_AUTH_CACHE_TTL): a developer the
    # operator disabled has its logins refused, and its terminals kicked, within it.
    dev_status_ttl_s: float = 1.0


class OnlineCore:
    def __init__(
        self,
        store: Store,
        usage: UsageCounters,
        limits: Quota,
        config: OnlineConfig,
        clock: Callable[[], int],
        presence: Presence | None = None,
        bus: Bus | None = None,
        guard: Guard | None = None,
    ) -> None:
        self._store = store
        self._guard = guard
        self.usage = usage
        self.quota = limits
        # The apps of online terminals, as last seen (limits are checked against them).
        self._apps: dict[str, App] = {}
        self.config = config
        self._clock = clock
        self.registry = Registry()  # this node's sessions
        self.presence = presence or LocalPresence(self.registry)
        self.node = self.presence.node
        self.bus = bus
        self._login_locks: dict[tuple[str, str, str], asyncio.Lock] = {}
        self._devs: dict[str, tuple[bool, float]] = {}  # dev_id -> (active, checked at)
        # (at least a second: not a store round trip per terminal message)
        self._dev_ttl = max(config.dev_status_ttl_s, 1.0)
        self._early_kicks: dict[str, tuple[str, float]] = {}
        self._tasks = Background(lambda exc: log.warning("presence update failed: %s", exc))
        if bus is not None:
            bus.on("push", self._on_push)
            bus.on("kick", self._on_kick)
            bus.on("scope", self._on_scope)

    # login and logout

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
            "heartbeat_interval": self.config.heartbeat_interval,
            "protocol": p.PROTOCOL_VERSION,
            "resume": resume,
            "resume_ttl": self.config.resume_ttl_s,
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
        # A resume credential answers for the same user in the same company only.
        who = FIELD_SEPARATOR.join((app.app_id, req.user_id, req.company_id))
        used: str | None = None  # the token's replay key, once noted as used
        now = self._clock()
        if req.resume:
            if await self.presence.resume_of(_digest(req.resume), now) != who:
                log.info("terminal resume refused", extra={"app_id": app.app_id})
                raise await self._failed(address, TerminalCode.TOKEN_INVALID)
        else:
            try:
                claims = verify(
                    req.token,
                    app.app_secret,
                    aid=app.app_id,
                    now_ms=now,
                    max_age_s=self.config.token_max_age_s,
                    future_skew_s=self.config.token_future_skew_s,
                )
                if claims.user_id != req.user_id:
                    raise TokenError("claim uid is not the user_id")
                if claims.cid is not None and claims.cid != req.company_id:
                    raise TokenError("claim cid is not the company_id")
            except TokenError as exc:
                log.info(
                    "terminal token refused", extra={"reason": exc.reason, "app_id": app.app_id}
                )
                raise await self._failed(address, TerminalCode.TOKEN_INVALID) from None
            if self.config.replay_protection:
                until = claims.valid_until_ms(self.config.token_max_age_s)
                used = _digest(
                    f"{claims.aid}|{claims.uid}|{claims.gid}|{claims.ts}|{claims.r}|{claims.et}"
                )
                if not await self.presence.first_use(used, until, now):
                    log.info("terminal token replayed", extra={"app_id": app.app_id})
                    raise await self._failed(address, TerminalCode.TOKEN_INVALID)
        # Only now, its credential good, does the login take from the app's budget
        # (anyone may send logins naming an app_id; they must not lock its users out).
        if self._guard is not None:
            refusal = await self._guard.login(app.app_id, address)
            if refusal is not None:
                if used is not None:
                    await self.presence.forget_use(used)
                raise TerminalError(TerminalCode.TOO_MANY_LOGINS, refusal)
        # The resume credential is kept before the terminal takes its place: once it
        # has, nothing may await before its login reply, which must be its first frame.
        resume = secrets.token_hex(16)
        digest = _digest(resume)
        await self.presence.keep_resume(digest, who, now + self.config.resume_ttl_s * 1000, now)
        try:
            session = await self._admit(link, req, app)
        except BaseException:
            # The login did not happen: the token may be used again, the credential not.
            if used is not None:
                await self.presence.forget_use(used)
            await self.presence.forget_resume(digest, who)
            raise
        return session, resume

    async def _admit(self, link: Link, req: LoginReq, app: App) -> Session:
        """Past the credentials: the app's state, the limits, the terminal's place."""
        if app.status != "online":
            raise TerminalError(TerminalCode.APP_OFFLINE)
        if not await self.developer_active(app.dev_id, time.monotonic()):
            raise TerminalError(TerminalCode.APP_OFFLINE, DEVELOPER_DISABLED)
        online = next((s for s in app.services if s.service_id == ServiceId.ONLINE), None)
        if online is None:
            raise TerminalError(TerminalCode.NO_ONLINE_SERVICE)
        refusal = await self.quota.login_refusal(app)
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
            time.monotonic(),
            secrets.token_hex(8),
        )
        session.fill(self.config.message_rate)
        if self.bus is None:
            # One step of the event loop (the local presence never awaits): two logins
            # of one terminal cannot both pass the check.
            return self._register(session, app, await self._claim(session, req, online.use_limit))
        # Across nodes Redis makes the claim atomic; on this node, logins of one
        # terminal take turns, so that a forced one never overtakes the one it replaces.
        lock = self._login_locks.setdefault(session.key, asyncio.Lock())
        try:
            async with lock:
                return self._register(
                    session, app, await self._claim(session, req, online.use_limit)
                )
        finally:
            if not lock.locked() and self._login_locks.get(session.key) is lock:
                del self._login_locks[session.key]

    async def developer_active(self, dev_id: str, now: float) -> bool:
        """Whether ``dev_id`` is active, as the store said at most ``dev_status_ttl_s``
        (and at least a second) ago."""
        held = self._devs.get(dev_id)
        if held is not None and now - held[1] < self._dev_ttl:
            return held[0]
        try:
            dev = await self._store.get_developer(dev_id)
        except Unavailable:
            if held is None:
                raise
            active = held[0]  # the store is away: what it said last, asked again later
        else:
            active = dev is not None and dev.status == "active"
        if len(self._devs) >= 100_000:
            self._devs.clear()
        self._devs[dev_id] = (active, now)
        return active

    async def _claim(self, session: Session, req: LoginReq, use_limit: int | None) -> int:
        # The app's own use_limit, or the gateway's cap on terminals per app if lower.
        cap = self._guard.rules.terminals_per_app if self._guard is not None else 0
        limit = use_limit
        if cap and (limit is None or cap < limit):
            limit = cap
        claim = await self.presence.claim(session, req.force_login, limit)
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
            self._kick_terminal(session.app_id, claim.older, "force_login")
        return claim.count

    def _register(self, session: Session, app: App, count: int) -> Session:
        self._apps[app.app_id] = app
        self.registry.add(session)
        self.usage.terminals(app.app_id, count)
        self._notify_scope(session, state=1)
        early = self._early_kicks.pop(session.conn, None)
        if early is not None:  # another node replaced it while it was being registered
            self.kick(session, early[0])
        return session

    def disconnected(self, session: Session) -> None:
        """The link closed: the terminal is offline (if it was not kicked already)."""
        self._end(session)

    def kick(self, session: Session, reason: str) -> Awaitable[object] | None:
        """Tell the terminal why, take it offline, close its link; what remains to
        wait for until presence shows it offline everywhere, if anything."""
        session.link.push(
            dumps({"type": "kicked", "reason": reason, "msg": p.KICK_REASONS[reason]})
        )
        pending = self._end(session)
        session.link.close(p.CLOSE_KICKED, reason)
        return pending

    def _end(self, session: Session) -> Awaitable[object] | None:
        if session.ended:
            return None
        session.ended = True
        now = self._clock()
        if not self.registry.remove(session, now):
            return None
        pending = self.presence.release(session, now)
        self._notify_scope(session, state=0)
        if pending is None:
            return None
        task = self._spawn(pending)
        return task

    def _spawn(self, aw: Awaitable[Any]) -> asyncio.Task[Any]:
        return self._tasks.spawn(aw)

    def _notify_scope(self, session: Session, state: int) -> None:
        self.tell_scope(session.app_id, session.company_id, session.describe(), state, session.conn)

    def tell_scope(
        self, app_id: str, company_id: str, who: dict[str, object], state: int, conn: str
    ) -> None:
        """Tell the terminals of a scope, on every node, that ``who`` came or went."""
        text = dumps({"type": "online_state", "state": state, **who})
        self.push_scope(app_id, company_id, text, conn)
        if self.bus is not None:
            # "co" and "x" are the previous version's names, sent until the release
            # after this one (a rolling upgrade may mix the two: cluster/bus.py).
            self.bus.broadcast(
                "scope",
                {
                    "app": app_id,
                    "company_id": company_id,
                    "text": text,
                    "except_conn": conn,
                    "co": company_id,
                    "x": conn,
                },
            )

    def push_scope(self, app_id: str, company_id: str, text: str, except_conn: str) -> None:
        for other in self.registry.in_scope(app_id, company_id):
            if other.conn != except_conn:
                other.link.push(text)

    # reaching terminals wherever they are

    def _kick_terminal(self, app_id: str, t: Terminal, reason: str) -> Awaitable[object] | None:
        if t.node == self.node:
            s = self.registry.by_conn(t.conn)
            return self.kick(s, reason) if s is not None else None
        if self.bus is None:
            return None
        return self._spawn(self._kick_remote(app_id, t, reason))

    async def _kick_remote(self, app_id: str, t: Terminal, reason: str) -> None:
        assert self.bus is not None
        done = await self.bus.request(
            t.node, "kick", {"conn": t.conn, "reason": reason}, self.config.route_timeout_s
        )
        if done is None:  # its node did not answer: take it offline from here
            await self.presence.drop(app_id, t, self._clock())

    async def deliver(self, app_id: str, targets: list[Terminal], text: str) -> list[bool]:
        """Write ``text`` to each terminal: whether each one's connection took it.

        Terminals of this node are written to at once; those of other nodes by one
        request per node, all at the same time; a node that does not answer within
        the route timeout counts as not delivered.
        """
        done = [False] * len(targets)
        remote: dict[str, list[int]] = defaultdict(list)
        for i, t in enumerate(targets):
            if t.node == self.node:
                s = self.registry.by_conn(t.conn)
                done[i] = s is not None and s.link.push(text)
            else:
                remote[t.node].append(i)
        if remote and self.bus is not None:
            bus, timeout = self.bus, self.config.route_timeout_s
            nodes = list(remote)
            answers = await asyncio.gather(
                *(
                    bus.request(
                        node,
                        "push",
                        {"conns": [targets[i].conn for i in remote[node]], "text": text},
                        timeout,
                    )
                    for node in nodes
                )
            )
            for node, answer in zip(nodes, answers, strict=True):
                if isinstance(answer, list) and len(answer) == len(remote[node]):
                    for i, ok in zip(remote[node], answer, strict=True):
                        done[i] = bool(ok)
        delivered = sum(done)
        if delivered:
            self.usage.received(app_id, delivered)
        return done

    # what other nodes ask

    def _on_push(self, body: dict[str, Any]) -> list[bool]:
        text, get = body["text"], self.registry.by_conn
        out = []
        for conn in body["conns"]:
            s = get(conn)
            out.append(s is not None and s.link.push(text))
        return out

    async def _on_kick(self, body: dict[str, Any]) -> bool:
        s = self.registry.by_conn(body["conn"])
        reason = body["reason"] if body["reason"] in p.KICK_REASONS else "kickout"
        if s is None:
            now = time.monotonic()
            if len(self._early_kicks) > 10_000:
                self._early_kicks = {
                    c: v for c, v in self._early_kicks.items() if v[1] > now - _EARLY_KICK_S
                }
            self._early_kicks[body["conn"]] = (reason, now)
            return False
        pending = self.kick(s, reason)
        if pending is not None:
            await pending
        return True

    def _on_scope(self, body: dict[str, Any]) -> None:
        # From a node of the previous version: "co" and "x" (see tell_scope).
        company_id = body["company_id"] if "company_id" in body else body["co"]
        except_conn = body["except_conn"] if "except_conn" in body else body["x"]
        self.push_scope(body["app"], company_id, body["text"], except_conn)

    # invites (from the backend here, from terminals in requests.py)

    async def invite(
        self,
        app_id: str,
        group_id: str,
        user_ids: Iterable[str],
        seq_id: int,
        extend_info: dict[str, Any] | None,
        inviter: Session | None = None,
    ) -> list[str]:
        """Deliver an invite to every online terminal of each user; the users none reached."""
        if extend_info is not None:
            check_body(extend_info, "extend_info")
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
        users = list(dict.fromkeys(user_ids))
        per_user = await asyncio.gather(*(self.presence.of_user(app_id, u) for u in users))
        targets: list[Terminal] = []
        owner: list[int] = []
        for i, terminals in enumerate(per_user):
            for t in terminals:
                # A terminal reaches only its app and company (docs/security.md).
                if inviter is None or (
                    t.conn != inviter.conn and t.company_id == inviter.company_id
                ):
                    targets.append(t)
                    owner.append(i)
        # Only the users it can reach may reply to it, so only they are remembered: an
        # invite naming 500 users nobody runs costs no memory, nor a pending place
        # (docs/security.md).
        invitees = [users[i] for i in dict.fromkeys(owner)]
        if invitees and not await self.presence.remember_invite(
            app_id,
            group_id,
            seq_id,
            (inviter.user_id, inviter.mutex_type) if inviter is not None else None,
            invitees,
            self._clock(),
        ):
            raise ParameterInvalid("seq_id", "a pending invite of another inviter has this seq_id")
        done = await self.deliver(app_id, targets, text)
        reached = {owner[j] for j, ok in enumerate(done) if ok}
        return [u for i, u in enumerate(users) if i not in reached]

    # apps changing under their terminals

    def app_changed(self, app: App | None, app_id: str) -> None:
        """Disconnect this node's terminals that may no longer be online: app deleted
        (``app`` None), set offline, or without its online service."""
        if app is None:
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

    async def sweep(self) -> None:
        """Drop silent terminals, forget what is past retention, note the peaks."""
        deadline = time.monotonic() - 3 * self.config.heartbeat_interval
        now = self._clock()
        apps: set[str] = set()
        for s in self.registry.all():
            apps.add(s.app_id)
            if s.last_seen < deadline:
                self.kick(s, "heartbeat_timeout")
        for app_id in apps:
            self.usage.terminals(app_id, await self.presence.count(app_id))
        await self.presence.prune(now, self.config.retention_s * 1000)
        await self._kick_disabled(apps)

    async def _kick_disabled(self, app_ids: Iterable[str]) -> None:
        """Kick this node's terminals whose developer the operator disabled."""
        devs: dict[str, list[str]] = defaultdict(list)
        for app_id in app_ids:
            app = self._apps.get(app_id)
            if app is not None:
                devs[app.dev_id].append(app_id)
        now = time.monotonic()
        for dev_id, apps in devs.items():
            if not await self.developer_active(dev_id, now):
                for app_id in apps:
                    for s in self.registry.of_app(app_id):
                        self.kick(s, "developer_disabled")

    def shutdown(self) -> None:
        for s in self.registry.all():
            self.kick(s, "shutdown")

    async def settle(self) -> None:
        """Wait for the presence updates under way (at a clean stop)."""
        await self._tasks.wait()
