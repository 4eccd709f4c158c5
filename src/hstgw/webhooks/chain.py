"""One endpoint's deliveries of one app's events: in version order, one in flight, at
least once.

A chain runs on the node holding its lease (leases.py). It starts from the stored
cursor (``EventFeed.after``: nothing is lost across a restart), then takes the events
this node hears as they come (``hear``: no store read while it keeps up), posts each
and, once a 2xx came back, posts the next; the delivery rows and the cursor are written
behind it (recorder.py). A failed attempt is tried again after a back-off (backoff.py)
until ``retry_for`` has passed since the first; then the endpoint is marked failing and
the chain stops, its backlog kept behind its cursor for ``redeliver``. A chain with
nothing to do lingers a moment (the next event costs no lease and no reads), then ends.

The endpoint's row is read again at least every ``_REREAD_S`` (a change made on another
node: a deletion, a new secret) and at once when this node's service changed it
(``stale``); so is the cursor, which a redelivery may have moved.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

from hstgw import __version__
from hstgw.events.model import Event, EventFeed
from hstgw.store import DeliveryRow, Store, WebhookRow
from hstgw.webhooks import backoff
from hstgw.webhooks.leases import Leases
from hstgw.webhooks.recorder import Recorder
from hstgw.webhooks.rows import opened, payload
from hstgw.webhooks.sender import Sender
from hstgw.webhooks.signature import HEADER, header

__all__ = ["Chain", "DeliveryConfig", "Shared"]

log = logging.getLogger("hstgw.webhooks")

Step = Literal["delivered", "moved", "stopped"]
_WAIT_SLICE_S = 0.25  # how often a back-off wait looks at the clock and the cursor
_REREAD_S = 1.0  # the endpoint's row and cursor, read again at least this often
_LINGER = 2  # idle rereads before an idle chain ends
# Events heard and not yet taken, a chain's and the node's (memory stays bounded
# whatever the number of endpoints and apps); past either a chain reads the store.
_QUEUE = 256
_QUEUED = 50_000
_LINGERING = 1000  # past this many chains on the node, an idle one ends at once


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    retry_for_s: int = 86400
    retry_first_s: float = 1.0
    sweep_s: float = 5.0
    log_retention_s: int = 7 * 86400
    batch: int = 100  # events read at once; deliveries written behind at most
    # attempts of one developer in flight at once on this node (the rest wait their turn)
    per_developer: int = 64


@dataclass
class Shared:
    """What every chain of a node uses."""

    store: Store
    feed: EventFeed
    leases: Leases
    sender: Sender
    config: DeliveryConfig
    clock: Callable[[], int]
    rand: Callable[[], float] = random.random
    # One developer's receivers that hang hold at most ``per_developer`` of the
    # sender's connections; the others' attempts do not wait behind them.
    turns: dict[str, asyncio.Semaphore] = field(default_factory=dict)
    queued: int = 0  # events in the chains' queues
    running: int = 0  # chains

    def turn(self, dev_id: str) -> asyncio.Semaphore:
        turn = self.turns.get(dev_id)
        if turn is None:
            turn = self.turns[dev_id] = asyncio.Semaphore(self.config.per_developer)
        return turn


class Chain:
    def __init__(self, shared: Shared, webhook_id: str, app_id: str) -> None:
        self._s = shared
        self.webhook_id = webhook_id
        self.app_id = app_id
        self.wake = asyncio.Event()
        self.stale = True  # read the endpoint and the cursor before the next event
        self._queue: deque[Event] = deque()
        self._open = False  # holding the lease: what is heard is queued
        self._lease = f"{webhook_id}:{app_id}"
        self._recorder = Recorder(shared.store, webhook_id, app_id, None)
        self._hook: WebhookRow | None = None  # the endpoint, as last read
        self._pending: DeliveryRow | None = None  # a delivery failed before, to go on with
        self._read_at = 0.0  # when the endpoint was last read (loop time)
        self._idle = 0  # rereads in a row with nothing to deliver

    def hear(self, event: Event) -> None:
        """An event of the app, heard in version order (``EventFeed.listen``)."""
        if self._open and len(self._queue) < _QUEUE and self._s.queued < _QUEUED:
            self._queue.append(event)
            self._s.queued += 1
        else:
            self._drop()  # fallen behind: the store has them
        self.wake.set()

    def _drop(self) -> None:
        self._s.queued -= len(self._queue)
        self._queue.clear()

    def touch(self) -> None:
        """The endpoint changed on this node: read it again before the next event."""
        self.stale = True
        self.wake.set()

    async def run(self) -> bool:
        """Deliver until caught up and idle, stopped or the lease lost; False if
        another node holds the lease."""
        leases = self._s.leases
        if not await leases.take(self._lease):
            return False
        self._s.running += 1
        self._open = True
        try:
            await self._held()
        finally:
            self._open = False
            self._s.running -= 1
            self._drop()
            try:
                await self._recorder.flush()
            except Exception:
                log.exception("webhook deliveries not written", extra=self._extra())
            finally:
                await leases.release(self._lease)
        return True

    def _extra(self) -> dict[str, str]:
        return {"webhook_id": self.webhook_id, "app_id": self.app_id}

    async def _held(self) -> None:
        """While the lease is held: refresh, take the next events, deliver or linger."""
        s = self._s
        while s.leases.holds(self._lease):
            self.wake.clear()
            if not await self._refresh():
                return
            events = await self._next_events()
            if events is None:
                continue
            if not events:
                if not await self._linger():
                    return
                continue
            self._idle = 0
            if not await self._deliver_all(events):
                return

    async def _refresh(self) -> bool:
        """Read the endpoint and the cursor again when due; False: the chain ends (the
        endpoint is gone, paused, or no longer covers the app)."""
        s, app_id = self._s, self.app_id
        now = asyncio.get_running_loop().time()
        if self._hook is not None and not self.stale and now < self._read_at + _REREAD_S:
            return True
        first = self._hook is None
        self.stale, self._read_at = False, now
        await self._recorder.flush()  # (so that the cursors below compare)
        hook = self._hook = await s.store.get_webhook(self.webhook_id)
        if hook is None or hook.status != "active" or not hook.covers(app_id):
            return False
        stored = await s.store.webhook_cursor(self.webhook_id, app_id)
        if first or self._recorder.moved or stored != self._recorder.durable:
            # the start, or a redelivery moved it: the chain goes from there
            self._drop()  # (what it needs is read from the store)
            self._recorder = Recorder(s.store, self.webhook_id, app_id, stored)
            self._pending = await s.store.pending_delivery(
                self.webhook_id, app_id, (stored or 0) + 1
            )
        return True

    async def _next_events(self) -> list[Event] | None:
        """The events after the cursor: heard ones, else from the store; [] when caught
        up; None when the backlog was skipped (past what the log keeps)."""
        s, recorder = self._s, self._recorder
        cursor = recorder.cursor
        events = self._take(cursor)
        if events is not None:
            return events
        events = await s.feed.after(self.app_id, cursor or 0, s.config.batch)
        if events is None:  # older than the log keeps: what is left starts later
            latest = await s.feed.version(self.app_id)
            log.warning(
                "webhook backlog no longer retained; skipped up to %s", latest, extra=self._extra()
            )
            recorder.done(latest, None)
        return events

    async def _linger(self) -> bool:
        """Caught up: write what is done, wait for an event; False: idle long enough."""
        if not await self._recorder.flush():
            self.stale = True
            return True
        if self.wake.is_set():
            return True
        try:
            await asyncio.wait_for(self.wake.wait(), _REREAD_S)
            self._idle = 0
        except TimeoutError:
            self._idle += 1
            if self._idle >= _LINGER or self._s.running > _LINGERING:
                return False
        return True

    async def _deliver_all(self, events: list[Event]) -> bool:
        """Deliver ``events`` in order; False: the endpoint is failing (the chain ends)."""
        s, hook, recorder = self._s, self._hook, self._recorder
        assert hook is not None
        for event in events:
            if self.stale or not s.leases.holds(self._lease):
                break
            if not hook.wants(event.id):
                recorder.done(event.version, None)
                continue
            pending = self._pending
            row = pending if pending is not None and pending.version == event.version else None
            step = await self._deliver(hook, event, row, recorder)
            if step == "stopped":
                return False
            if step == "moved":
                self.stale = True
                break
            if recorder.unwritten >= s.config.batch:
                await recorder.flush()  # (back-pressure: no more than a batch unwritten)
        return True

    def _take(self, cursor: int | None) -> list[Event] | None:
        """The next events from what was heard; [] when caught up; None: read the store."""
        after = cursor or 0
        queue = self._queue
        while queue and queue[0].version <= after:
            queue.popleft()
            self._s.queued -= 1
        if not queue:
            return [] if self._s.feed.heard(self.app_id) <= after else None
        if queue[0].version != after + 1:
            self._drop()  # heard from further on: the store has what lies between
            return None
        out: list[Event] = []
        while queue and len(out) < self._s.config.batch:
            out.append(queue.popleft())
        self._s.queued -= len(out)
        return out

    async def _deliver(
        self, hook: WebhookRow, event: Event, row: DeliveryRow | None, recorder: Recorder
    ) -> Step:
        s = self._s
        row = row if row is not None else opened(hook, event, s.clock())
        body = payload(event)
        attempts = row.attempts
        while True:
            attempts += 1
            async with s.turn(hook.dev_id):
                outcome = await s.sender.send(hook.url, body, self._headers(hook, row, body))
            now = s.clock()
            tried = replace(
                row, attempts=attempts, latency_ms=outcome.latency_ms,
                response_code=outcome.status, last_error=outcome.error, updated_at=now,
            )  # fmt: skip
            if outcome.ok:
                recorder.done(event.version, replace(tried, status="delivered", last_error=""))
                return "delivered"
            # What was delivered before is written first; it tells whether the cursor moved.
            if not await recorder.flush():
                return "moved"
            if now - row.created_at >= s.config.retry_for_s * 1000:
                await s.store.fail_delivery(replace(tried, status="failed"))
                log.warning(
                    "webhook endpoint failing: retried for %s s",
                    s.config.retry_for_s,
                    extra={**self._extra(), "error": outcome.error},
                )
                return "stopped"
            await s.store.save_delivery(tried)
            row = tried
            wait_ms = backoff.delay(attempts, s.config.retry_first_s, s.rand) * 1000
            step = await self._wait(hook, recorder.durable, now + int(wait_ms))
            if step != "delivered":
                return step
            fresh = await s.store.get_webhook(hook.webhook_id)
            if fresh is None or fresh.status != "active":
                return "stopped"
            hook = fresh  # its secret may have been rotated meanwhile

    async def _wait(self, hook: WebhookRow, expected: int | None, due_ms: int) -> Step:
        """Until ``due_ms`` on the clock (which a test may move); "delivered" means
        "go on", the others that the endpoint or its cursor changed meanwhile."""
        s = self._s
        while (left_ms := due_ms - s.clock()) > 0:
            await asyncio.sleep(min(left_ms / 1000, _WAIT_SLICE_S))
            if not s.leases.holds(self._lease):
                return "stopped"
            fresh = await s.store.get_webhook(hook.webhook_id)
            if fresh is None or fresh.status != "active":
                return "stopped"
            if await s.store.webhook_cursor(hook.webhook_id, self.app_id) != expected:
                return "moved"  # redelivered from elsewhere
        return "delivered"

    def _headers(self, hook: WebhookRow, row: DeliveryRow, body: bytes) -> dict[str, str]:
        now = self._s.clock()
        secrets = [hook.secret]
        if hook.old_secret is not None and now < hook.old_secret_until:
            secrets.append(hook.old_secret)  # during a rotation both sign
        return {
            "Content-Type": "application/json",
            "User-Agent": f"hstgw-webhooks/{__version__}",
            HEADER: header(now // 1000, body, secrets),
            "Hst-Webhook-Id": hook.webhook_id,
            "Hst-Delivery-Id": row.delivery_id,
        }
