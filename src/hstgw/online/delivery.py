"""What the REST API asks of the online service (the app is known to be the caller's)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hstgw.errors import ParameterInvalid
from hstgw.online import protocol as p
from hstgw.online.core import OnlineCore
from hstgw.online.frames import body_size, dumps

__all__ = ["Deliveries"]


class Deliveries(OnlineCore):
    def kickout(self, app_id: str, user_id: str, mutex_type: str | None) -> int:
        sessions = [
            s
            for s in self.registry.of_user(app_id, user_id)
            if mutex_type is None or s.mutex_type == mutex_type
        ]
        for s in sessions:
            self.kick(s, "kickout")
        return len(sessions)

    def user_state(
        self, app_id: str, company_id: str | None, user_ids: set[str] | None
    ) -> list[dict[str, Any]]:
        def wanted(user_id: str, company: str) -> bool:
            return (company_id is None or company == company_id) and (
                user_ids is None or user_id in user_ids
            )

        rows = [
            (s.user_id, s.mutex_type, 1, s.client_guid)
            for s in self.registry.of_app(app_id)
            if wanted(s.user_id, s.company_id)
        ]
        rows += [
            (o.user_id, o.mutex_type, 0, o.client_guid)
            for o in self.registry.offline_of_app(app_id)
            if wanted(o.user_id, o.company_id)
        ]
        rows.sort()
        return [
            {"state": state, "user_id": u, "terminal_seq_num": guid, "mutex_type": m}
            for u, m, state, guid in rows
        ]

    def trans_cmd(
        self,
        app_id: str,
        msg_id: int,
        trans_mess: dict[str, Any],
        targets: Iterable[tuple[str, str, str]],
    ) -> list[dict[str, Any]]:
        if body_size(trans_mess) > p.BODY_LIMIT:
            raise ParameterInvalid("trans_mess", f"larger than {p.BODY_LIMIT} bytes")
        text = dumps({"type": "trans_cmd", "msg_id": msg_id, "trans_mess": trans_mess})
        results = []
        delivered = 0
        get = self.registry.get
        for user_id, mutex_type, guid in targets:
            s = get((app_id, user_id, mutex_type))
            if s is None or (guid and s.client_guid != guid):
                result, seq_num = 2, guid
            elif s.link.push(text):
                result, seq_num = 0, s.client_guid
                delivered += 1
            else:
                result, seq_num = 1, s.client_guid
            results.append(
                {
                    "result": result,
                    "user_id": user_id,
                    "terminal_seq_num": seq_num,
                    "mutex_type": mutex_type,
                }
            )
        if delivered:
            self.usage.received(app_id, delivered)
        return results
