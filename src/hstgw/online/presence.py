"""Presence: who is online, on which node, and who was, for the retention window.

``Presence`` is what the online service asks; two implementations answer:
``LocalPresence`` here, over this process's ``Registry`` (the embedded default),
and ``hstgw.cluster.presence.RedisPresence``, shared by every node. A node's own
sessions are always in its ``Registry`` too: that is how it reaches them.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import hashlib
import itertools
import secrets
from array import array
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import NamedTuple

from hstgw.errors import TerminalCode
from hstgw.online.registry import Offline, Registry
from hstgw.online.session import Session, TerminalKey, describe

__all__ = [
    "FIELD_SEPARATOR",
    "INVITEES_PER_DEVELOPER",
    "INVITES_PER_APP",
    "KICKS_KEPT_MS",
    "KICK_BUCKETS",
    "RETAINED_PER_DEVELOPER",
    "Claim",
    "LocalPresence",
    "Offline",
    "Presence",
    "Retained",
    "Terminal",
    "Turns",
    "UserTerminal",
    "kick_bucket",
    "resume_owner",
    "resume_user",
    "user_of_owner",
]

INVITE_TTL_MS = 10 * 60 * 1000
# How long the mark of a kickout bucket is kept (``Presence.resume_of``): a login
# by resume is refused if it takes half of it from its credential's check to its place.
KICKS_KEPT_MS = 10 * 60 * 1000
# A kickout marks the bucket its user falls in, not the user: however many users are
# kicked out, no more marks than this are kept (docs/security.md). A login by resume
# whose bucket was marked since its check looks again: its credential gone, it is
# refused; still there, the kickout was another user's (admission.py).
KICK_BUCKETS = 1 << 16
# What a developer's token logins leave behind for up to a day (a token's replay key,
# its user's resume credentials, its terminal's offline entry): kept for this many of
# its last token logins; an older one's goes (docs/security.md).
RETAINED_PER_DEVELOPER = 100_000
# Joins ids into one string where a key, hash field or owner needs several
# (user_id + mutex_type, a resume owner's four ids, group_id + seq_id): ASCII's unit
# separator, which the ids' written rules (letters, digits, _ and -; app_id hex) never
# let in, so the join splits back into the same ids and two joins never collide.
FIELD_SEPARATOR = "\x1f"
# Pending invites kept per app (docs/security.md): past it, the app's oldest is forgotten;
# one app's invites never evict another's.
INVITES_PER_APP = 1_000
# Invitees of pending invites kept per developer, all its apps together (each ~200
# bytes at most): past it, the developer's oldest invites are forgotten; one
# developer's never evict another's (HSTGW_LIMIT_INVITEES_PER_DEVELOPER).
INVITEES_PER_DEVELOPER = 100_000
UserTerminal = tuple[str, str]  # (user_id, mutex_type)
# inviter, invitees, sent at (ms), the app's developer
_Invite = tuple[UserTerminal | None, frozenset[str], int, str]


def resume_owner(app_id: str, user_id: str, company_id: str, mutex_type: str) -> str:
    """Whose resume credentials these are: a user of an app in a company, on a kind of
    terminal (a credential resumes that terminal, not another kind of the user's)."""
    return FIELD_SEPARATOR.join((app_id, user_id, company_id, mutex_type))


def resume_user(app_id: str, user_id: str) -> str:
    """A user of an app, whose resume owners (one a company and kind of terminal) a
    kickout forgets together."""
    return FIELD_SEPARATOR.join((app_id, user_id))


def user_of_owner(owner: str) -> str:
    """``resume_user`` of a resume owner (no id holds the separator)."""
    app_id, _, rest = owner.partition(FIELD_SEPARATOR)
    return app_id + FIELD_SEPARATOR + rest.partition(FIELD_SEPARATOR)[0]


def kick_bucket(salt: bytes, user: str) -> int:
    """The bucket whose mark a kickout of ``user`` (a ``resume_user``) moves. The hash is
    keyed by a secret ``salt`` (at most 64 bytes), so that no developer can pick a user
    of its own whose kickouts land on another developer's users."""
    digest = hashlib.blake2b(user.encode(), key=salt, digest_size=8).digest()
    return int.from_bytes(digest, "big") % KICK_BUCKETS


class Retained(NamedTuple):
    """What a token login leaves behind, as ``Presence.retain`` notes it."""

    used: str  # the token's replay key ("" if not noted)
    owner: str  # its resume credentials' owner (``resume_owner``)
    mutex_type: str  # its terminal: the owner's app_id and user_id, and this


@dataclass(frozen=True, slots=True)
class Terminal:
    """An online terminal, wherever it is connected."""

    user_id: str
    mutex_type: str
    client_guid: str
    company_id: str
    custom_state: str
    node: str
    conn: str  # this login's id: a later login of the same terminal has another
    since_ms: int = 0  # when it logged in (epoch ms)

    @classmethod
    def of(cls, s: Session, node: str) -> Terminal:
        return cls(
            s.user_id, s.mutex_type, s.client_guid, s.company_id, s.custom_state, node, s.conn,
            s.since_ms,
        )  # fmt: skip

    def describe(self) -> dict[str, object]:
        return describe(self.user_id, self.mutex_type, self.client_guid, self.custom_state)


@dataclass(frozen=True, slots=True)
class Claim:
    """A login's place: ``refused`` a TerminalCode, or ``older`` (if any) to kick."""

    refused: TerminalCode | None = None
    older: Terminal | None = None
    count: int = 0  # the app's terminals online once this one is


class Presence(abc.ABC):
    node: str
    # Whether this process's registry is the whole of presence (a node alone): a caller
    # may then look terminals up in it directly, as sessions, rather than through
    # ``find``'s records (a fan-out to thousands does).
    alone: bool = False
    kick_key: bytes  # keys ``kick_bucket``: the same on every node of a cluster

    @abc.abstractmethod
    async def claim(
        self, s: Session, force: bool, use_limit: int | None, kicked: str | None = None
    ) -> Claim:
        """Take ``s``'s place (app, user_id, mutex_type), or say why not.

        Atomic: of two logins of one terminal, one is refused (or, forced, the other
        is returned as ``older``); the app's terminal count never passes ``use_limit``.
        ``kicked``: for a login by resume, ``resume_of``'s mark; refused (TOKEN_INVALID)
        if the mark of the user's bucket is another now: a kickout, which forgets
        credentials before it lists terminals, ran after the credential's check and could
        not see this one.
        """

    @abc.abstractmethod
    def login_turn(self, key: TerminalKey) -> AbstractAsyncContextManager[None]:
        """Held by a login of terminal ``key`` from its claim to its registration:
        whether logins of one terminal on this node must take turns depends on whether
        ``claim`` awaits."""

    @abc.abstractmethod
    def release(self, s: Session, now_ms: int) -> Awaitable[object] | None:
        """``s`` left (it is out of the registry already): list it offline, if it still
        holds its place. What remains to wait for, if anything."""

    @abc.abstractmethod
    async def drop(self, app_id: str, t: Terminal, now_ms: int) -> None:
        """List ``t`` offline for its node, which did not answer (if it still holds its place)."""

    @abc.abstractmethod
    async def set_state(self, s: Session) -> None: ...

    @abc.abstractmethod
    async def online(self, app_id: str) -> list[Terminal]: ...

    @abc.abstractmethod
    async def offline(self, app_id: str, since_ms: int) -> list[Offline]:
        """Terminals of the app that went offline at or after ``since_ms``."""

    @abc.abstractmethod
    async def of_user(self, app_id: str, user_id: str) -> list[Terminal]: ...

    @abc.abstractmethod
    async def find(self, app_id: str, keys: list[tuple[str, str]]) -> list[Terminal | None]:
        """The terminal at each (user_id, mutex_type), if online."""

    @abc.abstractmethod
    async def count(self, app_id: str) -> int: ...

    @abc.abstractmethod
    async def listed(self, app_id: str) -> int:
        """How many entries a listing of the app's terminals reads: online, and offline
        ones kept (some maybe past retention, not yet pruned)."""

    @abc.abstractmethod
    async def scope(self, app_id: str, company_id: str) -> tuple[list[Terminal], int]:
        """The app's terminals of one company (who sees whom), and how many entries
        were read to find them (what a listing costs: the company's, or the app's)."""

    @abc.abstractmethod
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
        """An invite was sent by ``inviter`` (None: the app's backend) to ``invitees``,
        for their replies. False, and nothing kept, if a pending invite of another
        inviter holds (group_id, seq_id); the same inviter's replaces its own. Past the
        app's ``invites_per_app`` invites, or the developer's (``dev_id``, the app's)
        ``invitees_per_developer`` invitees, the oldest are forgotten."""

    @abc.abstractmethod
    async def find_invite(
        self, app_id: str, group_id: str, seq_id: int, invitee: str, now_ms: int
    ) -> tuple[bool, UserTerminal | None]:
        """(whether a pending invite invited ``invitee``, who sent it)."""

    # replay protection (docs/security.md)

    @abc.abstractmethod
    async def first_use(self, key: str, until_ms: int, now_ms: int) -> bool:
        """Note ``key`` (a terminal token) as used until ``until_ms``; False if it was."""

    @abc.abstractmethod
    async def forget_use(self, key: str) -> None:
        """The login that used ``key`` did not happen after all."""

    @abc.abstractmethod
    async def keep_resume(self, digest: str, owner: str, until_ms: int, now_ms: int) -> None:
        """A resume credential (its digest) until ``until_ms``, for ``owner``: app_id,
        user_id, company_id and mutex_type joined by ``FIELD_SEPARATOR``
        (``resume_owner``)."""

    @abc.abstractmethod
    async def forget_resume(self, digest: str, owner: str) -> None:
        """The login that was to answer this credential did not happen."""

    @abc.abstractmethod
    async def forget_resumes(self, app_id: str, user_id: str) -> None:
        """Every credential of the user in the app, in every company, of every terminal
        online or not: it was kicked out, and comes back with a token. In the same step
        the mark of the user's ``kick_bucket`` becomes a new one, never given before
        (kept for ``KICKS_KEPT_MS`` at least)."""

    @abc.abstractmethod
    async def resume_of(self, digest: str, owner: str, now_ms: int) -> str | None:
        """Whether a resume credential still valid (see ``keep_resume``) is ``owner``'s:
        if so, the mark of its user's ``kick_bucket`` ("" if none is kept), read in the
        same step as the credential, which ``claim`` compares; None if not."""

    @abc.abstractmethod
    def retain(self, dev_id: str, login: Retained) -> Awaitable[object] | None:
        """Note a token login of ``dev_id``'s that took its place; what remains to
        wait for, if anything. Past its last ``retained_per_developer`` token logins, the
        oldest one's state goes: its token's replay key, its user's resume credentials
        in its company and its terminal's offline entry (unless a later login noted
        holds the same owner or terminal). So what one developer's logins of made-up
        users leave behind is bounded, whatever their number."""

    @abc.abstractmethod
    async def prune(self, now_ms: int, retention_ms: int) -> None:
        """Forget offline entries past retention, old invites, used tokens and resume
        credentials past their time."""


class Turns:
    """Logins of one terminal taking turns on this node: a lock per key, kept only
    while a login holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[TerminalKey, asyncio.Lock] = {}

    @contextlib.asynccontextmanager
    async def of(self, key: TerminalKey) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and self._locks.get(key) is lock:
                del self._locks[key]


class LocalPresence(Presence):
    """Presence of one process: the registry itself. Nothing here awaits, so a
    claim and the registration after it happen in one step of the event loop."""

    alone = True  # (the registry is the terminals' own: LocalTerminals.registry)

    def __init__(
        self,
        registry: Registry,
        node: str = "local",
        invites_per_app: int = INVITES_PER_APP,
        retained_per_developer: int = RETAINED_PER_DEVELOPER,
        invitees_per_developer: int = INVITEES_PER_DEVELOPER,
    ) -> None:
        self.node = node
        self._retained: dict[str, deque[Retained]] = {}  # dev_id -> its token logins
        self._retained_most = retained_per_developer
        # "o" + owner, "t" + app_id<US>user_id<US>mutex_type -> its logins retained
        self._refs: Counter[str] = Counter()
        self.kick_key = secrets.token_bytes(32)  # (this process's buckets only)
        # kick_bucket -> the mark of its last kickout (0: none), never pruned: 512 KiB
        self._kicks = array("Q", bytes(8 * KICK_BUCKETS))
        self._marks = itertools.count(1)  # (a mark is never given twice)
        self._registry = registry
        # app_id -> (group_id, seq_id) -> (inviter, invitees, sent at ms), oldest first
        self._invites: dict[str, dict[tuple[str, int], _Invite]] = {}
        self._invites_per_app = invites_per_app
        # dev_id -> (app_id, group_id, seq_id) of its pending invites, oldest first ->
        # the invitees each holds; and how many they hold in all
        self._invites_of: dict[str, dict[tuple[str, str, int], int]] = {}
        self._invitees: Counter[str] = Counter()
        self._invitees_most = invitees_per_developer
        self._used: dict[str, int] = {}  # token key -> until (ms)
        self._resumes: dict[str, tuple[str, int]] = {}  # digest -> (owner, until)
        self._resumes_of: dict[str, list[str]] = {}  # owner -> digests, oldest first
        # app_id<US>user_id -> the owners (a company and kind each) holding credentials
        self._owners_of: dict[str, set[str]] = {}

    def _terminal(self, s: Session) -> Terminal:
        return Terminal.of(s, self.node)

    async def claim(
        self, s: Session, force: bool, use_limit: int | None, kicked: str | None = None
    ) -> Claim:
        if kicked is not None and self._kick_mark(resume_user(s.app_id, s.user_id)) != kicked:
            return Claim(TerminalCode.TOKEN_INVALID)
        older = self._registry.get(s.key)
        if older is not None and not force:
            return Claim(TerminalCode.ALREADY_ONLINE)
        count = self._registry.app_count(s.app_id)
        # A forced login takes a place rather than adding one.
        if use_limit is not None and older is None and count >= use_limit:
            return Claim(TerminalCode.CONSUMPTION_LIMIT)
        return Claim(
            None,
            self._terminal(older) if older is not None else None,
            count + (older is None),
        )

    def login_turn(self, key: TerminalKey) -> AbstractAsyncContextManager[None]:
        # None needed: a claim here never awaits, so a claim and the registration
        # after it happen in one step of the event loop.
        return contextlib.nullcontext()

    def release(self, s: Session, now_ms: int) -> None:
        return None  # the registry lists it offline as it removes it

    async def drop(self, app_id: str, t: Terminal, now_ms: int) -> None:
        return None  # every terminal here is a session of the registry

    async def set_state(self, s: Session) -> None:
        return None  # the session itself is the state

    async def online(self, app_id: str) -> list[Terminal]:
        return [self._terminal(s) for s in self._registry.of_app(app_id)]

    async def offline(self, app_id: str, since_ms: int) -> list[Offline]:
        return [o for o in self._registry.offline_of_app(app_id) if o.since_ms >= since_ms]

    async def of_user(self, app_id: str, user_id: str) -> list[Terminal]:
        return [self._terminal(s) for s in self._registry.of_user(app_id, user_id)]

    async def find(self, app_id: str, keys: list[tuple[str, str]]) -> list[Terminal | None]:
        get = self._registry.get
        found = (get((app_id, user_id, mutex_type)) for user_id, mutex_type in keys)
        return [self._terminal(s) if s is not None else None for s in found]

    async def count(self, app_id: str) -> int:
        return self._registry.app_count(app_id)

    async def listed(self, app_id: str) -> int:
        return self._registry.app_count(app_id) + self._registry.offline_count(app_id)

    async def scope(self, app_id: str, company_id: str) -> tuple[list[Terminal], int]:
        found = [self._terminal(s) for s in self._registry.in_scope(app_id, company_id)]
        return found, len(found)

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
        pending = self._invites.setdefault(app_id, {})
        key = (group_id, seq_id)
        held = pending.get(key)
        if held is not None:
            if held[0] != inviter and held[2] >= now_ms - INVITE_TTL_MS:
                return False  # the owner's invite stands
            self._drop_invite(app_id, key)  # (sent again: it goes to the end, as the newest)
        while len(pending) >= self._invites_per_app:
            self._drop_invite(app_id, next(iter(pending)))
        mine = self._invites_of.setdefault(dev_id, {})
        while mine and self._invitees[dev_id] + len(invitees) > self._invitees_most:
            oldest_app, oldest_group, oldest_seq = next(iter(mine))
            self._drop_invite(oldest_app, (oldest_group, oldest_seq))
        self._invites.setdefault(app_id, pending)  # (emptied above: kept for this one)
        pending[key] = (inviter, frozenset(invitees), now_ms, dev_id)
        self._invites_of.setdefault(dev_id, mine)[(app_id, group_id, seq_id)] = len(invitees)
        self._invitees[dev_id] += len(invitees)
        return True

    def _drop_invite(self, app_id: str, key: tuple[str, int]) -> None:
        pending = self._invites[app_id]
        dev_id = pending.pop(key)[3]
        if not pending:
            del self._invites[app_id]
        mine = self._invites_of[dev_id]
        self._invitees[dev_id] -= mine.pop((app_id, *key))
        if not mine:
            del self._invites_of[dev_id]
            del self._invitees[dev_id]

    def pending_invites(self) -> int:
        """How many invites are kept, all apps together."""
        return sum(len(pending) for pending in self._invites.values())

    async def find_invite(
        self, app_id: str, group_id: str, seq_id: int, invitee: str, now_ms: int
    ) -> tuple[bool, UserTerminal | None]:
        held = self._invites.get(app_id, {}).get((group_id, seq_id))
        if held is None or invitee not in held[1] or held[2] < now_ms - INVITE_TTL_MS:
            return False, None
        return True, held[0]

    async def first_use(self, key: str, until_ms: int, now_ms: int) -> bool:
        until = self._used.get(key)
        if until is not None and until >= now_ms:
            return False
        self._used[key] = until_ms
        return True

    async def forget_use(self, key: str) -> None:
        self._used.pop(key, None)

    async def keep_resume(self, digest: str, owner: str, until_ms: int, now_ms: int) -> None:
        # A user's last two credentials stay valid (the reply with the newest may have
        # been lost); older ones go, so that memory follows users, not logins.
        self._resumes[digest] = (owner, until_ms)
        self._owners_of.setdefault(user_of_owner(owner), set()).add(owner)
        kept = self._resumes_of.setdefault(owner, [])
        kept.append(digest)
        while len(kept) > 2:
            self._resumes.pop(kept.pop(0), None)

    async def forget_resume(self, digest: str, owner: str) -> None:
        self._resumes.pop(digest, None)
        self._drop_kept(owner, digest)

    def _drop_kept(self, owner: str, digest: str) -> None:
        kept = self._resumes_of.get(owner)
        if kept is not None and digest in kept:
            kept.remove(digest)
            if not kept:
                del self._resumes_of[owner]
                user = user_of_owner(owner)
                owners = self._owners_of.get(user)
                if owners is not None:
                    owners.discard(owner)
                    if not owners:
                        del self._owners_of[user]

    async def forget_resumes(self, app_id: str, user_id: str) -> None:
        user = resume_user(app_id, user_id)
        for owner in self._owners_of.pop(user, ()):
            for digest in self._resumes_of.pop(owner, []):
                self._resumes.pop(digest, None)
        self._kicks[kick_bucket(self.kick_key, user)] = next(self._marks)

    def _kick_mark(self, user: str) -> str:
        mark = self._kicks[kick_bucket(self.kick_key, user)]
        return str(mark) if mark else ""

    async def resume_of(self, digest: str, owner: str, now_ms: int) -> str | None:
        held = self._resumes.get(digest)
        if held is None or held[0] != owner or held[1] < now_ms:
            return None
        return self._kick_mark(user_of_owner(owner))

    def retain(self, dev_id: str, login: Retained) -> None:
        logins = self._retained.setdefault(dev_id, deque())
        logins.append(login)
        for ref in _refs_of(login):
            self._refs[ref] += 1
        while len(logins) > self._retained_most:
            self._forget_login(logins.popleft())

    def _forget_login(self, old: Retained) -> None:
        if old.used:
            self._used.pop(old.used, None)
        owner_ref, terminal_ref = _refs_of(old)
        if self._unref(owner_ref):
            for digest in self._resumes_of.get(old.owner, [])[:]:
                self._resumes.pop(digest, None)
                self._drop_kept(old.owner, digest)
        if self._unref(terminal_ref):
            app_id, user_id = user_of_owner(old.owner).split(FIELD_SEPARATOR)
            self._registry.forget_offline(app_id, user_id, old.mutex_type)

    def _unref(self, ref: str) -> bool:
        """One login fewer holds ``ref``: whether none does any more."""
        self._refs[ref] -= 1
        if self._refs[ref] > 0:
            return False
        del self._refs[ref]
        return True

    async def prune(self, now_ms: int, retention_ms: int) -> None:
        for key in [k for k, until in self._used.items() if until < now_ms]:
            del self._used[key]
        for digest in [d for d, (_, until) in self._resumes.items() if until < now_ms]:
            owner, _ = self._resumes.pop(digest)
            self._drop_kept(owner, digest)
        self._registry.prune_offline(now_ms - retention_ms)
        for app_id, pending in list(self._invites.items()):
            for k in [k for k, held in pending.items() if held[2] < now_ms - INVITE_TTL_MS]:
                self._drop_invite(app_id, k)


def _refs_of(login: Retained) -> tuple[str, str]:
    """The owner and the terminal a retained login holds (as ``_refs`` counts them)."""
    return "o" + login.owner, "t" + user_of_owner(login.owner) + FIELD_SEPARATOR + login.mutex_type
