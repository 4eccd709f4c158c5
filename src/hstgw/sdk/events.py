"""``client.events(app_ids)``: the event gateway, as an iterator that never misses.

    async with AsyncClient(url, dev_id, dev_secret) as client:
        async for event in client.events([app_id]):
            print(event["id"], event)

It finds the event gateway (``GET /server/address?appType=8``), logs in with the
client's access_token, subscribes, and syncs: each app's first item is its snapshot
(the 20009 reply: ``group_list`` and the ``version`` it reflects), then its pushes in
version order. A lost connection, a token that expired or was superseded, a gateway
that stops: it reconnects with back-off and asks for the events after the last
version it yielded (``from_version``), so it never yields a gap or a duplicate. When
the gateway no longer keeps them, it yields a fresh snapshot (a 20009 again) instead.

``from_version`` starts there (an int for every app, or a mapping per app) instead of
with a snapshot. ``replies=True`` also yields the gateway's replies (20001, 20005,
20009 of a replay, 20011), as ``hstgw events`` prints them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from hstgw.egw import protocol as p
from hstgw.sdk._constants import EVENT_HEARTBEAT_S, RECONNECT_DELAYS_S, TERMINAL_REQUEST_TIMEOUT_S
from hstgw.sdk._exceptions import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    SystemBusyError,
    TokenExpiredError,
    make_api_error,
)

if TYPE_CHECKING:
    from hstgw.sdk._client import AsyncClient, Client

__all__ = ["EventTracker", "FromVersion", "iter_events", "stream_events"]

_ADDRESS = "/server/address"
_EVENT_GATEWAY = {"appType": "8"}
_MAX_FRAME = 2**24  # a sync of an app with many groups is one frame

FromVersion = int | Mapping[str, int] | None


class _Resync(Exception):
    """A push came after a gap: ask again from the last version (same connection)."""

    def __init__(self, app_id: str, version: int) -> None:
        self.app_id = app_id
        self.version = version


class EventTracker:
    """Where each app stands, and what to yield of each frame (no I/O: the sync and
    async clients share it)."""

    def __init__(self, app_ids: Iterable[str], from_version: FromVersion = None) -> None:
        self.app_ids = list(dict.fromkeys(app_ids))
        if not self.app_ids:
            raise ValueError("app_ids: give at least one app")
        if isinstance(from_version, int):
            start = {a: from_version for a in self.app_ids}
        else:
            start = dict(from_version or {})
        self.versions: dict[str, int] = start  # the last version yielded (or the start)
        self.syncing: set[str] = set()  # a 20009 is awaited: pushes before it are dropped

    def login(self, dev_id: str, token: str) -> str:
        return json.dumps({"business": p.BUSINESS, "id": p.LOGIN, "dev_id": dev_id, "token": token})

    def subscribe(self) -> str:
        apps = [{"app_id": a} for a in self.app_ids]
        return json.dumps({"business": p.BUSINESS, "id": p.SUBSCRIBE, "app_list": apps})

    def sync(self, app_ids: Iterable[str] | None = None) -> str:
        """A 20008 for ``app_ids`` (all by default): from the version of each that has
        one, else a full sync."""
        apps = []
        for app_id in app_ids or self.app_ids:
            entry: dict[str, Any] = {"app_id": app_id}
            if app_id in self.versions:
                entry["from_version"] = self.versions[app_id]
            apps.append(entry)
            self.syncing.add(app_id)
        return json.dumps({"business": p.BUSINESS, "id": p.SYNC, "seq": "1", "app_list": apps})

    def heartbeat(self) -> str:
        return json.dumps({"business": p.BUSINESS, "id": p.HEARTBEAT})

    def accept(self, message: dict[str, Any], replies: bool) -> list[dict[str, Any]]:
        """What to yield of ``message``. Raises the typed error of a refusal, ``_Resync``
        after a gap, ``TokenExpiredError`` when the gateway ends the session for it."""
        mid = message.get("id")
        result = message.get("result", 0)
        if mid in p.MESSAGES or mid == p.ERROR:  # a reply
            if result != 0:
                raise make_api_error(int(result), str(message.get("message", "")), None)
            if mid == p.SYNC_REPLY:
                synced = str(message.get("app_id"))
                self.syncing.discard(synced)
                self.versions[synced] = int(message["version"])
                if "group_list" in message:  # a snapshot: always yielded
                    return [message]
            return [message] if replies else []
        app_id = message.get("app_id")
        version = message.get("version")
        if not isinstance(app_id, str) or not isinstance(version, int):
            return [message]  # not a versioned push (none today): as it is
        if app_id in self.syncing or app_id not in self.versions:
            return []  # covered by the snapshot or the replay that follows
        last = self.versions[app_id]
        if version <= last:
            return []
        if version > last + 1:
            raise _Resync(app_id, last)
        self.versions[app_id] = version
        return [message]


def _retryable(exc: BaseException) -> bool:
    from websockets.exceptions import WebSocketException

    return isinstance(exc, OSError | TimeoutError | WebSocketException | APIConnectionError)


def _recover(
    exc: Exception, token: str, failures: int, invalidate: Callable[[str], None], limit: int
) -> float:
    """Seconds to wait before connecting again after ``exc`` (0: at once, with a new
    access_token); raises ``exc`` if it is final. ``limit``: how many failures in a row
    are retried (-1: no limit; a stream that never got going gives up, one that did
    does not)."""
    if isinstance(exc, TokenExpiredError | AuthenticationError):
        # An access_token that expired or was superseded (or a cluster's Redis that
        # lost it): take a new one, once in a row; a second refusal is final.
        if not token or failures > 0:
            raise exc
        invalidate(token)
        return 0.0
    if isinstance(exc, APIError) and not isinstance(exc, SystemBusyError):
        raise exc  # a refusal of the request itself (another's app, a bad field)
    if not isinstance(exc, SystemBusyError) and not _retryable(exc):
        raise exc
    if 0 <= limit <= failures:
        raise exc
    delay = RECONNECT_DELAYS_S[min(failures, len(RECONNECT_DELAYS_S) - 1)]
    return delay * (0.75 + random.random() / 2)


def _gateway_url(response: Any) -> str:
    try:
        return str(response.json()["result"])
    except Exception as exc:
        raise APIConnectionError(f"event gateway not found: {exc!r}") from exc


async def _discover(client: AsyncClient) -> str:
    try:
        return _gateway_url(await client._http.get(_ADDRESS, params=_EVENT_GATEWAY))
    except httpx.HTTPError as exc:
        raise APIConnectionError(f"connection error: {exc!r}") from exc


def _discover_sync(client: Client) -> str:
    try:
        return _gateway_url(client._http.get(_ADDRESS, params=_EVENT_GATEWAY))
    except httpx.HTTPError as exc:
        raise APIConnectionError(f"connection error: {exc!r}") from exc


async def stream_events(
    client: AsyncClient,
    app_ids: Iterable[str],
    from_version: FromVersion = None,
    *,
    replies: bool = False,
    url: str | None = None,
) -> AsyncIterator[dict[str, Any]]:
    from websockets.asyncio.client import connect

    tracker = EventTracker(app_ids, from_version)
    failures = 0
    limit = client.max_retries
    while True:
        token = ""
        try:
            ws_url = url or await _discover(client)
            async with connect(ws_url, compression=None, max_size=_MAX_FRAME) as conn:
                token = await client.get_access_token()
                await conn.send(tracker.login(client.dev_id, token))
                limit = -1  # (connected: from now on, retried for ever)
                beat = asyncio.create_task(_beat(conn, tracker))
                try:
                    await conn.send(tracker.subscribe())
                    await conn.send(tracker.sync())
                    while True:  # (a close, even a clean one, raises: connect again)
                        raw = await conn.recv()
                        failures = 0
                        try:
                            out = tracker.accept(json.loads(raw), replies)
                        except _Resync as gap:
                            await conn.send(tracker.sync([gap.app_id]))
                            continue
                        for item in out:
                            yield item
                finally:
                    beat.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await beat
        except Exception as exc:
            wait = _recover(exc, token, failures, client._tokens.invalidate, limit)
            failures += 1
            if wait:
                await asyncio.sleep(wait)


async def _beat(conn: Any, tracker: EventTracker) -> None:
    while True:
        await asyncio.sleep(EVENT_HEARTBEAT_S)
        await asyncio.wait_for(conn.send(tracker.heartbeat()), TERMINAL_REQUEST_TIMEOUT_S)


def iter_events(
    client: Client,
    app_ids: Iterable[str],
    from_version: FromVersion = None,
    *,
    replies: bool = False,
    url: str | None = None,
) -> Iterator[dict[str, Any]]:
    """``stream_events``' twin for the synchronous ``Client`` (no thread: it sends its
    heartbeat when nothing came for a heartbeat interval)."""
    from websockets.sync.client import connect

    tracker = EventTracker(app_ids, from_version)
    failures = 0
    limit = client.max_retries
    while True:
        token = ""
        try:
            ws_url = url or _discover_sync(client)
            with connect(ws_url, compression=None, max_size=_MAX_FRAME) as conn:
                token = client.get_access_token()
                conn.send(tracker.login(client.dev_id, token))
                limit = -1
                conn.send(tracker.subscribe())
                conn.send(tracker.sync())
                while True:
                    try:
                        raw = conn.recv(timeout=EVENT_HEARTBEAT_S)
                    except TimeoutError:
                        conn.send(tracker.heartbeat())
                        continue
                    failures = 0
                    try:
                        out = tracker.accept(json.loads(raw), replies)
                    except _Resync as gap:
                        conn.send(tracker.sync([gap.app_id]))
                        continue
                    yield from out
        except Exception as exc:
            wait = _recover(exc, token, failures, client._tokens.invalidate, limit)
            failures += 1
            if wait:
                time.sleep(wait)
