"""Routing between nodes over the bus: ``hstgw.online.routing.Router`` for a cluster.

A request names the node holding a terminal and waits for its answer at most
``timeout_s`` (HSTGW_ROUTE_TIMEOUT); a node that does not answer in time counts as
not having done it. The messages' bodies are this module's: ``push`` {conns, text},
``kick`` {conn, reason}, ``scope`` {app, company_id, text, except_conn}.
"""

from __future__ import annotations

from typing import Any

from hstgw.cluster.bus import Bus
from hstgw.online.routing import NodeRequests

__all__ = ["BusRouter"]


class BusRouter:
    def __init__(self, bus: Bus, timeout_s: float) -> None:
        self._bus = bus
        self._timeout_s = timeout_s

    def serve(self, requests: NodeRequests) -> None:
        def scope(body: dict[str, Any]) -> None:
            # From a node of the previous version: "co" and "x" (see broadcast_scope).
            company_id = body["company_id"] if "company_id" in body else body["co"]
            except_conn = body["except_conn"] if "except_conn" in body else body["x"]
            requests.scope_changed(body["app"], company_id, body["text"], except_conn)

        self._bus.on("push", lambda body: requests.pushed(body["conns"], body["text"]))
        self._bus.on("kick", lambda body: requests.kicked(body["conn"], body["reason"]))
        self._bus.on("scope", scope)

    async def push(self, node: str, conns: list[str], text: str) -> list[bool]:
        answer = await self._bus.request(
            node, "push", {"conns": conns, "text": text}, self._timeout_s
        )
        if isinstance(answer, list) and len(answer) == len(conns):
            return [bool(ok) for ok in answer]
        return [False] * len(conns)

    async def kick(self, node: str, conn: str, reason: str) -> bool:
        body = {"conn": conn, "reason": reason}
        return await self._bus.request(node, "kick", body, self._timeout_s) is not None

    def broadcast_scope(self, app_id: str, company_id: str, text: str, except_conn: str) -> None:
        # "co" and "x" are the previous version's names, sent until the release after
        # this one (a rolling upgrade may mix the two: cluster/bus.py).
        self._bus.broadcast(
            "scope",
            {
                "app": app_id,
                "company_id": company_id,
                "text": text,
                "except_conn": except_conn,
                "co": company_id,
                "x": except_conn,
            },
        )
