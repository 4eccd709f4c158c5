"""The serving process's cache of live apps."""

from __future__ import annotations

from hstgw.store.base import App

__all__ = ["AppCache"]


class AppCache:
    """Live apps by id, filled on reads and kept exact by this process's writes.

    ``generation`` moves on every write, so a read that raced a write (and may
    have read the old row) does not fill the cache with it.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._apps: dict[str, App] = {}
        self.generation = 0

    def get(self, app_id: str) -> App | None:
        return self._apps.get(app_id)

    def fill(self, app: App, generation: int) -> None:
        if self._capacity and generation == self.generation:
            self._insert(app)

    def put(self, app: App) -> None:
        self.generation += 1
        if self._capacity:
            self._insert(app)

    def drop(self, app_id: str) -> None:
        self.generation += 1
        self._apps.pop(app_id, None)

    def clear(self) -> None:
        self.generation += 1
        self._apps.clear()

    def _insert(self, app: App) -> None:
        if app.app_id not in self._apps and len(self._apps) >= self._capacity:
            del self._apps[next(iter(self._apps))]  # the oldest entry
        self._apps[app.app_id] = app
