"""One tenant's terminals and entries stay its own (issue 10: items 4, 5, 6)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hstgw.online.presence import LocalPresence
from hstgw.online.registry import Registry
from hstgw.online.session import Session
from tests.online.conftest import OnlineApp, raw_login

pytestmark = pytest.mark.anyio

APP_A, APP_B = "a" * 32, "b" * 32


class _Link:
    def push(self, text: str) -> bool:
        return True

    def close(self, code: int, reason: str) -> None:
        return None


class _Counting(dict[Any, Any]):
    """A dict that counts the entries handed out by iterating it."""

    visited = 0

    def _count(self, it: Iterator[Any]) -> Iterator[Any]:
        for x in it:
            type(self).visited += 1
            yield x

    def items(self) -> Any:
        return self._count(iter(super().items()))

    def values(self) -> Any:
        return self._count(iter(super().values()))

    def __iter__(self) -> Iterator[Any]:
        return self._count(super().__iter__())


def _session(app_id: str, user_id: str) -> Session:
    return Session(_Link(), app_id, user_id, "web", "", "", "", "", 0.0, f"{app_id}-{user_id}")


async def test_offline_entries_of_one_app_are_not_visited_for_another() -> None:
    registry = Registry()
    presence = LocalPresence(registry)
    for i in range(2000):  # app A's terminals come and go
        s = _session(APP_A, f"user{i}")
        registry.add(s)
        registry.remove(s, 1000)
    b = _session(APP_B, "bob")
    registry.add(b)
    registry.remove(b, 1000)
    counting = _Counting(registry._offline)
    registry._offline = counting
    listed = await presence.offline(APP_B, 0)
    assert [o.user_id for o in listed] == ["bob"]
    assert counting.visited <= 1  # app B's own entry at most, none of A's 2000
