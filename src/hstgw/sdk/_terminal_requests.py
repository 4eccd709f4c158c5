"""The requests a logged-in terminal sends (``TerminalClient`` inherits them); each is
one frame of docs/terminal-protocol.md and its reply."""

from __future__ import annotations

from typing import Any

from hstgw.online import protocol as p
from hstgw.sdk._constants import DEFAULT_ONLINE_PAGE_SIZE

__all__ = ["TerminalRequests"]


class TerminalRequests:
    def __init__(self) -> None:
        # The groups joined and media started, so that a reconnect takes them up again
        # (the gateway left them when the previous connection went): group -> media.
        self.groups: dict[str, dict[str, int]] = {}

    async def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        raise NotImplementedError

    async def list_online(
        self, page: int = 1, page_size: int = DEFAULT_ONLINE_PAGE_SIZE
    ) -> dict[str, Any]:
        return await self.request(p.LIST_ONLINE, page=page, page_size=page_size)

    async def set_state(self, custom_state: str) -> None:
        await self.request(p.SET_STATE, custom_state=custom_state)

    async def invite(
        self,
        group_id: str,
        user_ids: list[str],
        seq_id: int,
        extend_info: dict[str, Any] | None = None,
    ) -> list[str]:
        """Invite users to a group; the users none of whose terminals was reached."""
        reply = await self.request(
            p.INVITE, group_id=group_id, user_ids=user_ids, seq_id=seq_id, extend_info=extend_info
        )
        return list(reply["failed_user_ids"])

    async def reply_invite(
        self, group_id: str, seq_id: int, accept: bool, extend_info: dict[str, Any] | None = None
    ) -> bool:
        """Reply to an invite; True once the inviter (a terminal, or the app's backend
        through its events) has it."""
        reply = await self.request(
            p.INVITE_REPLY, group_id=group_id, seq_id=seq_id, accept=accept, extend_info=extend_info
        )
        return bool(reply["delivered"])

    async def send_message(self, to_user_id: str, body: dict[str, Any] | str) -> int:
        """Send to every terminal of ``to_user_id``; how many received it."""
        reply = await self.request(p.MESSAGE, to_user_id=to_user_id, body=body)
        return int(reply["delivered"])

    async def heartbeat(self) -> None:
        await self.request(p.HEARTBEAT)

    # groups (docs/events.md)

    async def join_group(self, group_id: str) -> int:
        """Join a group; the app's event version of the join."""
        reply = await self.request(p.JOIN_GROUP, group_id=group_id)
        self.groups.setdefault(group_id, {})
        return int(reply["version"])

    async def leave_group(self, group_id: str) -> int:
        """Leave a group (its media stop with it); the version of the leave."""
        reply = await self.request(p.LEAVE_GROUP, group_id=group_id)
        self.groups.pop(group_id, None)
        return int(reply["version"])

    async def start_media(self, group_id: str, media_id: str, media_type: int) -> int:
        """Announce a media broadcast in a group (``media_type`` 0 screen, 1 audio,
        2 video, 4 whiteboard); the version of the event."""
        reply = await self.request(
            p.START_MEDIA, group_id=group_id, media_id=media_id, media_type=media_type
        )
        self.groups.setdefault(group_id, {})[media_id] = media_type
        return int(reply["version"])

    async def stop_media(self, group_id: str, media_id: str, media_type: int) -> int:
        reply = await self.request(
            p.STOP_MEDIA, group_id=group_id, media_id=media_id, media_type=media_type
        )
        self.groups.get(group_id, {}).pop(media_id, None)
        return int(reply["version"])

    async def rejoin(self) -> None:
        """Join the groups and start the media again (after a reconnect)."""
        wanted, self.groups = self.groups, {}
        for group_id, media in wanted.items():
            await self.join_group(group_id)
            for media_id, media_type in media.items():
                await self.start_media(group_id, media_id, media_type)
