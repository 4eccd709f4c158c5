"""The wire codes and the server's exception tree.

The code table below is the one place that says which number means what; the
server raises the exceptions, the API layer turns them into the envelope, and
the SDK maps the numbers back to its own typed exceptions (``hstgw.sdk``).

``TerminalCode`` is the table of the online service's codes (terminal replies).

Exception tree::

    GatewayError                  every failure that has a wire code
    ├── AuthenticationFailed      606000000
    ├── TokenExpired              606000001  (expired or superseded access_token)
    ├── ParameterMissing          606000002  (carries the field)
    ├── ParameterInvalid          606000003  (carries the field)
    ├── RequestTimedOut           606000004
    ├── OperationFailed           606000005
    └── SystemBusy                606000006
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "AuthenticationFailed",
    "Code",
    "GatewayError",
    "OperationFailed",
    "ParameterInvalid",
    "ParameterMissing",
    "RequestTimedOut",
    "SystemBusy",
    "TerminalCode",
    "TokenExpired",
]


class Code(IntEnum):
    """Business codes carried in every response body (seed: 状态码)."""

    OK = 0
    AUTHENTICATION_FAILED = 606000000
    TOKEN_EXPIRED = 606000001
    PARAMETER_MISSING = 606000002
    PARAMETER_INVALID = 606000003
    REQUEST_TIMEOUT = 606000004
    OPERATION_FAILED = 606000005
    SYSTEM_BUSY = 606000006

    @property
    def default_msg(self) -> str:
        return _DEFAULT_MSG[self]


_DEFAULT_MSG = {
    Code.OK: "OK",
    Code.AUTHENTICATION_FAILED: "Authentication failed",
    Code.TOKEN_EXPIRED: "access_token expired or superseded",
    Code.PARAMETER_MISSING: "Required parameter missing",
    Code.PARAMETER_INVALID: "Parameter invalid",
    Code.REQUEST_TIMEOUT: "Request timed out",
    Code.OPERATION_FAILED: "Operation failed",
    Code.SYSTEM_BUSY: "System busy",
}


class TerminalCode(IntEnum):
    """Codes of the online service's replies to terminals (design 5, docs/terminal-protocol.md).

    The login codes are the platform's; the 10001xx codes are this gateway's own.
    """

    OK = 0
    TOKEN_INVALID = 1000000
    APP_NOT_FOUND = 1000001
    APP_OFFLINE = 1000002
    USER_ID_INVALID = 1000006
    CONSUMPTION_LIMIT = 1000007
    ALREADY_ONLINE = 1000008
    NO_ONLINE_SERVICE = 1000023
    MALFORMED = 1000100
    FIELD_INVALID = 1000101
    NOT_LOGGED_IN = 1000102
    TOO_LARGE = 1000103
    RATE_LIMITED = 1000104
    UNKNOWN_TYPE = 1000105
    NOT_ONLINE = 1000106
    BUSY = 1000107
    TOO_MANY_LOGINS = 1000108
    TERMINALS_LIMIT = 1000109
    GROUP_FULL = 1000110
    TOO_MANY_GROUPS = 1000111
    GROUP_UNKNOWN = 1000112
    GROUP_ID_INVALID = 1000113
    ALREADY_IN_GROUP = 1000114
    MEDIA_UNKNOWN = 1000115
    MEDIA_EXISTS = 1000116
    INTERNAL = 1000199

    @property
    def default_msg(self) -> str:
        return _TERMINAL_MSG[self]


_TERMINAL_MSG = {
    TerminalCode.OK: "OK",
    TerminalCode.TOKEN_INVALID: "token check failed",
    TerminalCode.APP_NOT_FOUND: "app does not exist",
    TerminalCode.APP_OFFLINE: "app is offline",
    TerminalCode.USER_ID_INVALID: "user_id invalid",
    TerminalCode.CONSUMPTION_LIMIT: "app is over its consumption limit",
    TerminalCode.ALREADY_ONLINE: "same user and mutex_type already online",
    TerminalCode.NO_ONLINE_SERVICE: "app has no online service",
    TerminalCode.MALFORMED: "frame is not a JSON object with a type",
    TerminalCode.FIELD_INVALID: "field invalid",
    TerminalCode.NOT_LOGGED_IN: "log in first",
    TerminalCode.TOO_LARGE: "body larger than 8192 bytes",
    TerminalCode.RATE_LIMITED: "more messages than the terminal's rate (a listing counts more)",
    TerminalCode.UNKNOWN_TYPE: "unknown message type",
    TerminalCode.NOT_ONLINE: "no such terminal online",
    TerminalCode.BUSY: "service busy (a store the gateway needs is unreachable); retry",
    TerminalCode.TOO_MANY_LOGINS: "too many logins to this app; retry later",
    TerminalCode.TERMINALS_LIMIT: "the app has as many terminals online as the gateway allows",
    TerminalCode.GROUP_FULL: "the group has as many users as the gateway allows",
    TerminalCode.TOO_MANY_GROUPS: "the terminal is in as many groups as the gateway allows",
    TerminalCode.GROUP_UNKNOWN: "the terminal is not in that group",
    TerminalCode.GROUP_ID_INVALID: "group_id invalid",
    TerminalCode.ALREADY_IN_GROUP: "the user is in that group already",
    TerminalCode.MEDIA_UNKNOWN: "no such media started in that group",
    TerminalCode.MEDIA_EXISTS: "that media is started already",
    TerminalCode.INTERNAL: "internal error (logged); the connection stays",
}


class GatewayError(Exception):
    """A failure the caller is told about, with its wire code and message."""

    code: Code = Code.OPERATION_FAILED

    def __init__(self, msg: str | None = None) -> None:
        self.msg = msg or self.code.default_msg
        super().__init__(self.msg)


class AuthenticationFailed(GatewayError):
    code = Code.AUTHENTICATION_FAILED


class TokenExpired(GatewayError):
    code = Code.TOKEN_EXPIRED


class _FieldError(GatewayError):
    """A failure tied to one request field; ``msg`` reads ``"<field>: <reason>"``."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class ParameterMissing(_FieldError):
    code = Code.PARAMETER_MISSING

    def __init__(self, field: str, reason: str = "required") -> None:
        super().__init__(field, reason)


class ParameterInvalid(_FieldError):
    code = Code.PARAMETER_INVALID


class RequestTimedOut(GatewayError):
    code = Code.REQUEST_TIMEOUT


class OperationFailed(GatewayError):
    code = Code.OPERATION_FAILED


class SystemBusy(GatewayError):
    code = Code.SYSTEM_BUSY
