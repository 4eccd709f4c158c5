"""Where processes of one developer share an access_token (seed: "access_token最好全局托管").

The gateway keeps one live access_token per developer, and each new one supersedes the
last: two processes that each take their own (a backend's replicas, a backend and the
``hstgw`` CLI) supersede each other's, and their event streams end and start again
with every new token. A ``TokenStore`` shared by them holds the one token they all use;
one fetches it, under the store's lock, and the others read it.

``FileTokenStore`` is such a store for the processes of one machine; a store for several
machines (Redis, a database) implements the same three methods.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import NamedTuple, Protocol

try:
    import fcntl
except ImportError:  # (Windows: no lock; two processes may fetch at once, then agree)
    fcntl = None  # type: ignore[assignment]

__all__ = ["FileTokenStore", "StoredToken", "TokenStore"]

log = logging.getLogger("hstgw.sdk")


class StoredToken(NamedTuple):
    """An access_token and when to take the next one, in seconds since the epoch."""

    access_token: str
    refresh_at: float  # a process that reads it after this time fetches a new one
    expires_at: float


class TokenStore(Protocol):
    """The access_token of each ``key`` (the gateway's URL and the dev_id), shared."""

    def load(self, key: str) -> StoredToken | None:
        """The token kept for ``key``, if any (None as well if it cannot be read)."""

    def save(self, key: str, token: StoredToken) -> None:
        """Keep ``token`` for ``key``: called with the lock held."""

    def lock(self, key: str) -> AbstractContextManager[object]:
        """Held by the one process that fetches a token for ``key``; blocks the others
        until it has saved it."""


class FileTokenStore:
    """Tokens in a JSON file, readable by its owner only, replaced whole on each write;
    a lock file beside it (``<path>.lock``, ``flock``) lets one process fetch at a time.

    A file that cannot be read or parsed counts as empty: the token is fetched again
    and the file rewritten.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self, key: str) -> StoredToken | None:
        entry = self._entries().get(key)
        if not isinstance(entry, dict):
            return None
        try:
            token = entry["access_token"]
            times = float(entry["refresh_at"]), float(entry["expires_at"])
        except (KeyError, TypeError, ValueError):
            return None
        return StoredToken(token, *times) if isinstance(token, str) else None

    def save(self, key: str, token: StoredToken) -> None:
        entries = self._entries()
        entries[key] = token._asdict()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
            try:  # (mkstemp's file is 0600: the token never sits in a readable file)
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(entries, f)
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:  # the token still works in this process
            log.warning("access_token not kept in %s: %s", self.path, exc)

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[object]:
        if fcntl is None:
            yield None
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            log.warning("access_token store %s not locked: %s", self.path, exc)
            yield None
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield None
        finally:
            os.close(fd)  # (releases the lock)

    def _entries(self) -> dict[str, object]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}
