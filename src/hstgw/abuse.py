"""Abuse limits: token buckets per source address, developer and app (docs/security.md).

Every limit is a bucket of ``burst`` tokens refilled at ``rate`` a second, checked
before the work it guards is done, so that a refusal costs next to nothing:

- failed authentications per source address and per developer: checked before a
  credential is verified, a token taken for each failure;
- access-token issuance per developer;
- business calls per developer (the reply carries ``X-RateLimit-*``);
- terminal logins per app (only those whose token verified), failed terminal logins
  per source address, and concurrent terminals per app (in the presence claim).

The buckets live in this process (``LocalBuckets``) or, in a cluster, in Redis
(``hstgw.cluster.abuse.RedisBuckets``), so that N nodes do not allow N times as much.
A REST limit exceeded answers 606000006; a terminal login its own code.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from hstgw.connections import address_key
from hstgw.errors import SystemBusy

__all__ = ["Buckets", "Decision", "Guard", "LocalBuckets", "Rule", "Rules", "needed", "refill"]

_LOCAL_MAX = 100_000  # buckets kept in memory; full ones are forgotten first


@dataclass(frozen=True, slots=True)
class Rule:
    rate: float  # tokens a second
    burst: int  # the bucket's size; 0: no limit

    @classmethod
    def per(cls, count: int, seconds: float) -> Rule:
        return cls(count / seconds if count else 0.0, count)

    @property
    def off(self) -> bool:
        return self.burst <= 0


class Decision(NamedTuple):
    """One take from a bucket (a tuple: made on every call, three times as fast to make
    as a frozen dataclass)."""

    allowed: bool
    limit: int  # the bucket's size
    remaining: int  # whole tokens left
    reset_s: int  # seconds until the bucket is full again

    def headers(self) -> tuple[tuple[bytes, bytes], ...]:
        return (
            (b"x-ratelimit-limit", b"%d" % self.limit),
            (b"x-ratelimit-remaining", b"%d" % self.remaining),
            (b"x-ratelimit-reset", b"%d" % self.reset_s),
        )


_FULL = Decision(True, 0, 0, 0)  # (only its ``allowed`` is read)


def refill(tokens: float, at: float, now: float, rate: float, burst: float) -> float:
    """The one token bucket of this process: ``tokens`` held at ``at``, refilled at
    ``rate`` a second up to ``burst``, as of ``now``. ``LocalBuckets`` keeps buckets by
    key; a terminal's session keeps its message bucket itself (``Session.allow``):
    through ``LocalBuckets`` each terminal message would cost about 0.7 us more (a key,
    a dict entry per terminal, a ``Decision``; ~0.9 us against ~0.15 us); see
    docs/architecture.md. Redis has its own copy, in Lua (``cluster/abuse.py``)."""
    tokens += (now - at) * rate
    return burst if tokens > burst else tokens


def needed(cost: int, burst: int) -> int:
    """The tokens a bucket must hold to give ``cost``: as many, up to what it holds
    after one call. Work charged by its size (a listing of a large app) is charged
    after the request's own call was taken: a cost past the burst is allowed from a
    bucket that was full before that call (it would never be otherwise). The same
    rule in Redis: cluster/lua/take_buckets.lua."""
    if cost <= 0:
        return 1  # (only looking: one call's worth there)
    return cost if cost < burst else max(burst - 1, 1)


def decide(tokens: float, rule: Rule, allowed: bool) -> Decision:
    missing = rule.burst - tokens
    reset = math.ceil(missing / rule.rate) if rule.rate > 0 and missing > 0 else 0
    return Decision(allowed, rule.burst, max(0, int(tokens)), reset)


class Buckets(Protocol):
    async def take(self, key: str, rule: Rule, cost: int = 1, force: bool = False) -> Decision:
        """Take ``cost`` tokens if there are as many, or, for a cost past what the bucket
        holds after one call, from a bucket full but for that call (taken whole, into
        debt: the calls after it wait for the refill); ``cost`` 0: only look.
        ``force``: take them whatever the bucket holds (work already done), into debt."""


class LocalBuckets:
    """Buckets of one process. Nothing awaits: a check is a few dict operations.

    ``clock``: seconds that only go forward (``time.monotonic``); a test gives one it
    moves itself, so that how many calls pass does not depend on how fast it runs.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    async def take(self, key: str, rule: Rule, cost: int = 1, force: bool = False) -> Decision:
        return self.take_now(key, rule, cost, force)

    def take_now(self, key: str, rule: Rule, cost: int = 1, force: bool = False) -> Decision:
        buckets = self._buckets
        held = buckets.get(key)
        if held is None and not cost:
            return _FULL  # looking at a bucket never used: full, and nothing to keep
        now = self._clock()
        burst = rule.burst
        if held is None:
            tokens = float(burst)
            if len(buckets) >= _LOCAL_MAX:
                self._forget_full(now)
        else:
            tokens = refill(held[0], held[1], now, rule.rate, float(burst))
        allowed = force or tokens >= needed(cost, burst)
        if allowed:
            tokens -= cost  # (past the burst: into debt)
        buckets[key] = (tokens, now)
        return decide(tokens, rule, allowed)

    def _forget_full(self, now: float) -> None:
        # A bucket that would be full by now holds nothing worth keeping; if none
        # is, the oldest half goes (a flood of distinct keys cannot grow memory), but
        # for buckets in debt: a flood of failures from made-up names must not forgive
        # a developer's debt (only work charged by its size makes one: few buckets).
        stale = [k for k, (t, at) in self._buckets.items() if now - at > 3600 and t >= 0]
        if not stale:
            oldest = list(self._buckets.items())[: len(self._buckets) // 2]
            stale = [k for k, (tokens, _) in oldest if tokens >= 0]
        for k in stale:
            del self._buckets[k]


@dataclass(frozen=True, slots=True)
class Rules:
    auth_failures_per_address: Rule
    auth_failures_per_developer: Rule
    tokens_per_developer: Rule
    calls_per_developer: Rule
    logins_per_app: Rule
    terminals_per_app: int  # concurrent; 0: no limit
    login_failures_per_address: Rule = Rule(0.0, 0)  # terminal logins


class Guard:
    """The abuse limits, as the gateway's services ask them.

    ``buckets`` may be replaced while nothing is being checked (a test puts in
    ``LocalBuckets`` on a clock of its own; time is the buckets' business, not the
    guard's).
    """

    def __init__(self, buckets: Buckets, rules: Rules) -> None:
        self.buckets = buckets
        self.rules = rules

    @property
    def buckets(self) -> Buckets:
        return self._buckets

    @buckets.setter
    def buckets(self, buckets: Buckets) -> None:
        self._buckets = buckets
        # Buckets of this process are asked without awaiting (two checks on every
        # REST call: a coroutine each saved).
        self._local = buckets if isinstance(buckets, LocalBuckets) else None

    async def _take(self, key: str, rule: Rule, cost: int, force: bool = False) -> Decision:
        local = self._local
        if local is not None:
            return local.take_now(key, rule, cost, force)
        return await self._buckets.take(key, rule, cost, force)

    async def _check(self, key: str, rule: Rule, what: str) -> None:
        if not rule.off and not (await self._take(key, rule, 0)).allowed:
            raise SystemBusy(f"{what}; retry later")

    async def _spend(self, key: str, rule: Rule) -> None:
        if not rule.off:
            await self.buckets.take(key, rule, 1)

    # authentication

    async def check_address(self, address: str) -> None:
        """Before verifying any credential from ``address``."""
        await self._check(
            f"fa:{address_key(address)}",
            self.rules.auth_failures_per_address,
            "too many failed authentications from this address",
        )

    async def check_developer(self, dev_id: str) -> None:
        """Before verifying a developer's credentials."""
        await self._check(
            f"fd:{dev_id}",
            self.rules.auth_failures_per_developer,
            "too many failed authentications for this developer",
        )

    async def failed(self, address: str, dev_id: str | None = None) -> None:
        await self._spend(f"fa:{address_key(address)}", self.rules.auth_failures_per_address)
        if dev_id is not None:
            await self._spend(f"fd:{dev_id}", self.rules.auth_failures_per_developer)

    # work

    async def issue_token(self, dev_id: str) -> None:
        rule = self.rules.tokens_per_developer
        if not rule.off and not (await self.buckets.take(f"t:{dev_id}", rule)).allowed:
            raise SystemBusy("too many access_token requests for this developer; retry later")

    async def call(self, dev_id: str, cost: int = 1) -> Decision | None:
        """A business call of ``dev_id`` (``cost``: as many calls as it does the work
        of; past the bucket's size, allowed when the bucket is full but for one call and
        taken whole, so the calls after it wait: ``needed``): the decision (its headers
        go on the reply)."""
        rule = self.rules.calls_per_developer
        if rule.off:
            return None
        return await self._take(f"c:{dev_id}", rule, max(1, cost))

    async def charge(self, dev_id: str, calls: int) -> None:
        """Work worth ``calls`` business calls, off a request's own path (a sync of n
        apps, a listing of a large app): from the developer's rate, or 606000006."""
        decision = await self.call(dev_id, calls)
        if decision is not None and not decision.allowed:
            raise SystemBusy("too many calls for this developer; retry later")

    async def debit(self, dev_id: str, calls: int) -> None:
        """Work worth ``calls`` business calls already done (a read whose size is known
        once read): taken from the developer's rate whatever it holds, into debt."""
        rule = self.rules.calls_per_developer
        if not rule.off and calls > 0:
            await self._take(f"c:{dev_id}", rule, calls, force=True)

    async def login(self, app_id: str, address: str = "") -> str | None:
        """A terminal login whose credential verified: why it is refused, if it is
        (its address past its failed logins, or the app past its logins)."""
        app_rule, addr_rule = self.rules.logins_per_app, self.rules.login_failures_per_address
        by_address = not addr_rule.off and bool(address)
        checks = []
        if by_address:  # only looks: a good login costs its address nothing
            checks.append(self.buckets.take(f"lf:{address_key(address)}", addr_rule, 0))
        if not app_rule.off:
            checks.append(self.buckets.take(f"l:{app_id}", app_rule))
        # Together: in a cluster, one Redis round trip for both.
        decisions = await asyncio.gather(*checks) if checks else []
        if by_address and not decisions[0].allowed:
            return _FAILED_LOGINS
        if not app_rule.off and not decisions[-1].allowed:
            return "too many logins to this app; retry later"
        return None

    async def login_failed(self, address: str) -> str | None:
        """A terminal login failed (its token, resume credential or app_id): the
        refusal for its address, if it is now past its failed logins."""
        rule = self.rules.login_failures_per_address
        if rule.off or not address:
            return None
        return (
            None
            if (await self.buckets.take(f"lf:{address_key(address)}", rule)).allowed
            else _FAILED_LOGINS
        )


_FAILED_LOGINS = "too many failed logins from this address; retry later"
