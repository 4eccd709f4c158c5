"""What the sync and async clients share: configuration, requests, replies, retries."""

from __future__ import annotations

import os
import random
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import httpx

from hstgw import __version__
from hstgw.sdk._constants import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT_S,
    ENV_BASE_URL,
    ENV_DEV_ID,
    ENV_DEV_SECRET,
    ENV_TOKEN_FILE,
    IDEMPOTENT_METHODS,
    INITIAL_RETRY_DELAY_S,
    MAX_RETRY_DELAY_S,
    WRITE_METHODS,
)
from hstgw.sdk._exceptions import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    ConfigurationError,
    HstgwError,
    SystemBusyError,
    TokenExpiredError,
    make_api_error,
)
from hstgw.sdk._models import AccessToken
from hstgw.sdk._token_store import FileTokenStore, TokenStore
from hstgw.tokens.fsp import build

__all__ = ["Attempt", "BaseClient", "retry_delay"]

ACCESS_TOKEN_PATH = "/access/token"


def retry_delay(retries_done: int, jitter: float | None = None) -> float:
    """Seconds to wait before retry number ``retries_done + 1``.

    Exponential from INITIAL_RETRY_DELAY_S, capped at MAX_RETRY_DELAY_S, less up
    to 25% jitter so that many clients do not retry in step.
    """
    delay = min(INITIAL_RETRY_DELAY_S * 2.0**retries_done, MAX_RETRY_DELAY_S)
    j = random.random() if jitter is None else jitter
    return delay * (1 - 0.25 * j)


@dataclass
class Attempt:
    """The retry state of one call."""

    retries_done: int = 0
    token_refreshed: bool = False
    # Sent with every try of a POST, PATCH or DELETE: the gateway does the work once,
    # so such a call may be retried like a read.
    idempotency_key: str | None = None

    @classmethod
    def of(cls, method: str, auth: bool) -> Attempt:
        key = uuid.uuid4().hex if auth and method in WRITE_METHODS else None
        return cls(idempotency_key=key)

    def headers(self, authorization: str) -> dict[str, str]:
        if self.idempotency_key is None:
            return {"Authorization": authorization}
        return {"Authorization": authorization, "Idempotency-Key": self.idempotency_key}


class _Invalidates(Protocol):
    def invalidate(self, token: str) -> None: ...


class BaseClient:
    _tokens: _Invalidates

    def __init__(
        self,
        base_url: str | None,
        dev_id: str | None,
        dev_secret: str | None,
        timeout: float,
        max_retries: int,
    ) -> None:
        self.base_url = (base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL).rstrip("/")
        dev_id = dev_id or os.environ.get(ENV_DEV_ID)
        dev_secret = dev_secret or os.environ.get(ENV_DEV_SECRET)
        if not dev_id or not dev_secret:
            raise ConfigurationError(
                f"dev_id and dev_secret are required (arguments or {ENV_DEV_ID}, {ENV_DEV_SECRET})"
            )
        if len(dev_secret.encode("utf-8")) != 16:
            raise ConfigurationError("dev_secret must be 16 bytes")
        self.dev_id = dev_id
        self._dev_secret = dev_secret
        self.timeout = timeout if timeout is not None else DEFAULT_TIMEOUT_S
        self.max_retries = DEFAULT_MAX_RETRIES if max_retries is None else max_retries

    def _token_store(self, store: TokenStore | None) -> tuple[TokenStore | None, str]:
        """The store given, or a file named by ``HSTGW_TOKEN_FILE``; and this client's
        key in it (a store may hold tokens of several gateways and developers)."""
        if store is None and os.environ.get(ENV_TOKEN_FILE):
            store = FileTokenStore(os.environ[ENV_TOKEN_FILE])
        return store, f"{self.base_url} {self.dev_id}"

    @property
    def default_headers(self) -> dict[str, str]:
        return {"User-Agent": f"hstgw-python/{__version__}", "Accept": "application/json"}

    def _dev_authorization(self) -> str:
        """``<dev_id>.<fresh 001 token>``: what ``GET /access/token`` wants."""
        return f"{self.dev_id}.{build(self.dev_id, self._dev_secret)}"

    @staticmethod
    def _parse(response: httpx.Response) -> Any:
        """The ``result`` of a successful reply; raise the typed error of any other."""
        request_id = response.headers.get("x-request-id")
        try:
            # Money comes as JSON numbers with 6 decimal places: keep them exact.
            body = response.json(parse_float=Decimal)
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("code"), int):
            raise APIStatusError(response.status_code, request_id, response.text)
        if body["code"] != 0:
            raise make_api_error(body["code"], str(body.get("msg", "")), request_id)
        if response.status_code != 200:
            raise APIStatusError(response.status_code, request_id, response.text)
        return body.get("result")

    @staticmethod
    def _access_token(result: Any) -> AccessToken:
        return AccessToken(result["access_token"], int(result["timeout"]))

    def _should_retry(self, method: str, error: HstgwError, attempt: Attempt) -> bool:
        safe = method in IDEMPOTENT_METHODS or attempt.idempotency_key is not None
        if attempt.retries_done >= self.max_retries or not safe:
            return False
        if isinstance(error, SystemBusyError | APIConnectionError):
            return True
        return isinstance(error, APIStatusError) and error.status_code in (502, 503, 504)

    def _recover(
        self, method: str, error: HstgwError, token: str | None, attempt: Attempt
    ) -> float:
        """What to do after a failed attempt: raise ``error``, or return the seconds to
        wait before the next one (0: at once, with a new access token)."""
        # 606000001, and 606000000 for a token that worked before (a cluster whose Redis
        # lost its data forgets live tokens): fetch a new token once and try again.
        if isinstance(error, TokenExpiredError | AuthenticationError):
            if token is None or attempt.token_refreshed:
                raise error
            attempt.token_refreshed = True
            self._tokens.invalidate(token)
            return 0.0
        if not self._should_retry(method, error, attempt):
            raise error
        attempt.retries_done += 1
        return retry_delay(attempt.retries_done - 1)

    @staticmethod
    def _clean(params: dict[str, Any] | None) -> dict[str, Any] | None:
        if params is None:
            return None
        return {k: v for k, v in params.items() if v is not None}
