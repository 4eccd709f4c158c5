"""``Client`` and ``AsyncClient``: one request loop each, retries in one place."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

import httpx

from hstgw.sdk._base import ACCESS_TOKEN_PATH, Attempt, BaseClient
from hstgw.sdk._constants import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT_S
from hstgw.sdk._exceptions import APIConnectionError, APITimeoutError, HstgwError
from hstgw.sdk._models import AccessToken
from hstgw.sdk._token_store import TokenStore
from hstgw.sdk._tokens import AsyncTokenManager, SyncTokenManager
from hstgw.sdk.events import FromVersion, iter_events, stream_events
from hstgw.sdk.resources.apps import Apps, AsyncApps
from hstgw.sdk.resources.online import AsyncOnline, Online
from hstgw.sdk.resources.records import AsyncRecords, Records
from hstgw.sdk.resources.webhooks import AsyncWebhooks, Webhooks

__all__ = ["AsyncClient", "Client"]


def _connection_error(exc: httpx.TransportError) -> APIConnectionError:
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError()
    return APIConnectionError(f"connection error: {exc!r}")


class Client(BaseClient):
    """The synchronous client. Thread-safe: share one per process.

    ``clock``: seconds that only go forward, on which the access token is refreshed
    ahead of its expiry (a test gives one it moves itself). ``token_store``: where
    processes of the developer share one access token (default: the file named by
    ``HSTGW_TOKEN_FILE``, if set; else this client's own).

    >>> client = Client("http://127.0.0.1:28000", dev_id, dev_secret)
    >>> app = client.apps.create(app_name="demo", service=[3, 4, 7])
    """

    _tokens: SyncTokenManager

    def __init__(
        self,
        base_url: str | None = None,
        dev_id: str | None = None,
        dev_secret: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_retries: int = DEFAULT_MAX_RETRIES,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        token_store: TokenStore | None = None,
    ) -> None:
        super().__init__(base_url, dev_id, dev_secret, timeout, max_retries)
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=self.timeout,
            transport=transport,
            headers=self.default_headers,
        )
        self._tokens = SyncTokenManager(
            self._fetch_access_token, clock, *self._token_store(token_store)
        )
        self.apps = Apps(self)
        self.online = Online(self)
        self.records = Records(self)
        self.webhooks = Webhooks(self)

    def get_access_token(self) -> str:
        """The shared access_token, fetched or refreshed if need be."""
        return self._tokens.get()

    def _fetch_access_token(self) -> AccessToken:
        result = self.request("GET", ACCESS_TOKEN_PATH, auth=False)
        return self._access_token(result)

    def events(
        self,
        app_ids: Iterable[str],
        from_version: FromVersion = None,
        *,
        replies: bool = False,
        url: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """``AsyncClient.events``, blocking: the apps' events in order, for ever."""
        return iter_events(self, app_ids, from_version, replies=replies, url=url)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        auth: bool = True,
    ) -> Any:
        attempt = Attempt.of(method, auth)
        while True:
            token = self._tokens.get() if auth else None
            headers = attempt.headers(token or self._dev_authorization())
            try:
                try:
                    response = self._http.request(
                        method, path, params=self._clean(params), json=json, headers=headers
                    )
                except httpx.TransportError as exc:
                    raise _connection_error(exc) from exc
                return self._parse(response)
            except HstgwError as exc:
                wait = self._recover(method, exc, token, attempt)
            if wait:
                time.sleep(wait)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(BaseClient):
    """The asyncio client. Task-safe: share one per event loop."""

    _tokens: AsyncTokenManager

    def __init__(
        self,
        base_url: str | None = None,
        dev_id: str | None = None,
        dev_secret: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_retries: int = DEFAULT_MAX_RETRIES,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        token_store: TokenStore | None = None,
    ) -> None:
        super().__init__(base_url, dev_id, dev_secret, timeout, max_retries)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=self.timeout,
            transport=transport,
            headers=self.default_headers,
        )
        self._tokens = AsyncTokenManager(
            self._fetch_access_token, clock, *self._token_store(token_store)
        )
        self.apps = AsyncApps(self)
        self.online = AsyncOnline(self)
        self.records = AsyncRecords(self)
        self.webhooks = AsyncWebhooks(self)

    async def get_access_token(self) -> str:
        return await self._tokens.get()

    def events(
        self,
        app_ids: Iterable[str],
        from_version: FromVersion = None,
        *,
        replies: bool = False,
        url: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """The apps' events from the event gateway, in order, forever (see
        ``hstgw.sdk.events``): each app's snapshot (a 20009) first, unless
        ``from_version`` names where to start; then every push, reconnecting by itself
        with no gap and no duplicate. ``url``: the event gateway's ``ws://`` URL (found
        through ``/server/address?appType=8`` by default)."""
        return stream_events(self, app_ids, from_version, replies=replies, url=url)

    async def _fetch_access_token(self) -> AccessToken:
        result = await self.request("GET", ACCESS_TOKEN_PATH, auth=False)
        return self._access_token(result)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        auth: bool = True,
    ) -> Any:
        attempt = Attempt.of(method, auth)
        while True:
            token = await self._tokens.get() if auth else None
            headers = attempt.headers(token or self._dev_authorization())
            try:
                try:
                    response = await self._http.request(
                        method, path, params=self._clean(params), json=json, headers=headers
                    )
                except httpx.TransportError as exc:
                    raise _connection_error(exc) from exc
                return self._parse(response)
            except HstgwError as exc:
                wait = self._recover(method, exc, token, attempt)
            if wait:
                await asyncio.sleep(wait)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
