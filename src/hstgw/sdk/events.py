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
import itertools
import json
import random
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

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
    from hstgw.sdk._client import AsyncClient

__all__ = ["EventTracker", "FromVersion", "stream_events"]

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


async def _discover(client: AsyncClient) -> str:
    try:
        response = await client._http.get("/server/address", params={"appType": "8"})
        return str(response.json()["result"])
    except Exception as exc:
        raise APIConnectionError(f"event gateway not found: {exc!r}") from exc


async def stream_events(
    client: AsyncClient,
    app_ids: Iterable[str],
    from_version: FromVersion = None,
    *,
    replies: bool = False,
    url: str | None = None,
) -> AsyncIterator[dict[str, Any]]:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    tracker = EventTracker(app_ids, from_version)
    failures = 0
    while True:
        token = ""
        try:
            ws_url = url or await _discover(client)
            async with connect(ws_url, compression=None, max_size=2**24) as conn:
                token = await client.get_access_token()
                await conn.send(tracker.login(client.dev_id, token))
                beat = asyncio.create_task(_beat(conn, tracker))
                try:
                    await conn.send(tracker.subscribe())
                    await conn.send(tracker.sync())
                    async for raw in conn:
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
        except (TokenExpiredError, AuthenticationError):
            # An access_token that expired or was superseded (or a cluster's Redis that
            # lost it): take a new one, once in a row; a second refusal is final.
            if not token or failures > 0:
                raise
            client._tokens.invalidate(token)
            failures += 1
            continue
        except SystemBusyError:
            pass  # the gateway's store or Redis away, or too many failures: later
        except APIError:
            raise  # a refusal of the request itself (another's app, a bad field)
        except ConnectionClosed:
            pass
        except Exception as exc:
            if not _retryable(exc):
                raise
        delay = RECONNECT_DELAYS_S[min(failures, len(RECONNECT_DELAYS_S) - 1)]
        failures += 1
        await asyncio.sleep(delay * (0.75 + random.random() / 2))


async def _beat(conn: Any, tracker: EventTracker) -> None:
    for _ in itertools.count():
        await asyncio.sleep(EVENT_HEARTBEAT_S)
        await asyncio.wait_for(conn.send(tracker.heartbeat()), TERMINAL_REQUEST_TIMEOUT_S)
