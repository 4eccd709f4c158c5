"""Routing between nodes: reaching a terminal wherever it is connected.

``Router`` is how this node talks to the others; it is chosen once, where the
gateway is put together (``hstgw.gateway``): ``LocalRouter`` when this node is
alone (every terminal is one of its own sessions, so there is nobody to ask), or
``hstgw.cluster.routing.BusRouter`` over Redis pub/sub. ``Reach`` writes to this
node's sessions itself and asks the router for the rest; it also answers what the
other nodes ask of this one (``NodeRequests``).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Protocol

from hstgw.online.presence import Presence, Terminal
from hstgw.online.scope import ScopeNotices
from hstgw.online.terminals import LocalTerminals
from hstgw.online.usage import UsageCounters

__all__ = ["DELIVERED", "FAILED", "NOT_ONLINE", "LocalRouter", "NodeRequests", "Reach", "Router"]

# A delivery's outcome for one target (the trans-cmd result's numbers).
DELIVERED, FAILED, NOT_ONLINE = 0, 1, 2


class NodeRequests(Protocol):
    """What another node may ask of this one."""

    def pushed(self, conns: list[str], text: str) -> list[bool]:
        """Write ``text`` to each of these logins of this node: whether each took it."""

    def kicked(self, conn: str, reason: str) -> Awaitable[bool]:
        """Kick this login of this node; False if it is not (yet) registered here."""

    def scope_changed(self, app_id: str, company_id: str, text: str, except_conn: str) -> None:
        """A terminal of another node came or went: tell this node's of its scope."""


class Router(Protocol):
    """This node's way to the others."""

    def serve(self, requests: NodeRequests) -> None:
        """Hand the other nodes' requests to ``requests`` from now on."""

    async def push(self, node: str, conns: list[str], text: str) -> list[bool]:
        """Whether each login of ``node`` took ``text`` (all False if it did not answer)."""

    async def kick(self, node: str, conn: str, reason: str) -> bool:
        """Kick a login of ``node``; False if the node did not answer in time."""

    def broadcast_scope(self, app_id: str, company_id: str, text: str, except_conn: str) -> None:
        """Tell every other node's terminals of the scope (without waiting)."""


class LocalRouter:
    """A node alone: no other node holds a terminal, and none hears a broadcast."""

    def serve(self, requests: NodeRequests) -> None:
        return None

    async def push(self, node: str, conns: list[str], text: str) -> list[bool]:
        return [False] * len(conns)

    async def kick(self, node: str, conn: str, reason: str) -> bool:
        return False

    def broadcast_scope(self, app_id: str, company_id: str, text: str, except_conn: str) -> None:
        return None


class Reach:
    """Kicks and deliveries to terminals on any node, and the other nodes' requests."""

    def __init__(
        self,
        terminals: LocalTerminals,
        scope: ScopeNotices,
        presence: Presence,
        router: Router,
        usage: UsageCounters,
        clock: Callable[[], int],
    ) -> None:
        self._terminals = terminals
        self._scope = scope
        self._presence = presence
        self._router = router
        self._usage = usage
        self._clock = clock
        self.node = presence.node
        router.serve(self)

    def kick(self, app_id: str, t: Terminal, reason: str) -> Awaitable[object] | None:
        """Kick ``t``; what remains to wait for until presence shows it offline, if anything."""
        if t.node == self.node:
            s = self._terminals.registry.by_conn(t.conn)
            if s is None:  # (claimed in a cluster's presence, its login not yet through)
                self._terminals.kick_on_register(t.conn, reason)
                return None
            return self._terminals.kick(s, reason)
        return self._terminals.spawn(self._kick_remote(app_id, t, reason))

    async def _kick_remote(self, app_id: str, t: Terminal, reason: str) -> None:
        if not await self._router.kick(t.node, t.conn, reason):
            # its node did not answer: take it offline from here
            await self._presence.drop(app_id, t, self._clock())

    async def deliver_to(
        self, app_id: str, targets: list[tuple[str, str, str]], text: str
    ) -> list[tuple[int, str]]:
        """Write ``text`` to the terminal at each (user_id, mutex_type, client_guid or
        ""): per target (0 delivered, 1 its connection or node did not take it, 2 not
        online; the client_guid of the terminal, or the one asked for).

        A node alone looks its sessions up and writes to them in one pass: a fan-out
        to 10,000 terminals is as many dictionary lookups and writes, without a record
        per terminal, a second lookup and two more lists (issue 16's fan-out)."""
        if not self._presence.alone:
            return await self._find_and_deliver(app_id, targets, text)
        get = self._terminals.registry.get
        out: list[tuple[int, str]] = []
        add = out.append
        delivered = 0
        for user_id, mutex_type, guid in targets:
            s = get((app_id, user_id, mutex_type))
            if s is None or (guid and s.client_guid != guid):
                add((NOT_ONLINE, guid))
            elif s.link.push(text):
                delivered += 1
                add((DELIVERED, s.client_guid))
            else:
                add((FAILED, s.client_guid))
        if delivered:
            self._usage.received(app_id, delivered)
        return out

    async def _find_and_deliver(
        self, app_id: str, targets: list[tuple[str, str, str]], text: str
    ) -> list[tuple[int, str]]:
        found = await self._presence.find(app_id, [(u, m) for u, m, _ in targets])
        reachable: list[Terminal] = []
        where: list[int] = []
        for i, ((_, _, guid), t) in enumerate(zip(targets, found, strict=True)):
            if t is not None and (not guid or t.client_guid == guid):
                reachable.append(t)
                where.append(i)
        out = [(NOT_ONLINE, guid) for _, _, guid in targets]
        done = await self.deliver(app_id, reachable, text)
        for i, t, ok in zip(where, reachable, done, strict=True):
            out[i] = (DELIVERED if ok else FAILED, t.client_guid)
        return out

    async def deliver(self, app_id: str, targets: list[Terminal], text: str) -> list[bool]:
        """Write ``text`` to each terminal: whether each one's connection took it.

        Terminals of this node are written to at once; those of other nodes by one
        request per node, all at the same time; a node that does not answer within
        the route timeout counts as not delivered.
        """
        done = [False] * len(targets)
        remote: dict[str, list[int]] = defaultdict(list)
        get = self._terminals.registry.by_conn
        for i, t in enumerate(targets):
            if t.node == self.node:
                s = get(t.conn)
                done[i] = s is not None and s.link.push(text)
            else:
                remote[t.node].append(i)
        if remote:
            nodes = list(remote)
            answers = await asyncio.gather(
                *(
                    self._router.push(node, [targets[i].conn for i in remote[node]], text)
                    for node in nodes
                )
            )
            for node, answer in zip(nodes, answers, strict=True):
                for i, ok in zip(remote[node], answer, strict=True):
                    done[i] = ok
        delivered = sum(done)
        if delivered:
            self._usage.received(app_id, delivered)
        return done

    # what other nodes ask (NodeRequests)

    def pushed(self, conns: list[str], text: str) -> list[bool]:
        return self._terminals.push(conns, text)

    def kicked(self, conn: str, reason: str) -> Awaitable[bool]:
        return self._terminals.kick_conn(conn, reason)

    def scope_changed(self, app_id: str, company_id: str, text: str, except_conn: str) -> None:
        self._scope.push_local(app_id, company_id, text, except_conn)
