"""The delivery workers: each endpoint hears each app's events in version order, one
in flight, at least once.

Per (endpoint, app) one task at a time on a node, and on one node at a time in a
cluster (its lease). The task reads events from the log after the endpoint's cursor
(``EventFeed.after``: nothing is lost across a restart, the cursor is durable), posts
each one and, once a 2xx came back, moves the cursor with the delivery's log row in one
transaction. A failed attempt is tried again after a back-off (backoff.py) until
``retry_for`` has passed since the first; then the endpoint is marked failing and stops,
its backlog kept behind its cursor for ``redeliver``.

Tasks are started when the log tells of an event (``EventFeed.listen``: every node hears
every event; the lease picks one), when the service asks (a redelivery), and by a sweep
every ``sweep_s`` for work nobody was told of (a node that died holding a lease).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from hstgw import __version__
from hstgw.events.model import Event, EventFeed, Unsubscribe
from hstgw.store import DeliveryRow, Store, WebhookRow
from hstgw.webhooks import backoff
from hstgw.webhooks.leases import Leases
from hstgw.webhooks.rows import opened, payload
from hstgw.webhooks.sender import Sender
from hstgw.webhooks.signature import HEADER, header

__all__ = ["DeliveryConfig", "DeliveryWorkers", "payload"]

log = logging.getLogger("hstgw.webhooks")

Key = tuple[str, str]  # (webhook_id, app_id)
Step = Literal["delivered", "moved", "stopped"]
_WAIT_SLICE_S = 0.25  # how often a back-off wait looks at the clock and the cursor
_PURGE_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    retry_for_s: int = 86400
    retry_first_s: float = 1.0
    sweep_s: float = 5.0
    log_retention_s: int = 7 * 86400
    batch: int = 100
    # attempts of one developer in flight at once on this node (the rest wait their turn)
    per_developer: int = 64


class DeliveryWorkers:
    def __init__(
        self,
        store: Store,
        feed: EventFeed,
        leases: Leases,
        sender: Sender,
        config: DeliveryConfig,
        clock: Callable[[], int],
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._store = store
        self._feed = feed
        self._leases = leases
        self._sender = sender
        self._config = config
        self._clock = clock
        self._rand = rand
        self._tasks: dict[Key, asyncio.Task[None]] = {}
        # One developer's receivers that hang hold at most this many of the sender's
        # connections; the others' attempts do not wait behind them.
        self._in_flight: dict[str, asyncio.Semaphore] = {}
        self._wakes: dict[Key, asyncio.Event] = {}
        self._dirty: dict[str, None] = {}  # apps told of since the last turn (ordered set)
        self._poked: dict[str, None] = {}  # endpoints the service asked for
        self._kick = asyncio.Event()
        self._unlisten: Unsubscribe | None = None
        self._main: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._unlisten = self._feed.listen(self._heard)
        self._main = asyncio.create_task(self._run(), name="hstgw-webhooks")

    async def stop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
        tasks = [t for t in (self._main, *self._tasks.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._leases.close()
        await self._sender.aclose()

    def poke(self, webhook_id: str) -> None:
        """Look at this endpoint now (it was resumed or redelivered)."""
        self._poked[webhook_id] = None
        self._kick.set()

    def _heard(self, event: Event) -> None:
        self._dirty[event.app_id] = None
        self._kick.set()

    # the main loop: who has work

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_sweep = 0.0
        next_purge = loop.time() + _PURGE_EVERY_S
        while True:
            if not self._kick.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._kick.wait(), max(0.0, next_sweep - loop.time()))
            self._kick.clear()
            try:
                if loop.time() >= next_sweep:
                    next_sweep = loop.time() + self._config.sweep_s
                    await self._sweep()
                if loop.time() >= next_purge:
                    next_purge = loop.time() + _PURGE_EVERY_S
                    retention_ms = self._config.log_retention_s * 1000
                    await self._store.purge_deliveries(self._clock() - retention_ms)
                dirty, self._dirty = self._dirty, {}
                for app_id in dirty:
                    app = await self._store.find_app(app_id)
                    if app is not None:
                        for hook in await self._store.webhooks_for_app(app.dev_id, app_id):
                            self._ensure((hook.webhook_id, app_id))
                poked, self._poked = self._poked, {}
                for webhook_id in poked:
                    found = await self._store.get_webhook(webhook_id)
                    if found is not None:
                        await self._start_hook(found)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook scheduling failed; the sweep tries again")

    async def _sweep(self) -> None:
        """Start the (endpoint, app) pairs behind their app's head: three reads in all,
        whatever the number of endpoints."""
        heads = await self._store.event_heads(0)
        cursors = await self._store.webhook_cursors()
        for hook in await self._store.active_webhooks():
            await self._start_hook(hook, lambda key: cursors.get(key, 0) < heads.get(key[1], 0))

    async def _start_hook(
        self, hook: WebhookRow, behind: Callable[[Key], bool] = lambda key: True
    ) -> None:
        if hook.status != "active":
            return
        if hook.app_id is not None:
            apps = [hook.app_id]
        else:  # every app of the developer, made before or after the endpoint
            apps = []
            while True:
                total, page = await self._store.list_apps(hook.dev_id, len(apps), 100)
                apps += [app.app_id for app in page]
                if not page or len(apps) >= total:
                    break
        for app_id in apps:
            if behind((hook.webhook_id, app_id)):
                self._ensure((hook.webhook_id, app_id))

    def _ensure(self, key: Key) -> None:
        wake = self._wakes.setdefault(key, asyncio.Event())
        wake.set()
        if key in self._tasks:
            return  # the running task sees the wake before it ends
        task = asyncio.create_task(self._drain(key, wake))
        self._tasks[key] = task
        task.add_done_callback(lambda _t: self._ended(key))

    def _ended(self, key: Key) -> None:
        self._tasks.pop(key, None)
        wake = self._wakes.get(key)
        if wake is not None and wake.is_set() and self._main is not None and not self._main.done():
            # told of more work after its last look: look again
            self._ensure(key)
        elif wake is not None and not wake.is_set():
            self._wakes.pop(key, None)

    # one (endpoint, app): its backlog, in order

    async def _drain(self, key: Key, wake: asyncio.Event) -> None:
        webhook_id, app_id = key
        try:
            wake.clear()
            hook = await self._store.get_webhook(webhook_id)
            if hook is None or hook.status != "active" or not hook.covers(app_id):
                return
            cursor = await self._store.webhook_cursor(webhook_id, app_id)
            if (cursor or 0) >= await self._feed.version(app_id):
                return  # nothing to do: no lease taken
            lease = f"{webhook_id}:{app_id}"
            if not await self._leases.take(lease):
                return  # another node delivers it
            try:
                await self._drain_held(key, lease, wake)
            finally:
                await self._leases.release(lease)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webhook delivery failed", extra={"webhook_id": webhook_id})

    async def _drain_held(self, key: Key, lease: str, wake: asyncio.Event) -> None:
        webhook_id, app_id = key
        while self._leases.holds(lease):
            wake.clear()
            hook = await self._store.get_webhook(webhook_id)
            if hook is None or hook.status != "active":
                return
            cursor = await self._store.webhook_cursor(webhook_id, app_id)
            events = await self._feed.after(app_id, cursor or 0, self._config.batch)
            if events is None:  # older than the log keeps: what is left starts later
                latest = await self._feed.version(app_id)
                log.warning(
                    "webhook backlog no longer retained; skipped",
                    extra={"webhook_id": webhook_id, "app_id": app_id, "to": latest},
                )
                await self._store.move_webhook_cursor(webhook_id, app_id, cursor, latest)
                continue
            if not events:
                if wake.is_set():
                    continue
                return
            if not await self._deliver_batch(hook, lease, cursor, events):
                return

    async def _deliver_batch(
        self, hook: WebhookRow, lease: str, cursor: int | None, events: list[Event]
    ) -> bool:
        """False: stop (failing, gone, lease lost); True: look again."""
        app_id = events[0].app_id
        expected = cursor
        skip_to: int | None = None
        wanted = [e for e in events if hook.wants(e.id)]
        following = dict(zip((e.version for e in wanted), wanted[1:], strict=False))
        for event in events:
            if not self._leases.holds(lease):
                return False
            if not hook.wants(event.id):
                skip_to = event.version  # filtered out: passed over with the next write
                continue
            if skip_to is not None:
                if not await self._store.move_webhook_cursor(
                    hook.webhook_id, app_id, expected, skip_to
                ):
                    return True
                expected, skip_to = skip_to, None
            step = await self._deliver(hook, lease, event, expected, following.get(event.version))
            if step == "stopped":
                return False
            if step == "moved":
                return True
            expected = event.version
        if skip_to is not None:
            await self._store.move_webhook_cursor(hook.webhook_id, app_id, expected, skip_to)
        return True

    async def _deliver(
        self,
        hook: WebhookRow,
        lease: str,
        event: Event,
        expected: int | None,
        following: Event | None = None,
    ) -> Step:
        """``following`` (the next event wanted) is opened as this one finishes."""
        now = self._clock()
        row = await self._store.pending_delivery(hook.webhook_id, event.app_id, event.version)
        if row is None:
            row = opened(hook, event, now)
            await self._store.open_delivery(row)
        body = payload(event)
        attempts = row.attempts
        while True:
            attempts += 1
            turn = self._in_flight.get(hook.dev_id)
            if turn is None:
                turn = self._in_flight[hook.dev_id] = asyncio.Semaphore(self._config.per_developer)
            async with turn:
                outcome = await self._sender.send(hook.url, body, self._headers(hook, row, body))
            now = self._clock()
            if outcome.ok:
                assert outcome.status is not None
                next_row = None if following is None else opened(hook, following, now)
                done = await self._store.finish_delivery(
                    replace(row, attempts=attempts), outcome.latency_ms, outcome.status, now,
                    expected, next_row,
                )  # fmt: skip
                return "delivered" if done else "moved"
            if now - row.created_at >= self._config.retry_for_s * 1000:
                await self._store.fail_delivery(
                    row.delivery_id, hook.webhook_id, attempts, outcome.latency_ms,
                    outcome.status, outcome.error, now,
                )  # fmt: skip
                log.warning(
                    "webhook endpoint failing: retried for %s s",
                    self._config.retry_for_s,
                    extra={"webhook_id": hook.webhook_id, "error": outcome.error},
                )
                return "stopped"
            await self._store.record_attempt(
                row.delivery_id, attempts, outcome.latency_ms, outcome.status, outcome.error, now
            )
            wait_ms = backoff.delay(attempts, self._config.retry_first_s, self._rand) * 1000
            step = await self._wait(hook, lease, event.app_id, expected, now + int(wait_ms))
            if step != "delivered":
                return step
            fresh = await self._store.get_webhook(hook.webhook_id)
            if fresh is None or fresh.status != "active":
                return "stopped"
            hook = fresh  # its secret may have been rotated meanwhile

    async def _wait(
        self, hook: WebhookRow, lease: str, app_id: str, expected: int | None, due_ms: int
    ) -> Step:
        """Until ``due_ms`` on the clock (which a test may move); "delivered" means
        "go on", the others that the endpoint or its cursor changed meanwhile."""
        while (left_ms := due_ms - self._clock()) > 0:
            await asyncio.sleep(min(left_ms / 1000, _WAIT_SLICE_S))
            if not self._leases.holds(lease):
                return "stopped"
            fresh = await self._store.get_webhook(hook.webhook_id)
            if fresh is None or fresh.status != "active":
                return "stopped"
            if await self._store.webhook_cursor(hook.webhook_id, app_id) != expected:
                return "moved"  # redelivered from elsewhere
        return "delivered"

    def _headers(self, hook: WebhookRow, row: DeliveryRow, body: bytes) -> dict[str, str]:
        now = self._clock()
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
