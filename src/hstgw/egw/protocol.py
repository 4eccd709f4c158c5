"""The event gateway protocol's numbers and texts (docs/events.md), shared by the
server and the SDK. No server dependency.

Client frames are JSON text with ``"business": "EGW"`` and ``"id"``; a reply carries
the request's id + 1, ``result`` (0 or a REST code) and ``message``; a push carries the
event's id (``hstgw.events.model.EventId``), ``app_id`` and ``version``.
"""

from __future__ import annotations

__all__ = [
    "BUSINESS",
    "CLOSE_APP_DELETED",
    "CLOSE_LOGGED_OUT",
    "CLOSE_LOGIN_FAILED",
    "CLOSE_PROTOCOL",
    "CLOSE_SHUTDOWN",
    "CLOSE_TOO_SLOW",
    "ERROR",
    "HEARTBEAT",
    "HEARTBEAT_REPLY",
    "LOGIN",
    "LOGIN_REPLY",
    "LOGOUT",
    "LOGOUT_REPLY",
    "MESSAGES",
    "REPLAY_MESSAGE",
    "REPLIES",
    "SUBSCRIBE",
    "SUBSCRIBE_REPLY",
    "SYNC",
    "SYNC_REPLY",
    "UNSUBSCRIBE",
    "UNSUBSCRIBE_REPLY",
]

BUSINESS = "EGW"

# The platform's table (协议ID表): requests and their replies.
LOGIN, LOGIN_REPLY = 20000, 20001
LOGOUT, LOGOUT_REPLY = 20002, 20003
SUBSCRIBE, SUBSCRIBE_REPLY = 20004, 20005
UNSUBSCRIBE, UNSUBSCRIBE_REPLY = 20006, 20007
SYNC, SYNC_REPLY = 20008, 20009
HEARTBEAT, HEARTBEAT_REPLY = 20010, 20011
# Ours: the reply to a frame whose request id is missing or unknown (it carries
# ``request_id``, the id that came, if any).
ERROR = 20099

REPLIES = {
    LOGIN: LOGIN_REPLY,
    LOGOUT: LOGOUT_REPLY,
    SUBSCRIBE: SUBSCRIBE_REPLY,
    UNSUBSCRIBE: UNSUBSCRIBE_REPLY,
    SYNC: SYNC_REPLY,
    HEARTBEAT: HEARTBEAT_REPLY,
}

# The ``message`` of each successful reply: the platform's texts where it gives one.
MESSAGES = {
    LOGIN_REPLY: "login successful",
    LOGOUT_REPLY: "logout successful",
    SUBSCRIBE_REPLY: "subscribe successful",
    UNSUBSCRIBE_REPLY: "unsubscribe successful",
    SYNC_REPLY: "synchronize all data successful",
    HEARTBEAT_REPLY: "heartbeat successful",
}
# A 20009 that answers ``from_version`` with the events after it (ours).
REPLAY_MESSAGE = "replaying events after from_version"

# WebSocket close codes (ours; the platform documents none).
CLOSE_LOGIN_FAILED = 4000  # login refused, missing or late; or the token ended
CLOSE_LOGGED_OUT = 4001  # the access_token expired or was superseded (after a 20003)
CLOSE_PROTOCOL = 4003  # the first frame was not a login
CLOSE_APP_DELETED = 4004  # an app the session followed was deleted: subscribe without it
CLOSE_TOO_SLOW = 4008  # the subscriber fell behind its queue: resume with from_version
CLOSE_SHUTDOWN = 1001  # the gateway is stopping: reconnect (to another node)
