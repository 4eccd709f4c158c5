"""What the REST API asks of the online service (the app is known to be the caller's)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from hstgw.online.core import OnlineCore
from hstgw.online.frames import check_body, dumps
from hstgw.online.presence import Terminal

__all__ = ["Deliveries"]


class Deliveries(OnlineCore):
    async def kickout(self, app_id: str, user_id: str, mutex_type: str | None) -> int:
        """Kick the user's terminals (of ``mutex_type`` if given) on every node; the
        number kicked. Returns once presence shows them offline."""
        terminals = [
            t
            for t in await self.presence.of_user(app_id, user_id)
            if mutex_type is None or t.mutex_type == mutex_type
        ]
        pending = [self._kick_terminal(app_id, t, "kickout") for t in terminals]
        waits = [w for w in pending if w is not None]
        if waits:
            await asyncio.gather(*waits)
        return len(terminals)

    async def user_state(
        self, app_id: str, company_id: str | None, user_ids: set[str] | None
    ) -> list[dict[str, Any]]:
        def wanted(user_id: str, company: str) -> bool:
            return (company_id is None or company == company_id) and (
                user_ids is None or user_id in user_ids
            )

        online, offline = await asyncio.gather(
            self.presence.online(app_id),
            self.presence.offline(app_id, self._clock() - self.config.retention_s * 1000),
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
        return [
            {"state": state, "user_id": u, "terminal_seq_num": guid, "mutex_type": m}
            for u, m, state, guid in rows
        ]

    async def trans_cmd(
        self,
        app_id: str,
        msg_id: int,
        trans_mess: dict[str, Any],
        targets: Iterable[tuple[str, str, str]],
    ) -> list[dict[str, Any]]:
        """Per target: 0 delivered, 1 failed (its connection or its node did not take
        it in time), 2 not online."""
        check_body(trans_mess, "trans_mess")
        text = dumps({"type": "trans_cmd", "msg_id": msg_id, "trans_mess": trans_mess})
        wanted = list(targets)
        found = await self.presence.find(app_id, [(u, m) for u, m, _ in wanted])
        reachable: list[Terminal] = []
        where: list[int] = []
        for i, ((_, _, guid), t) in enumerate(zip(wanted, found, strict=True)):
            if t is not None and (not guid or t.client_guid == guid):
                reachable.append(t)
                where.append(i)
        done = await self.deliver(app_id, reachable, text)
        outcome: dict[int, tuple[int, str]] = {
            i: (0 if ok else 1, t.client_guid)
            for i, t, ok in zip(where, reachable, done, strict=True)
        }
        return [
            {
                "result": outcome.get(i, (2, guid))[0],
                "user_id": user_id,
                "terminal_seq_num": outcome.get(i, (2, guid))[1],
                "mutex_type": mutex_type,
            }
            for i, (user_id, mutex_type, guid) in enumerate(wanted)
        ]
