"""Node credentials: the media and recording nodes that report usage, and their keys."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable

from hstgw.errors import AuthenticationFailed
from hstgw.ids import new_id
from hstgw.store import Node, NodeStore

__all__ = ["Nodes", "key_hash"]


def key_hash(key: str) -> str:
    """What the store keeps of a node key (a key is random: no salt or stretching needed)."""
    return hashlib.sha256(key.encode()).hexdigest()


class Nodes:
    """Credentials of the media and recording nodes that report usage."""

    def __init__(self, store: NodeStore, clock: Callable[[], int]) -> None:
        self._store = store
        self._clock = clock

    async def create(self, name: str = "") -> tuple[Node, str]:
        """A new node and its key; only the key's hash is kept."""
        key = secrets.token_urlsafe(32)
        node = Node(new_id(), name, "active", self._clock())
        await self._store.create_node(node, key_hash(key))
        return node, key

    async def list(self) -> list[Node]:
        return await self._store.list_nodes()

    async def revoke(self, node_id: str) -> bool:
        return await self._store.revoke_node(node_id)

    async def authenticate(self, authorization: str | None) -> str:
        """The node_id behind ``Bearer <node_key>``."""
        if not authorization or not authorization.startswith("Bearer "):
            raise AuthenticationFailed()
        node = await self._store.node_by_key(key_hash(authorization[7:].strip()))
        if node is None or node.status != "active":
            raise AuthenticationFailed()
        return node.node_id
