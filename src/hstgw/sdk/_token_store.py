"""Where processes of one developer share an access_token (seed: "access_token最好全局托管").

The gateway keeps one live access_token per developer, and each new one supersedes the
last: two processes that each take their own (a backend's replicas, a backend and the
``hstgw`` CLI) supersede each other's, and their event streams end and start again
with every new token. A ``TokenStore`` shared by them holds the one token they all use;
one fetches it, holding the store's lock, and the others read it.

``FileTokenStore`` is such a store for the processes of one machine; a store for several
machines (Redis, a database) implements the same four methods. They are called in the
client's own thread (an ``AsyncClient``'s: its event loop's), so each must return at
once: the lock is tried, never waited for (the client waits, between tries).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import NamedTuple, Protocol

try:
    import fcntl
except ImportError:  # (Windows: no lock; two processes may fetch at once, then agree)
    fcntl = None  # type: ignore[assignment]

__all__ = ["FileTokenStore", "StoredToken", "TokenStore"]

log = logging.getLogger("hstgw.sdk")
_TOKEN = re.compile(r"[0-9a-f]{32}")  # what the gateway issues (a kept token is checked)


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

    def try_lock(self, key: str) -> bool:
        """Take the lock of ``key`` if no one holds it, at once: whether it was taken.
        Its holder fetches a token and saves it; the others wait and read it."""

    def unlock(self, key: str) -> None:
        """Give back the lock ``try_lock`` took."""


class FileTokenStore:
    """Tokens in a JSON file, readable by its owner only, replaced whole on each write;
    a lock file beside it (``<path>.lock``, ``flock``) lets one process fetch at a time.

    The file is read only if the user running this owns it and no one else may write
    it: a token planted by another user would make this process act as that user's
    developer. Its directory should be private. A file that cannot be read or is not
    such a file counts as empty: the token is fetched again (and the file rewritten,
    if it can be).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._held: int | None = None  # the lock file's descriptor while locked
        self._guard = threading.Lock()  # (one store may serve several clients)

    def load(self, key: str) -> StoredToken | None:
        entry = self._entries().get(key)
        if not isinstance(entry, dict):
            return None
        token = entry.get("access_token")
        try:
            refresh_at, expires_at = float(entry["refresh_at"]), float(entry["expires_at"])
        except (KeyError, TypeError, ValueError, OverflowError):
            return None
        if not (isinstance(token, str) and _TOKEN.fullmatch(token)):
            return None
        if not (math.isfinite(refresh_at) and math.isfinite(expires_at)):
            return None
        return StoredToken(token, refresh_at, expires_at)

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

    def try_lock(self, key: str) -> bool:
        if fcntl is None:
            return True
        with self._guard:
            if self._held is not None:
                return False  # another client of this process holds it
            path = f"{self.path}.lock"
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            except OSError as exc:
                log.warning("access_token store %s not locked: %s", self.path, exc)
                return True  # (fetch all the same: the processes agree after)
            if not _private(fd):
                os.close(fd)
                log.warning("access_token store %s not locked: %s is not private", self.path, path)
                return True
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            self._held = fd
            return True

    def unlock(self, key: str) -> None:
        with self._guard:
            if self._held is not None:
                os.close(self._held)  # (gives the flock back)
                self._held = None

    def _entries(self) -> dict[str, object]:
        try:
            with open(self.path, encoding="utf-8") as f:
                if not _private(f.fileno()):
                    log.warning("access_token store %s not read: it is not private", self.path)
                    return {}
                data = json.loads(f.read())
        except (OSError, ValueError, RecursionError):
            return {}
        return data if isinstance(data, dict) else {}


def _private(fd: int) -> bool:
    """Whether the open file is this user's, and no one else may write it."""
    if not hasattr(os, "getuid"):
        return True  # (Windows: no owner ids; ACLs decide)
    st = os.fstat(fd)
    return st.st_uid == os.getuid() and not st.st_mode & 0o022
