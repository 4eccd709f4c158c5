"""Developers: the operator's accounts for API callers (``hstgw dev ...``)."""

from __future__ import annotations

from collections.abc import Callable

from hstgw.ids import new_id, new_secret, now_ms
from hstgw.store import Developer, Store

__all__ = ["Developers", "UnknownDeveloper"]


class UnknownDeveloper(LookupError):
    def __init__(self, dev_id: str) -> None:
        self.dev_id = dev_id
        super().__init__(f"no developer {dev_id}")


class Developers:
    def __init__(self, store: Store, clock: Callable[[], int] = now_ms) -> None:
        self._store = store
        self._clock = clock

    async def create(self, name: str = "") -> Developer:
        dev = Developer(new_id(), name, new_secret(), "active", self._clock())
        await self._store.create_developer(dev)
        return dev

    async def list(self) -> list[Developer]:
        return await self._store.list_developers()

    async def active(self, dev_id: str) -> Developer | None:
        """The developer, while it is active (a console session asks on every page)."""
        dev = await self._store.get_developer(dev_id)
        return dev if dev is not None and dev.status == "active" else None

    async def reset_secret(self, dev_id: str) -> str:
        """A new secret; the developer's live access_token stops working at once."""
        secret = new_secret()
        if not await self._store.set_developer_secret(dev_id, secret):
            raise UnknownDeveloper(dev_id)
        return secret

    async def set_active(self, dev_id: str, active: bool) -> None:
        if not await self._store.set_developer_status(dev_id, "active" if active else "disabled"):
            raise UnknownDeveloper(dev_id)
