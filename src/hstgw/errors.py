"""The wire codes and the server's exception tree.

The code table below is the one place that says which number means what; the
server raises the exceptions, the API layer turns them into the envelope, and
the SDK maps the numbers back to its own typed exceptions (``hstgw.sdk``).

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
