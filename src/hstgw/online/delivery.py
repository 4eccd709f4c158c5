"""What the app's backend asks of the online service (REST): kickout, user state,
trans-cmd and invite. Each takes the caller and checks the app is its own first
(another developer's app is no such app, as everywhere), then, for what reaches
terminals, that its signaling use is allowed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from hstgw.abuse import Guard
from hstgw.apps import owned_app
from hstgw.billing.quota import Quota
from hstgw.errors import OperationFailed
from hstgw.online.config import OnlineConfig
from hstgw.online.frames import check_body, dumps
from hstgw.online.invites import Invites
from hstgw.online.presence import Presence
from hstgw.online.routing import Reach
from hstgw.store import App, Store

__all__ = ["Deliveries"]


# A listing of an app's terminals costs a call for each this many entries it reads
# (~1.3 µs an entry: 100 of them about what an ordinary call costs the server, ~50 µs).
LISTED_PER_CALL = 100


class Deliveries:
    def __init__(
        self,
        store: Store,
        presence: Presence,
        reach: Reach,
        invites: Invites,
        quota: Quota,
        config: OnlineConfig,
        clock: Callable[[], int],
        guard: Guard | None = None,
    ) -> None:
        self._guard = guard
        self._store = store
        self._presence = presence
        self._reach = reach
        self._invites = invites
        self._quota = quota
        self._retention_ms = config.retention_s * 1000
        self._clock = clock

    async def _signaling_app(self, dev_id: str, app_id: str) -> App:
        """``dev_id``'s app, if it may send signaling (billed receptions) now."""
        app = await owned_app(self._store, dev_id, app_id)
        refusal = await self._quota.signaling_refusal(app)
        if refusal is not None:
            raise OperationFailed(refusal)
        return app

    async def kickout(self, dev_id: str, app_id: str, user_id: str, mutex_type: str | None) -> int:
        """Kick the user's terminals (of ``mutex_type`` if given) on every node; the
        number kicked. Returns once presence shows them offline.

        The user's resume credentials go first (in every company, every terminal's,
        online or not: one reconnecting as it is kicked would come back by the credential
        of its last login): a kicked terminal comes back only with a new token from the
        backend, not by reconnecting."""
        await owned_app(self._store, dev_id, app_id)
        # First the credentials (and a new kickout mark), then the terminals: a login
        # by resume under way as this runs, which read the mark before, is refused when
        # it takes its place (admission.py).
        await self._presence.forget_resumes(app_id, user_id)
        terminals = [
            t
            for t in await self._presence.of_user(app_id, user_id)
            if mutex_type is None or t.mutex_type == mutex_type
        ]
        pending = [self._reach.kick(app_id, t, "kickout") for t in terminals]
        waits = [w for w in pending if w is not None]
        if waits:
            await asyncio.gather(*waits)
        return len(terminals)

    async def user_state(
        self,
        dev_id: str,
        app_id: str,
        company_id: str | None,
        user_ids: set[str] | None,
        page: int,
        page_size: int,
    ) -> tuple[int, list[dict[str, Any]]]:
        """One page of the app's terminals, online (state 1) or offline within the
        retention window (0), by user_id and mutex_type; and how many in all."""
        await owned_app(self._store, dev_id, app_id)
        await self._charge_listing(dev_id, app_id)

        def wanted(user_id: str, company: str) -> bool:
            return (company_id is None or company == company_id) and (
                user_ids is None or user_id in user_ids
            )

        online, offline = await asyncio.gather(
            self._presence.online(app_id),
            self._presence.offline(app_id, self._clock() - self._retention_ms),
        )
        rows = [
            (t.user_id, t.mutex_type, 1, t.client_guid)
            for t in online
            if wanted(t.user_id, t.company_id)
        ]
        rows += [
            (o.user_id, o.mutex_type, 0, o.client_guid)
            for o in offline
            if wanted(o.user_id, o.company_id)
        ]
        rows.sort()
        start = (page - 1) * page_size
        return len(rows), [
            {"state": state, "user_id": u, "terminal_seq_num": guid, "mutex_type": m}
            for u, m, state, guid in rows[start : start + page_size]
        ]

    async def _charge_listing(self, dev_id: str, app_id: str) -> None:
        """A listing (each of its pages) reads and sorts every entry of the app: past the
        call it is, one call more for each ``LISTED_PER_CALL`` entries, from the
        developer's rate (HSTGW_LIMIT_CALLS_PER_DEVELOPER), or 606000006; so that one
        developer's listings of a large app cannot take the event loop from the others."""
        if self._guard is None:
            return
        more = await self._presence.listed(app_id) // LISTED_PER_CALL
        if more:
            await self._guard.charge(dev_id, more)

    async def online_count(self, dev_id: str, app_id: str) -> int:
        """How many of the app's terminals are online now, on every node."""
        await owned_app(self._store, dev_id, app_id)
        return await self._presence.count(app_id)

    async def terminals(
        self, dev_id: str, app_id: str, user_part: str, page: int, page_size: int
    ) -> tuple[int, list[dict[str, Any]]]:
        """The app's terminals as ``user_state`` lists them, with their company and since
        when (ms) they are online, or gone; only users whose id contains ``user_part``."""
        await owned_app(self._store, dev_id, app_id)
        await self._charge_listing(dev_id, app_id)
        online, offline = await asyncio.gather(
            self._presence.online(app_id),
            self._presence.offline(app_id, self._clock() - self._retention_ms),
        )
        rows = [
            (t.user_id, t.mutex_type, 1, t.client_guid, t.company_id, t.since_ms)
            for t in online
            if user_part in t.user_id
        ]
        rows += [
            (o.user_id, o.mutex_type, 0, o.client_guid, o.company_id, o.since_ms)
            for o in offline
            if user_part in o.user_id
        ]
        rows.sort(key=lambda r: (-r[2], r[0], r[1]))  # online first
        start = (page - 1) * page_size
        return len(rows), [
            {"user_id": u, "mutex_type": m, "state": st, "client_guid": g, "company_id": c,
             "since_ms": since}
            for u, m, st, g, c, since in rows[start : start + page_size]
        ]  # fmt: skip

    async def trans_cmd(
        self,
        dev_id: str,
        app_id: str,
        msg_id: int,
        trans_mess: dict[str, Any],
        targets: Iterable[tuple[str, str, str]],
    ) -> list[dict[str, Any]]:
        """Per target (user_id, mutex_type, client_guid or ""): 0 delivered, 1 failed
        (its connection or its node did not take it in time), 2 not online."""
        await self._signaling_app(dev_id, app_id)
        check_body(trans_mess, "trans_mess")
        text = dumps({"type": "trans_cmd", "msg_id": msg_id, "trans_mess": trans_mess})
        wanted = list(targets)
        outcome = await self._reach.deliver_to(app_id, wanted, text)
        return [
            {"result": result, "user_id": user_id, "terminal_seq_num": guid, "mutex_type": mutex}
            for (user_id, mutex, _), (result, guid) in zip(wanted, outcome, strict=True)
        ]

    async def invite(
        self,
        dev_id: str,
        app_id: str,
        group_id: str,
        user_ids: Iterable[str],
        seq_id: int,
        extend_info: dict[str, Any] | None,
    ) -> list[str]:
        """The app's backend invites the users to a group; the users none reached."""
        await self._signaling_app(dev_id, app_id)
        return await self._invites.send(dev_id, app_id, group_id, user_ids, seq_id, extend_info)
