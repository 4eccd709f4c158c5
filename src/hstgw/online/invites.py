"""Invites: from the app's backend (REST) or from a terminal, to every online
terminal of each invited user; the invitees may reply to the inviter."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from hstgw.errors import ParameterInvalid
from hstgw.online.frames import check_body, dumps
from hstgw.online.presence import Presence, Terminal
from hstgw.online.routing import Reach
from hstgw.online.session import Session

__all__ = ["Invites"]


class Invites:
    def __init__(self, presence: Presence, reach: Reach, clock: Callable[[], int]) -> None:
        self._presence = presence
        self._reach = reach
        self._clock = clock

    async def send(
        self,
        dev_id: str,
        app_id: str,
        group_id: str,
        user_ids: Iterable[str],
        seq_id: int,
        extend_info: dict[str, Any] | None,
        inviter: Session | None = None,
    ) -> list[str]:
        """Deliver an invite to every online terminal of each user; the users none
        reached. ``dev_id``: the app's developer (whose pending invites are bounded
        together); ``inviter``: the inviting terminal, None for the app's backend."""
        if extend_info is not None:
            check_body(extend_info, "extend_info")
        described_inviter = inviter.describe() if inviter is not None else {"backend": True}
        text = dumps(
            {
                "type": "invite",
                "group_id": group_id,
                "seq_id": seq_id,
                "extend_info": extend_info,
                "inviter": described_inviter,
            }
        )
        users = list(dict.fromkeys(user_ids))
        presence = self._presence
        per_user = await asyncio.gather(*(presence.of_user(app_id, u) for u in users))
        targets: list[Terminal] = []
        user_of: list[int] = []  # per target, its user's index in ``users``
        for i, terminals in enumerate(per_user):
            for t in terminals:
                # A terminal reaches only its app and company (docs/security.md).
                if inviter is None or (
                    t.conn != inviter.conn and t.company_id == inviter.company_id
                ):
                    targets.append(t)
                    user_of.append(i)
        # Only the users it can reach may reply to it, so only they are remembered: an
        # invite naming 500 users nobody runs costs no memory, nor a pending place
        # (docs/security.md).
        invitees = [users[i] for i in dict.fromkeys(user_of)]
        if invitees and not await presence.remember_invite(
            dev_id,
            app_id,
            group_id,
            seq_id,
            (inviter.user_id, inviter.mutex_type) if inviter is not None else None,
            invitees,
            self._clock(),
        ):
            raise ParameterInvalid("seq_id", "a pending invite of another inviter has this seq_id")
        done = await self._reach.deliver(app_id, targets, text)
        reached = {user_of[j] for j, ok in enumerate(done) if ok}
        return [u for i, u in enumerate(users) if i not in reached]
