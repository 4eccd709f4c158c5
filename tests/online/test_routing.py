"""Routing between nodes through the ``Router`` interface, without Redis: this node's
terminals are written to directly, another node's by one request per node; a node
alone asks nobody; logins of one terminal take turns when presence says so."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC

import pytest

from hstgw.online.presence import LocalPresence, Presence, Terminal, Turns
from hstgw.online.registry import Registry
from hstgw.online.routing import LocalRouter, NodeRequests, Reach
from hstgw.online.scope import ScopeNotices
from hstgw.online.session import Session
from hstgw.online.tenants import OnlineApps
from hstgw.online.terminals import LocalTerminals
from hstgw.online.usage import UsageCounters
from hstgw.store import App
from hstgw.tasks import Background

pytestmark = pytest.mark.anyio

APP = "a" * 32


class _Link:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def push(self, text: str) -> bool:
        self.sent.append(text)
        return True

    def close(self, code: int, reason: str) -> None:
        return None


class _Router:
    """Another node answering: what it was asked, its answers set by the test."""

    def __init__(self, answers: dict[str, list[bool]], kicked: bool = True) -> None:
        self.answers = answers
        self.kicked = kicked
        self.pushes: list[tuple[str, list[str], str]] = []
        self.kicks: list[tuple[str, str, str]] = []
        self.served: NodeRequests | None = None

    def serve(self, requests: NodeRequests) -> None:
        self.served = requests

    async def push(self, node: str, conns: list[str], text: str) -> list[bool]:
        self.pushes.append((node, conns, text))
        return self.answers.get(node, [False] * len(conns))

    async def kick(self, node: str, conn: str, reason: str) -> bool:
        self.kicks.append((node, conn, reason))
        return self.kicked

    def broadcast_scope(self, app_id: str, company_id: str, text: str, except_conn: str) -> None:
        return None


class _Received:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, n: int) -> None:
        self.count += n


async def _no_sink(*_: object) -> None:
    return None


def _parts(
    router: _Router | LocalRouter, presence: Presence | None = None
) -> tuple[Reach, LocalTerminals, _Received]:
    registry = Registry()
    presence = presence or LocalPresence(registry)
    received = _Received()
    usage = UsageCounters(_no_sink, UTC, lambda: 1_700_000_000_000, received)
    scope = ScopeNotices(registry, router)
    terminals = LocalTerminals(
        registry, presence, scope, usage, OnlineApps(), lambda: 1_700_000_000_000, Background()
    )
    return Reach(terminals, scope, presence, router, usage, lambda: 0), terminals, received


def _session(user_id: str, conn: str, link: _Link | None = None) -> Session:
    return Session(link or _Link(), APP, user_id, "web", "", "", "", "", 0.0, conn)


def _terminal(user_id: str, node: str, conn: str) -> Terminal:
    return Terminal(user_id, "web", "", "", "", node, conn)


async def test_other_nodes_are_asked_once_each_and_their_answers_kept() -> None:
    router = _Router({"n2": [True, False], "n3": [True]})
    reach, terminals, received = _parts(router)
    link = _Link()
    here = _session("here", "c1", link)
    terminals.registry.add(here)
    targets = [
        _terminal("a", "n2", "c2"),
        _terminal("here", "local", "c1"),
        _terminal("b", "n3", "c3"),
        _terminal("c", "n2", "c4"),
        _terminal("gone", "local", "c5"),  # listed, but no longer a session here
    ]
    assert await reach.deliver(APP, targets, "hello") == [True, True, True, False, False]
    assert sorted(router.pushes) == [("n2", ["c2", "c4"], "hello"), ("n3", ["c3"], "hello")]
    assert link.sent == ["hello"]
    assert received.count == 3
    assert router.served is reach  # the other nodes' requests come to this node's Reach


async def test_a_node_that_does_not_answer_a_kick_has_its_terminal_dropped_here() -> None:
    dropped: list[Terminal] = []

    class Watching(LocalPresence):
        async def drop(self, app_id: str, t: Terminal, now_ms: int) -> None:
            dropped.append(t)

    away = _terminal("a", "n2", "c2")
    for answered in (True, False):
        router = _Router({}, kicked=answered)
        reach, _, _ = _parts(router, Watching(Registry()))
        pending = reach.kick(APP, away, "kickout")
        assert pending is not None
        await pending
        assert router.kicks == [("n2", "c2", "kickout")]
    assert dropped == [away]  # only when the kick was not answered


async def test_a_node_alone_asks_nobody() -> None:
    router = LocalRouter()
    assert await router.push("elsewhere", ["c1", "c2"], "x") == [False, False]
    assert await router.kick("elsewhere", "c1", "kickout") is False
    reach, terminals, _ = _parts(router)
    s = _session("u", "c1")
    terminals.registry.add(s)
    kicked = reach.kick(APP, _terminal("u", "local", "c1"), "kickout")
    assert kicked is None and s.ended  # its own session: kicked at once, nothing to wait for


async def test_a_kick_for_a_login_not_registered_yet_waits_for_it() -> None:
    reach, terminals, _ = _parts(LocalRouter())
    assert await reach.kicked("c9", "force_login") is False
    link = _Link()
    s = _session("late", "c9", link)
    terminals.register(s, _app(), 1)
    assert s.ended and '"force_login"' in link.sent[-1]


async def test_a_kick_here_for_a_login_claimed_but_not_registered_waits_for_it() -> None:
    """In a cluster a login's place is in Redis before its session is registered here:
    a kickout on this node that lists it in between kicks it as it registers."""
    reach, terminals, _ = _parts(LocalRouter())
    assert reach.kick(APP, _terminal("late", "local", "c8"), "kickout") is None
    link = _Link()
    s = _session("late", "c8", link)
    terminals.register(s, _app(), 1)
    assert s.ended and '"kickout"' in link.sent[-1]


async def test_logins_of_one_terminal_take_turns_and_others_do_not_wait() -> None:
    turns = Turns()
    order: list[str] = []
    first_in = asyncio.Event()

    async def login(name: str, hold: Awaitable[object] | None) -> None:
        async with turns.of((APP, "u", "web")):
            order.append(f"{name} in")
            if hold is not None:
                first_in.set()
                await hold
            order.append(f"{name} out")

    release = asyncio.Event()
    first = asyncio.create_task(login("first", release.wait()))
    await first_in.wait()
    second = asyncio.create_task(login("second", None))
    other = asyncio.create_task(_other_terminal(turns, order))
    await other  # another terminal's login does not wait for this one's
    release.set()
    await asyncio.gather(first, second)
    assert order == ["first in", "other", "first out", "second in", "second out"]


async def _other_terminal(turns: Turns, order: list[str]) -> None:
    async with turns.of((APP, "v", "web")):
        order.append("other")


def _app() -> App:
    return App(
        app_id=APP,
        dev_id="d" * 32,
        app_name="a",
        app_secret="s" * 16,
        status="online",
        consumption_limit=None,
        services=[],
        created_at=0,
        updated_at=0,
    )
