"""Presence in one process: who is online, by terminal, by user and by scope,
and who was, for the retention window.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from hstgw.online.session import Session, TerminalKey

__all__ = ["Offline", "Registry"]


@dataclass(slots=True)
class Offline:
    user_id: str
    mutex_type: str
    client_guid: str
    company_id: str
    since_ms: int


# app_id -> (user_id, mutex_type) -> who went offline
OfflineIndex = MutableMapping[str, dict[tuple[str, str], "Offline"]]


class Registry:
    def __init__(self, offline: OfflineIndex | None = None) -> None:
        """``offline``: where the offline entries are kept (a test counts its visits)."""
        self._terminals: dict[TerminalKey, Session] = {}
        self._by_conn: dict[str, Session] = {}
        self._by_user: dict[tuple[str, str], dict[str, Session]] = {}
        self._by_scope: dict[tuple[str, str], dict[TerminalKey, Session]] = {}
        self._by_app: dict[str, dict[TerminalKey, Session]] = {}
        # app_id -> (user_id, mutex_type) -> who went offline: one app's reads never
        # visit another app's entries.
        self._offline: OfflineIndex = offline if offline is not None else {}

    def __len__(self) -> int:
        return len(self._terminals)

    def get(self, key: TerminalKey) -> Session | None:
        return self._terminals.get(key)

    def by_conn(self, conn: str) -> Session | None:
        return self._by_conn.get(conn)

    def add(self, s: Session) -> None:
        key = s.key
        self._terminals[key] = s
        self._by_conn[s.conn] = s
        self._by_user.setdefault((s.app_id, s.user_id), {})[s.mutex_type] = s
        self._by_scope.setdefault(s.scope, {})[key] = s
        self._by_app.setdefault(s.app_id, {})[key] = s
        _discard(self._offline, s.app_id, (s.user_id, s.mutex_type))

    def remove(self, s: Session, now_ms: int) -> bool:
        """Take ``s`` out (if it is still the one registered); it stays listed offline."""
        key = s.key
        if self._terminals.get(key) is not s:
            return False
        del self._terminals[key]
        self._by_conn.pop(s.conn, None)
        _discard(self._by_user, (s.app_id, s.user_id), s.mutex_type)
        _discard(self._by_scope, s.scope, key)
        _discard(self._by_app, s.app_id, key)
        self._offline.setdefault(s.app_id, {})[(s.user_id, s.mutex_type)] = Offline(
            s.user_id, s.mutex_type, s.client_guid, s.company_id, now_ms
        )
        return True

    def of_user(self, app_id: str, user_id: str) -> list[Session]:
        return list(self._by_user.get((app_id, user_id), {}).values())

    def in_scope(self, app_id: str, company_id: str) -> Iterable[Session]:
        return self._by_scope.get((app_id, company_id), {}).values()

    def of_app(self, app_id: str) -> list[Session]:
        return list(self._by_app.get(app_id, {}).values())

    def app_count(self, app_id: str) -> int:
        return len(self._by_app.get(app_id, {}))

    def offline_of_app(self, app_id: str) -> Iterable[Offline]:
        return self._offline.get(app_id, {}).values()

    def forget_offline(self, app_id: str, user_id: str, mutex_type: str) -> None:
        _discard(self._offline, app_id, (user_id, mutex_type))

    def offline_count(self, app_id: str) -> int:
        return len(self._offline.get(app_id, ()))

    def all(self) -> list[Session]:
        return list(self._terminals.values())

    def prune_offline(self, before_ms: int) -> int:
        count = 0
        for app_id in list(self._offline):
            entries = self._offline[app_id]
            old = [k for k, o in entries.items() if o.since_ms < before_ms]
            for k in old:
                del entries[k]
            if not entries:
                del self._offline[app_id]
            count += len(old)
        return count


def _discard(index: MutableMapping[Any, dict[Any, Any]], outer: object, inner: object) -> None:
    bucket = index.get(outer)
    if bucket is not None:
        bucket.pop(inner, None)
        if not bucket:
            del index[outer]
