"""Presence in Redis, shared by every node, with a lease per node.

Keys (under the namespace of ``SharedRedis``), for app ``A``, ``<US>`` being
``FIELD_SEPARATOR``:

- ``on:A`` hash ``user_id<US>mutex_type`` -> ``[client_guid, company_id, custom_state,
  node, conn]`` (JSON): the app's online terminals; its length is the count that
  the online service's use_limit is checked against.
- ``u:A:<user_id>`` hash ``mutex_type`` -> the same entry: one user's terminals, so
  that a message to a user does not scan the app.
- ``off:A`` hash ``user_id<US>mutex_type`` -> ``[client_guid, company_id, since_ms]``:
  who went offline, for the retention window.
- ``node:<id>`` set of ``A<US>user_id<US>mutex_type``: what a node holds;
  ``lease:<id>`` expires when the node stops renewing it; ``nodes`` lists the nodes.
- ``inv:A`` hash ``group_id<US>seq_id`` -> ``[inviter, [invitee...], sent_ms]`` (inviter
  ``user_id<US>mutex_type``, "" for the app's backend) and ``invt:A`` zset of the same
  fields by time: the app's pending invites, at most ``invites_per_app`` of them.
- ``invd:<dev_id>`` zset of ``A<US>group_id<US>seq_id`` by time and ``invn:<dev_id>``
  hash of the same -> its invitees' count (``*`` -> all of them): a developer's
  pending invites in all its apps, at most ``invitees_per_developer`` invitees.

Each change of a terminal is one Lua script, so the indexes never disagree and two
logins of one terminal on two nodes cannot both pass (design 5, mutex_type).

A node renews its lease every housekeeping tick. The nodes watch each other's
leases: when one lapses (the node died, or lost Redis for longer than the lease),
one node takes its terminals offline. A node that finds its own lease lapsed, or
Redis emptied by a restart, claims its live sessions again.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable
from contextlib import AbstractAsyncContextManager
from typing import Any

import orjson

from hstgw.cluster import lua
from hstgw.cluster.redis import SharedRedis
from hstgw.errors import TerminalCode
from hstgw.online.presence import (
    FIELD_SEPARATOR,
    INVITE_TTL_MS,
    INVITEES_PER_DEVELOPER,
    INVITES_PER_APP,
    KICKS_KEPT_MS,
    RETAINED_PER_DEVELOPER,
    Claim,
    Offline,
    Presence,
    Retained,
    Terminal,
    Turns,
    UserTerminal,
    kick_bucket,
    resume_user,
    user_of_owner,
)
from hstgw.online.session import Session, TerminalKey

__all__ = ["RedisPresence"]

# Each change of a terminal is one script (cluster/lua/, their KEYS and ARGV there).
_CLAIM = lua.source("claim")
_RELEASE = lua.source("release")
_SET_STATE = lua.source("set_state")
_FORGET_NODE = lua.source("forget_node")
_KEEP_RESUME = lua.source("keep_resume")
_FORGET_RESUMES = lua.source("forget_resumes")
_RETAIN = lua.source("retain")
_REMEMBER_INVITE = lua.source("remember_invite")


def _entry(s: Session, node: str) -> bytes:
    # (the scripts read items 4 and 5: what is added goes after them)
    return orjson.dumps([s.client_guid, s.company_id, s.custom_state, node, s.conn, s.since_ms])


def _terminal(user_id: str, mutex_type: str, raw: bytes | str) -> Terminal:
    guid, company, state, node, conn, *more = orjson.loads(raw)
    since = int(more[0]) if more else 0  # (an entry of a node from before ``since``)
    return Terminal(user_id, mutex_type, guid, company, state, node, conn, since)


class RedisPresence(Presence):
    def __init__(
        self,
        redis: SharedRedis,
        node: str,
        lease_s: float,
        retention_s: int,
        invites_per_app: int = INVITES_PER_APP,
        *,
        kick_key: bytes,
        retained_per_developer: int = RETAINED_PER_DEVELOPER,
        invitees_per_developer: int = INVITEES_PER_DEVELOPER,
        retained_kept_s: int = 86400,
    ) -> None:
        self.node = node
        self._retained_most = retained_per_developer
        self._retained_kept_ms = retained_kept_s * 1000
        self._retain = redis.script(_RETAIN)
        self.kick_key = kick_key
        self._invites_per_app = invites_per_app
        self._invitees_most = invitees_per_developer
        self._remember_invite = redis.script(_REMEMBER_INVITE)
        self._r = redis
        self._lease_ms = int(lease_s * 1000)
        self._retention_ms = retention_s * 1000
        self._claim = redis.script(_CLAIM)
        self._release = redis.script(_RELEASE)
        self._set_state = redis.script(_SET_STATE)
        self._forget_node = redis.script(_FORGET_NODE)
        self._keep_resume = redis.script(_KEEP_RESUME)
        self._forget_resumes = redis.script(_FORGET_RESUMES)
        self._turns = Turns()

    def _keys(self, app_id: str, user_id: str, node: str) -> list[str]:
        k = self._r.key
        return [
            k("on", app_id),
            k("u", app_id, user_id),
            k("off", app_id),
            k("node", node),
            k("lease", node),
        ]

    async def claim(
        self, s: Session, force: bool, use_limit: int | None, kicked: str | None = None
    ) -> Claim:
        field = s.user_id + FIELD_SEPARATOR + s.mutex_type
        keys = self._keys(s.app_id, s.user_id, self.node)
        args: list[Any] = [
            field,
            s.mutex_type,
            _entry(s, self.node),
            "1" if force else "0",
            -1 if use_limit is None else use_limit,
            s.app_id + FIELD_SEPARATOR + field,
        ]
        if kicked is not None:
            keys.append(self._kicked(resume_user(s.app_id, s.user_id)))
            args.append(kicked)
        status, older, count = await self._claim(keys, args)
        if status == 1:
            return Claim(TerminalCode.ALREADY_ONLINE, _terminal(s.user_id, s.mutex_type, older))
        if status == 2:
            return Claim(TerminalCode.CONSUMPTION_LIMIT)
        if status == 3:
            return Claim(TerminalCode.TOKEN_INVALID)
        previous = _terminal(s.user_id, s.mutex_type, older) if older else None
        return Claim(None, previous, int(count))

    def login_turn(self, key: TerminalKey) -> AbstractAsyncContextManager[None]:
        # A claim awaits Redis: this node's logins of one terminal take turns, so that
        # a forced one never overtakes the one it replaces (Redis orders the nodes).
        return self._turns.of(key)

    def release(self, s: Session, now_ms: int) -> Awaitable[object]:
        return self.release_where(s.app_id, s.user_id, s.mutex_type, self.node, 5, s.conn, now_ms)

    async def release_where(
        self,
        app_id: str,
        user_id: str,
        mutex_type: str,
        node: str,
        which: int,
        value: str,
        now_ms: int,
    ) -> Terminal | None:
        """Take the terminal offline if its entry's ``which`` (4: node, 5: conn) is
        ``value``; the terminal taken offline, if any."""
        field = user_id + FIELD_SEPARATOR + mutex_type
        released = await self._release(
            self._keys(app_id, user_id, node),
            [
                field,
                mutex_type,
                which,
                value,
                now_ms,
                self._retention_ms,
                app_id + FIELD_SEPARATOR + field,
            ],
        )
        return _terminal(user_id, mutex_type, released) if released else None

    async def drop(self, app_id: str, t: Terminal, now_ms: int) -> None:
        await self.release_where(app_id, t.user_id, t.mutex_type, t.node, 5, t.conn, now_ms)

    async def set_state(self, s: Session) -> None:
        k = self._r.key
        await self._set_state(
            [k("on", s.app_id), k("u", s.app_id, s.user_id)],
            [
                s.user_id + FIELD_SEPARATOR + s.mutex_type,
                s.mutex_type,
                s.conn,
                _entry(s, self.node),
            ],
        )

    async def online(self, app_id: str) -> list[Terminal]:
        raw: dict[bytes, bytes] = await self._r.run(lambda c: c.hgetall(self._r.key("on", app_id)))
        out = []
        for field, entry in raw.items():
            user_id, _, mutex_type = field.decode().partition(FIELD_SEPARATOR)
            out.append(_terminal(user_id, mutex_type, entry))
        return out

    async def offline(self, app_id: str, since_ms: int) -> list[Offline]:
        key = self._r.key("off", app_id)
        raw: dict[bytes, bytes] = await self._r.run(lambda c: c.hgetall(key))
        out, old = [], []
        for field, entry in raw.items():
            guid, company, since = orjson.loads(entry)
            if since < since_ms:
                old.append(field)
                continue
            user_id, _, mutex_type = field.decode().partition(FIELD_SEPARATOR)
            out.append(Offline(user_id, mutex_type, guid, company, since))
        if old:
            await self._r.run(lambda c: c.hdel(key, *old))
        return out

    async def of_user(self, app_id: str, user_id: str) -> list[Terminal]:
        key = self._r.key("u", app_id, user_id)
        raw: dict[bytes, bytes] = await self._r.run(lambda c: c.hgetall(key))
        return [_terminal(user_id, m.decode(), e) for m, e in raw.items()]

    async def find(self, app_id: str, keys: list[tuple[str, str]]) -> list[Terminal | None]:
        if not keys:
            return []
        fields = [u + FIELD_SEPARATOR + m for u, m in keys]
        raw: list[bytes | None] = await self._r.run(
            lambda c: c.hmget(self._r.key("on", app_id), fields)
        )
        return [
            _terminal(u, m, e) if e is not None else None
            for (u, m), e in zip(keys, raw, strict=True)
        ]

    async def count(self, app_id: str) -> int:
        return int(await self._r.run(lambda c: c.hlen(self._r.key("on", app_id))))

    async def listed(self, app_id: str) -> int:
        keys = self._r.key("on", app_id), self._r.key("off", app_id)

        async def lengths(c: Any) -> Any:
            async with c.pipeline(transaction=False) as p:
                for key in keys:
                    p.hlen(key)
                return await p.execute()

        return sum(int(n) for n in await self._r.run(lengths))

    async def scope(self, app_id: str, company_id: str) -> tuple[list[Terminal], int]:
        every = await self.online(app_id)  # (kept by app: the whole app is read)
        return [t for t in every if t.company_id == company_id], len(every)

    async def remember_invite(
        self,
        dev_id: str,
        app_id: str,
        group_id: str,
        seq_id: int,
        inviter: UserTerminal | None,
        invitees: list[str],
        now_ms: int,
    ) -> bool:
        k = self._r.key
        kept = await self._remember_invite(
            [k("inv", app_id), k("invt", app_id), k("invd", dev_id), k("invn", dev_id)],
            [
                group_id + FIELD_SEPARATOR + str(seq_id),
                FIELD_SEPARATOR.join(inviter) if inviter is not None else "",
                orjson.dumps(invitees),
                now_ms,
                INVITE_TTL_MS,
                self._invites_per_app,
                app_id,
                len(invitees),
                self._invitees_most,
                k("inv", ""),
                k("invt", ""),
            ],
        )
        return bool(kept)

    async def find_invite(
        self, app_id: str, group_id: str, seq_id: int, invitee: str, now_ms: int
    ) -> tuple[bool, UserTerminal | None]:
        key, field = self._r.key("inv", app_id), group_id + FIELD_SEPARATOR + str(seq_id)
        raw = await self._r.run(lambda c: c.hget(key, field))
        if raw is None:
            return False, None
        inviter, invitees, at = orjson.loads(raw)
        if invitee not in invitees or at < now_ms - INVITE_TTL_MS:
            return False, None
        if not inviter:
            return True, None
        user_id, _, mutex_type = inviter.partition(FIELD_SEPARATOR)
        return True, (user_id, mutex_type)

    async def first_use(self, key: str, until_ms: int, now_ms: int) -> bool:
        ttl = max(1, until_ms - now_ms)
        k = self._r.key("used", key)
        return bool(await self._r.run(lambda c: c.set(k, b"1", nx=True, px=ttl)))

    async def forget_use(self, key: str) -> None:
        await self._r.run(lambda c: c.delete(self._r.key("used", key)))

    async def keep_resume(self, digest: str, owner: str, until_ms: int, now_ms: int) -> None:
        ttl = max(1, until_ms - now_ms)
        await self._keep_resume(
            [
                self._r.key("resume", digest),
                self._r.key("resumes", owner),
                self._r.key("resume-owners", user_of_owner(owner)),
            ],
            [owner, ttl, self._r.key("resume", "")],
        )

    async def forget_resume(self, digest: str, owner: str) -> None:
        async def forget(c: Any) -> Any:
            async with c.pipeline(transaction=True) as p:
                p.delete(self._r.key("resume", digest))
                p.lrem(self._r.key("resumes", owner), 0, digest)
                return await p.execute()

        await self._r.run(forget)

    async def forget_resumes(self, app_id: str, user_id: str) -> None:
        user = resume_user(app_id, user_id)
        await self._forget_resumes(
            [self._r.key("resume-owners", user), self._kicked(user)],
            [self._r.key("resume", ""), self._r.key("resumes", ""), KICKS_KEPT_MS, _mark()],
        )

    def _kicked(self, user: str) -> str:
        """The key of the mark of ``user``'s kick_bucket: at most KICK_BUCKETS of them."""
        return self._r.key("kicked", str(kick_bucket(self.kick_key, user)))

    async def resume_of(self, digest: str, owner: str, now_ms: int) -> str | None:
        keys = [self._r.key("resume", digest), self._kicked(user_of_owner(owner))]
        held, mark = await self._r.run(lambda c: c.mget(keys))  # (one step: MGET)
        if held is None or held.decode() != owner:
            return None
        return mark.decode() if mark is not None else ""

    def retain(self, dev_id: str, login: Retained) -> Awaitable[object]:
        app_id, user_id = user_of_owner(login.owner).split(FIELD_SEPARATOR)
        k = self._r.key
        record = orjson.dumps(
            [login.used, login.owner, app_id, user_id + FIELD_SEPARATOR + login.mutex_type]
        )
        return self._retain(
            [k("retained", dev_id), k("retained-refs", dev_id)],
            [
                record,
                self._retained_most,
                k("used", ""),
                k("resume", ""),
                k("resumes", ""),
                k("resume-owners", ""),
                k("off", ""),
                self._retained_kept_ms,
            ],
        )

    async def prune(self, now_ms: int, retention_ms: int) -> None:
        # Offline entries are pruned as they are read and expire with their app's hash;
        # used tokens and resume credentials expire by themselves.
        return None

    # the node lease

    async def renew_lease(self) -> bool:
        """Renew this node's lease; False if it had lapsed (or Redis lost it)."""
        lease, nodes = self._r.key("lease", self.node), self._r.key("nodes")

        async def renew(c: Any) -> Any:
            async with c.pipeline(transaction=True) as p:
                p.set(lease, b"1", px=self._lease_ms, get=True)
                p.sadd(nodes, self.node)
                return await p.execute()

        previous, _ = await self._r.run(renew)
        return previous is not None

    async def dead_nodes(self) -> list[str]:
        """Nodes listed whose lease lapsed, each returned to one caller only."""
        nodes: set[bytes] = await self._r.run(lambda c: c.smembers(self._r.key("nodes")))
        others = sorted(n.decode() for n in nodes if n.decode() != self.node)
        if not others:
            return []
        alive = await self._r.run(lambda c: c.mget([self._r.key("lease", n) for n in others]))
        dead = []
        for node, lease in zip(others, alive, strict=True):
            if lease is None and await self._take_reaping(node):
                dead.append(node)
        return dead

    async def _take_reaping(self, node: str) -> bool:
        key = self._r.key("reap", node)
        return bool(
            await self._r.run(lambda c: c.set(key, self.node, nx=True, px=self._lease_ms * 3))
        )

    async def reap(self, node: str, now_ms: int) -> list[tuple[str, Terminal]]:
        """Take a dead node's terminals offline: the (app_id, terminal) taken."""
        members: set[bytes] = await self._r.run(lambda c: c.smembers(self._r.key("node", node)))
        gone = []
        for member in members:
            app_id, user_id, mutex_type = member.decode().split(FIELD_SEPARATOR)
            t = await self.release_where(app_id, user_id, mutex_type, node, 4, node, now_ms)
            if t is not None:
                gone.append((app_id, t))

        await self._forget_node(
            [self._r.key("lease", node), self._r.key("node", node), self._r.key("nodes")], [node]
        )
        return gone

    async def leave(self) -> None:
        """A clean stop: give the lease back, so that another node reaps at once
        whatever of this node's presence its kicks could not release."""
        await self._r.run(lambda c: c.delete(self._r.key("lease", self.node)))


def _mark() -> str:
    """A kickout's mark: random, so that no node gives one twice (nor after its expiry)."""
    return secrets.token_hex(8)
