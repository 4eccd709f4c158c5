"""The event gateway's business side: who a connection is, which apps it may hear,
and what the event log tells it. No WebSocket here (``listener`` is the transport).

Every rule that guards a tenant is here, whatever the path in: a developer logs in
with its own access_token (through ``AccessTokens``, as REST does, behind the same
per-address limit on failures), and subscribes to or syncs only its own apps
(``owned_app``, as every service acting on an app checks).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from hstgw.abuse import Guard
from hstgw.apps import owned_app
from hstgw.errors import AuthenticationFailed, ParameterInvalid, SystemBusy
from hstgw.events.model import Event, EventFeed, GroupSnapshot
from hstgw.events.snapshots import Snapshots
from hstgw.store import Store
from hstgw.tokens.access import AccessTokens

__all__ = ["EventGatewayService"]

log = logging.getLogger("hstgw.egw")


class EventGatewayService:
    def __init__(
        self,
        store: Store,
        tokens: AccessTokens,
        guard: Guard | None,
        feed: EventFeed,
        snapshots: Snapshots,
        *,
        max_sessions: int = 0,
    ) -> None:
        self._store = store
        self._tokens = tokens
        self._guard = guard
        self.feed = feed
        self._snapshots = snapshots
        self._max_sessions = max_sessions
        self._sessions: dict[str, int] = {}  # dev_id -> its sessions open on this node

    def opened(self, dev_id: str) -> None:
        """A session of ``dev_id`` begins (after its login), or 606000006 if the
        developer holds ``max_sessions`` on this node already; pair with ``closed``."""
        held = self._sessions.get(dev_id, 0)
        if self._max_sessions and held >= self._max_sessions:
            raise SystemBusy(
                f"a developer may hold at most {self._max_sessions} event gateway sessions"
            )
        self._sessions[dev_id] = held + 1

    def closed(self, dev_id: str) -> None:
        held = self._sessions.get(dev_id, 0) - 1
        if held > 0:
            self._sessions[dev_id] = held
        else:
            self._sessions.pop(dev_id, None)

    async def login(self, dev_id: str, token: str, address: str) -> None:
        """Refuse a login whose ``token`` is not ``dev_id``'s live access_token
        (606000000, or 606000001 for one expired or superseded); an address past its
        failed authentications is refused first (606000006), as on REST."""
        guard = self._guard
        if guard is not None:
            await guard.check_address(address)
        try:
            owner = await self._tokens.authenticate(token)
            if owner != dev_id:
                log.info("event gateway login with another developer's token")
                raise AuthenticationFailed()
        except AuthenticationFailed:
            if guard is not None:
                await guard.failed(address)
            raise

    async def allow(self, dev_id: str, cost: int = 1) -> None:
        """A request of ``dev_id``'s: within its calls' rate, the one REST counts too
        (HSTGW_LIMIT_CALLS_PER_DEVELOPER), or 606000006. ``cost``: the calls it is
        worth (a sync of n apps reads n snapshots: n calls, as n REST reads would be)."""
        if self._guard is not None:
            await self._guard.charge(dev_id, cost)

    async def check(self, dev_id: str, token: str) -> None:
        """Whether ``token`` is still ``dev_id``'s live access_token (raises if not)."""
        if await self._tokens.authenticate(token) != dev_id:
            raise AuthenticationFailed()

    async def exists(self, app_id: str) -> bool:
        """Whether the app is still there (not deleted since it was subscribed to)."""
        return await self._store.find_app(app_id) is not None

    async def own(self, dev_id: str, app_ids: Sequence[str]) -> None:
        """Refuse unless every app is ``dev_id``'s; the error names the first that is not
        (another developer's app is no app at all to the caller)."""
        for i, app_id in enumerate(app_ids):
            try:
                await owned_app(self._store, dev_id, app_id)
            except ParameterInvalid as exc:
                raise ParameterInvalid(f"app_list[{i}].app_id", exc.reason) from None

    async def snapshot(
        self, dev_id: str, app_id: str, group_ids: Sequence[str] | None
    ) -> GroupSnapshot:
        """(Of an app already checked with ``own``.) Charged by its size, as every
        path's snapshot is (``Snapshots``)."""
        return await self._snapshots.read(dev_id, app_id, group_ids)

    async def version(self, app_id: str) -> int:
        return await self.feed.version(app_id)

    async def after(self, app_id: str, version: int, limit: int) -> list[Event] | None:
        return await self.feed.after(app_id, version, limit)
