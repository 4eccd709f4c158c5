"""The delivery workers of a node: which (endpoint, app) chains run, and when.

Each (endpoint, app) pair is one chain (chain.py) at a time on a node, and on one node
at a time in a cluster (its lease). Chains are started when the log tells of an event
(``EventFeed.listen``: every node hears every event; the lease picks one node), when
this node's service changed an endpoint (``poke``), and by a sweep every ``sweep_s``
for work nobody was told of (a node that died holding a lease). A running chain is
handed each event of its app as it is heard.

Which endpoints cover an app is read once a second at most per app (``_HOOKS_S``): an
endpoint made on another node of a cluster is heard of within it (one made here, at
once). A node that found a chain's lease held elsewhere leaves it for ``_ELSEWHERE_S``
instead of asking again at each event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable

from hstgw.events.model import Event, EventFeed, Unsubscribe
from hstgw.store import Store, WebhookRow
from hstgw.tasks import cancel
from hstgw.webhooks.chain import Chain, DeliveryConfig, Shared
from hstgw.webhooks.leases import Leases
from hstgw.webhooks.rows import payload
from hstgw.webhooks.sender import Sender

__all__ = ["DeliveryConfig", "DeliveryWorkers", "payload"]

log = logging.getLogger("hstgw.webhooks")

Key = tuple[str, str]  # (webhook_id, app_id)
_PURGE_EVERY_S = 60.0
_HOOKS_S = 1.0
_ELSEWHERE_S = 1.0


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
        self._shared = Shared(store, feed, leases, sender, config, clock, rand)
        self._chains: dict[Key, tuple[Chain, asyncio.Task[None]]] = {}
        self._by_app: dict[str, dict[Key, Chain]] = {}
        self._hooks: dict[str, tuple[float, list[str]]] = {}  # app -> (until, webhook ids)
        self._elsewhere: dict[Key, float] = {}  # lease held by another node, until
        self._dirty: dict[str, None] = {}  # apps to read the endpoints of (ordered set)
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
        main, self._main = self._main, None
        await cancel(main, *(t for _, t in self._chains.values()))
        await self._leases.close()
        await self._sender.aclose()

    @property
    def running(self) -> int:
        """Chains delivering (or lingering) on this node."""
        return self._shared.running

    @property
    def queued(self) -> int:
        """Events heard and held in the chains' queues (bounded: chain.py)."""
        return self._shared.queued

    def changed(self, webhook_id: str) -> None:
        """An endpoint was made, changed or deleted on this node: its chains read it
        again, and which endpoints cover an app is read anew."""
        self._hooks.clear()
        for (hook_id, _), (chain, _) in self._chains.items():
            if hook_id == webhook_id:
                chain.touch()

    def poke(self, webhook_id: str) -> None:
        """Look at this endpoint now (it was resumed or redelivered)."""
        self.changed(webhook_id)
        self._poked[webhook_id] = None
        self._kick.set()

    def _heard(self, event: Event) -> None:
        app_id = event.app_id
        for chain in self._by_app.get(app_id, {}).values():
            chain.hear(event)
        known = self._hooks.get(app_id)
        if known is not None and known[0] > asyncio.get_running_loop().time():
            for webhook_id in known[1]:
                self._ensure((webhook_id, app_id))
        else:
            self._dirty[app_id] = None
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
                    await self._store.purge_deliveries(self._shared.clock() - retention_ms)
                dirty, self._dirty = self._dirty, {}
                for app_id in dirty:
                    webhook_ids: list[str] = []
                    app = await self._store.find_app(app_id)
                    if app is not None:
                        hooks = await self._store.webhooks_for_app(app.dev_id, app_id)
                        webhook_ids = [hook.webhook_id for hook in hooks]
                    self._hooks[app_id] = (loop.time() + _HOOKS_S, webhook_ids)
                    for webhook_id in webhook_ids:
                        self._ensure((webhook_id, app_id))
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
        self._elsewhere.clear()  # (a node that held a lease may have died since)
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
        running = self._chains.get(key)
        if running is not None:
            running[0].wake.set()
            return
        loop = asyncio.get_running_loop()
        if self._elsewhere.get(key, 0.0) > loop.time() or self._main is None:
            return
        chain = Chain(self._shared, *key)
        task = loop.create_task(self._drive(chain))
        self._chains[key] = (chain, task)
        self._by_app.setdefault(key[1], {})[key] = chain

    async def _drive(self, chain: Chain) -> None:
        key = (chain.webhook_id, chain.app_id)
        held = True
        try:
            held = await chain.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webhook delivery failed", extra={"webhook_id": chain.webhook_id})
        finally:
            del self._chains[key]
            chains = self._by_app[key[1]]
            del chains[key]
            if not chains:
                del self._by_app[key[1]]
        if not held:
            self._elsewhere[key] = asyncio.get_running_loop().time() + _ELSEWHERE_S
        elif chain.wake.is_set():
            self._ensure(key)  # told of more work after its last look: look again
