"""Scope notifications: the terminals of one app and company hear who comes and goes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hstgw.online.frames import dumps
from hstgw.online.registry import Registry
from hstgw.online.session import Session

if TYPE_CHECKING:
    from hstgw.online.routing import Router

__all__ = ["ScopeNotices"]


class ScopeNotices:
    def __init__(self, registry: Registry, router: Router) -> None:
        self._registry = registry
        self._router = router

    def notify(self, session: Session, state: int) -> int:
        """``session`` came (state 1, or changed its custom_state) or went (0); how many
        terminals of this node were told."""
        return self.tell(
            session.app_id, session.company_id, session.describe(), state, session.conn
        )

    def tell(
        self, app_id: str, company_id: str, described: dict[str, object], state: int, conn: str
    ) -> int:
        """Tell the terminals of a scope, on every node, that the terminal ``described``
        (login ``conn``) came or went; how many terminals of this node were told."""
        text = dumps({"type": "online_state", "state": state, **described})
        told = self.push_local(app_id, company_id, text, conn)
        self._router.broadcast_scope(app_id, company_id, text, conn)
        return told

    def push_local(self, app_id: str, company_id: str, text: str, except_conn: str) -> int:
        """Write ``text`` to this node's terminals of the scope, but ``except_conn``;
        how many."""
        told = 0
        for other in self._registry.in_scope(app_id, company_id):
            if other.conn != except_conn:
                other.link.push(text)
                told += 1
        return told
