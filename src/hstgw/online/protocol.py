"""The terminal protocol's names and numbers (docs/terminal-protocol.md), shared by
the server and the SDK's TerminalClient. No server dependency.

Frames are JSON text. A request is ``{"type": <request>, "seq": <int>, ...}``; its
reply ``{"type": <request> + "_result", "seq": <same>, "code": <TerminalCode>,
"msg": ...}``; a push ``{"type": <event>, ...}``.
"""

from __future__ import annotations

__all__ = [
    "BODY_LIMIT",
    "CLOSE_KICKED",
    "CLOSE_LOGIN_FAILED",
    "CLOSE_PROTOCOL",
    "CLOSE_TIMEOUT",
    "EVENTS",
    "KICK_REASONS",
    "MEDIA_TYPES",
    "PROTOCOL_VERSION",
    "REQUESTS",
]

PROTOCOL_VERSION = 1

# Requests a terminal sends.
LOGIN = "login"
HEARTBEAT = "heartbeat"
LIST_ONLINE = "list_online"
SET_STATE = "set_state"
INVITE = "invite"
INVITE_REPLY = "invite_reply"
MESSAGE = "message"
LOGOUT = "logout"
# Groups (a room, a meeting) and the media a member broadcasts in one (docs/events.md).
JOIN_GROUP = "join_group"
LEAVE_GROUP = "leave_group"
START_MEDIA = "start_media"
STOP_MEDIA = "stop_media"
REQUESTS = (
    LOGIN,
    HEARTBEAT,
    LIST_ONLINE,
    SET_STATE,
    INVITE,
    INVITE_REPLY,
    MESSAGE,
    LOGOUT,
    JOIN_GROUP,
    LEAVE_GROUP,
    START_MEDIA,
    STOP_MEDIA,
)
# media_type: 0 screen share, 1 audio, 2 video, 4 whiteboard (the platform's numbers).
MEDIA_TYPES = (0, 1, 2, 4)

# Pushes a terminal receives (besides replies).
EVENTS = ("online_state", "invite", "invite_reply", "message", "trans_cmd", "kicked")

# Why a terminal was kicked (the `reason` of the `kicked` push).
KICK_REASONS = {
    "kickout": "kicked out by the app's backend",
    "force_login": "the same user logged in elsewhere with force_login",
    "app_offline": "the app was set offline",
    "app_deleted": "the app was deleted",
    "service_removed": "the app's online service (7) was removed",
    "heartbeat_timeout": "no frame for 3 heartbeat intervals",
    "shutdown": "the gateway is stopping",
    "developer_disabled": "the app's developer was disabled by the operator",
}

# WebSocket close codes.
CLOSE_LOGIN_FAILED = 4000
CLOSE_KICKED = 4001
CLOSE_TIMEOUT = 4002
CLOSE_PROTOCOL = 4003

# Largest message body, trans_mess or extend_info, in bytes of JSON.
BODY_LIMIT = 8192
