"""An app's event, as the event log keeps it and every listener receives it.

Each app's events carry a ``version`` that starts at 1 and grows by exactly one per
event, the same on every node (the store assigns it). An event is durable before any
listener hears of it. The ids are the event gateway's push ids (the platform's table,
``../shared/design.md`` section 8), and ours past them, documented as ours.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Protocol

__all__ = [
    "MEDIA_TYPES",
    "WHITEBOARD",
    "Entry",
    "Event",
    "EventFeed",
    "EventId",
    "GroupSnapshot",
    "Refusal",
    "Unsubscribe",
]


class EventId(IntEnum):
    """What an event says; its number is the push's ``id`` on the event gateway."""

    # The platform's (事件网关接口).
    USER_JOINED = 20100  # a user joined a group: group_id, user_id
    USER_LEFT = 20101  # a user left a group: group_id, user_id
    MEDIA_STARTED = 20102  # group_id, user_id, media_id, media_type
    MEDIA_STOPPED = 20103  # group_id, user_id, media_id, media_type
    RECORDING = 20104  # group_id, record_id, record_statue, record_msg (a JSON string)
    # Ours (the online service's), outside the platform's table.
    TERMINAL_ONLINE = 20900  # user_id, mutex_type, client_guid, company_id
    TERMINAL_OFFLINE = 20901  # user_id, mutex_type, client_guid, company_id
    TERMINAL_KICKED = 20902  # user_id, mutex_type, client_guid, company_id, reason
    INVITE_REPLY = 20903  # a reply to the backend's invite: group_id, seq_id, user_id, ...


# media_type: 0 screen share, 1 audio, 2 video, 4 whiteboard (a whiteboard belongs to
# the group: a full sync lists it in ``group_media_list``, the others under their user).
MEDIA_TYPES = (0, 1, 2, 4)
WHITEBOARD = 4


@dataclass(frozen=True, slots=True)
class Event:
    """One event of one app. ``body`` holds the push's fields beyond ``id``,
    ``app_id`` and ``version`` (``group_id``, ``user_id``, ...), as they go on the wire."""

    app_id: str
    version: int
    id: EventId
    at_ms: int  # when the log took it (epoch ms)
    body: Mapping[str, Any] = field(default_factory=dict)

    def push(self) -> dict[str, Any]:
        """The event gateway's push frame (webhooks add ``time``)."""
        return {"id": int(self.id), "app_id": self.app_id, "version": self.version, **self.body}


@dataclass(frozen=True, slots=True)
class GroupSnapshot:
    """The groups of an app at ``version`` (a full sync, 20009): each group's
    ``group_list`` entry as the platform shapes it."""

    app_id: str
    version: int
    group_list: list[dict[str, Any]]


Unsubscribe = Callable[[], None]


class EventFeed(Protocol):
    """What the event log offers its readers (the event gateway, webhooks, the console).

    Implemented by the event log (``hstgw.events.log``); every method concerns apps
    the caller has already been allowed to see.
    """

    async def version(self, app_id: str) -> int:
        """The app's latest version (0: no event yet)."""
        ...

    async def after(self, app_id: str, version: int, limit: int) -> list[Event] | None:
        """Up to ``limit`` events of the app after ``version``, in order; None when
        events after ``version`` are no longer retained (the reader needs a full sync)."""
        ...

    async def snapshot(self, app_id: str, group_ids: Sequence[str] | None) -> GroupSnapshot:
        """The app's groups (or those named) with their users and media, and the
        version they reflect: every event up to it, none after it."""
        ...

    def heard(self, app_id: str) -> int:
        """The app's last version this node's listeners were told of."""
        ...

    def listen(self, listener: Callable[[Event], None]) -> Unsubscribe:
        """Call ``listener`` with each event once durable, from any node, in version
        order per app; it must not block (hand the event to a queue)."""
        ...


# The producer side (the event log's ``append``): added with the log itself.


@dataclass(frozen=True, slots=True)
class Entry:
    """What a producer asks the log to append: an event without its version.

    ``holder``: who holds a membership or media it starts (a terminal's login id, or
    ``media:<node_id>`` for a media node), and only they may end it; ``node``: the
    gateway node the holder is on (a dead node's memberships are left for it);
    ``source`` and ``key``: a reporting node and its event id, appended once (a key
    seen before answers ``Refusal(duplicate=True)``); ``fact``: a media node's report
    of what already happened, taken without the group limits.
    """

    id: EventId
    body: Mapping[str, Any]
    holder: str = ""
    node: str = ""
    source: str = ""
    key: str = ""
    fact: bool = False


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an entry was not appended: a terminal code (``hstgw.errors.TerminalCode``)
    and its message; ``duplicate``: its key was appended before."""

    code: int
    msg: str
    duplicate: bool = False
