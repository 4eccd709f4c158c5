"""The SDK's exception tree; ``make_api_error`` maps a wire code to its class.

HstgwError
├── ConfigurationError            no base_url / dev_id / dev_secret to work with
├── WebhookVerificationError      a webhook whose signature or time is wrong
├── APIConnectionError            the request did not get an answer
│   └── APITimeoutError
├── APIStatusError                an HTTP status the protocol does not use (5xx, ...)
└── APIError                      the gateway answered with a non-zero code
    ├── AuthenticationError       606000000
    ├── TokenExpiredError         606000001
    ├── MissingParameterError     606000002
    ├── InvalidParameterError     606000003
    ├── RequestTimeoutError       606000004
    ├── OperationFailedError      606000005
    └── SystemBusyError           606000006
"""

from __future__ import annotations

from hstgw.errors import Code

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "ConfigurationError",
    "HstgwError",
    "InvalidParameterError",
    "MissingParameterError",
    "OperationFailedError",
    "RequestTimeoutError",
    "SystemBusyError",
    "TokenExpiredError",
    "WebhookVerificationError",
    "make_api_error",
]


class HstgwError(Exception):
    pass


class ConfigurationError(HstgwError):
    pass


class WebhookVerificationError(HstgwError):
    """``hstgw.sdk.webhooks.verify`` refused a delivery (the reason is the message)."""


class APIConnectionError(HstgwError):
    def __init__(self, message: str = "connection error") -> None:
        super().__init__(message)


class APITimeoutError(APIConnectionError):
    def __init__(self) -> None:
        super().__init__("request timed out")


class APIStatusError(HstgwError):
    def __init__(self, status_code: int, request_id: str | None, body: str) -> None:
        self.status_code = status_code
        self.request_id = request_id
        self.body = body
        where = f" (request id {request_id})" if request_id else ""
        super().__init__(f"HTTP {status_code}{where}: {body[:200]}")


class APIError(HstgwError):
    def __init__(self, code: int, msg: str, request_id: str | None) -> None:
        self.code = code
        self.msg = msg
        self.request_id = request_id
        # (the event gateway's and a terminal's replies carry no request id)
        super().__init__(f"{code} {msg}" + (f" (request id {request_id})" if request_id else ""))


class AuthenticationError(APIError):
    pass


class TokenExpiredError(APIError):
    pass


class MissingParameterError(APIError):
    pass


class InvalidParameterError(APIError):
    pass


class RequestTimeoutError(APIError):
    pass


class OperationFailedError(APIError):
    pass


class SystemBusyError(APIError):
    pass


_BY_CODE: dict[int, type[APIError]] = {
    Code.AUTHENTICATION_FAILED: AuthenticationError,
    Code.TOKEN_EXPIRED: TokenExpiredError,
    Code.PARAMETER_MISSING: MissingParameterError,
    Code.PARAMETER_INVALID: InvalidParameterError,
    Code.REQUEST_TIMEOUT: RequestTimeoutError,
    Code.OPERATION_FAILED: OperationFailedError,
    Code.SYSTEM_BUSY: SystemBusyError,
}


def make_api_error(code: int, msg: str, request_id: str | None) -> APIError:
    return _BY_CODE.get(code, APIError)(code, msg, request_id)
