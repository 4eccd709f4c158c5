"""Messages between nodes over Redis pub/sub: requests to one node, broadcasts to all.

Each node listens on its own channel and on the cluster's. A request names the
node that holds a terminal and waits for its answer at most ``timeout`` seconds:
no answer (the node died, is partitioned, or Redis is away) is ``None``, never a
hang. Pub/sub delivers at most once; whoever needs certainty (trans-cmd's result)
gets it from the answer, and caches fed by broadcasts are dropped whole whenever
the listener had to reconnect, since it may have missed some.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from redis.exceptions import RedisError

from hstgw.cluster.redis import RedisUnavailable, SharedRedis
from hstgw.tasks import Background, cancel

__all__ = ["Bus", "Handler"]

log = logging.getLogger("hstgw.cluster")

Handler = Callable[[dict[str, Any]], Any]  # may return an awaitable

_RECONNECT_S = 0.2
COMMAND_WAIT_S = 3.0

# A message is {"operation", "request_id" (requests and replies only), "from", "body"}.
# The previous version named the first two "op" and "id": until the release after this
# one, a message carries both names and a message of either version is read, so that a
# rolling upgrade may mix the two versions (docs/deployment.md).
_PREVIOUS_NAMES = (("operation", "op"), ("request_id", "id"))


def _message(operation: str, sender: str, body: Any, request_id: int | None = None) -> bytes:
    msg: dict[str, Any] = {"operation": operation, "from": sender, "body": body}
    if request_id is not None:
        msg["request_id"] = request_id
    for name, previous in _PREVIOUS_NAMES:
        if name in msg:
            msg[previous] = msg[name]
    return orjson.dumps(msg)


def _read(msg: dict[str, Any], name: str, previous: str) -> Any:
    """``msg[name]``, or ``msg[previous]`` from a node of the previous version."""
    return msg[name] if name in msg else msg[previous]


class Bus:
    def __init__(
        self,
        redis: SharedRedis,
        node: str,
        *,
        on_error: Callable[[], None] = lambda: None,
    ) -> None:
        self._r = redis
        self.node = node
        self._on_error = on_error
        self._own = redis.key("n", node)
        self._all = redis.key("all")
        self._handlers: dict[str, Handler] = {}
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._listener: asyncio.Task[None] | None = None
        self._tasks = Background()
        self._subscribed = asyncio.Event()
        # Called after the listener (re)subscribed following a break: broadcasts may
        # have been missed meanwhile.
        self.on_resubscribed: Callable[[], None] = lambda: None

    def on(self, op: str, handler: Handler) -> None:
        self._handlers[op] = handler

    async def start(self) -> None:
        self._listener = asyncio.create_task(self._listen())
        # Wait (briefly) for the subscription: a node takes no terminal before it can
        # be reached. Redis being away is not fatal; the listener keeps trying.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), 5.0)

    async def stop(self) -> None:
        await cancel(self._listener)
        self._listener = None
        # Let the last messages go (a stop's kicks broadcast presence): a publish
        # cancelled while connecting would leave its connection unclosed.
        await self._tasks.stop(COMMAND_WAIT_S)
        for fut in self._waiting.values():
            fut.cancel()

    # sending

    async def request(self, node: str, op: str, body: dict[str, Any], wait_s: float) -> Any:
        """``node``'s answer to ``op``, or None if none came within ``wait_s``."""
        rid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = fut
        try:
            message = _message(op, self.node, body, rid)
            receivers = await self._r.run(lambda c: c.publish(self._r.key("n", node), message))
            if not receivers:
                return None  # nobody listens there: the node is gone
            return await asyncio.wait_for(fut, wait_s)
        except (TimeoutError, RedisUnavailable):
            return None
        finally:
            self._waiting.pop(rid, None)

    def broadcast(self, op: str, body: dict[str, Any]) -> None:
        """Tell every other node, without waiting (a failure is counted and logged)."""
        message = _message(op, self.node, body)
        self._spawn(self._publish(self._all, message))

    async def _publish(self, channel: str, message: bytes) -> None:
        try:
            await self._r.run(lambda c: c.publish(channel, message))
        except RedisUnavailable as exc:
            log.warning("cluster message not sent: %s", exc)

    def _spawn(self, aw: Awaitable[Any]) -> None:
        self._tasks.spawn(aw)

    def spawn(self, aw: Awaitable[Any]) -> None:
        """Run ``aw`` in the background, awaited (or given up) at the bus's stop."""
        self._tasks.spawn(aw)

    # receiving

    async def _listen(self) -> None:
        broken = False
        while True:
            pubsub = self._r.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._own, self._all)
                self._subscribed.set()
                if broken:
                    log.warning("cluster bus subscribed again")
                    self.on_resubscribed()
                    broken = False
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._dispatch(message["data"])
            except (RedisError, OSError) as exc:
                if not broken:
                    self._on_error()
                    log.warning("cluster bus lost Redis: %s", exc)
                broken = True
                await asyncio.sleep(_RECONNECT_S)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _dispatch(self, raw: bytes) -> None:
        try:
            msg = orjson.loads(raw)
            op, sender = _read(msg, "operation", "op"), msg["from"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.warning("cluster bus: unreadable message dropped")
            return
        if sender == self.node:
            return  # our own broadcast
        if op == "_reply":
            fut = self._waiting.get(_read(msg, "request_id", "id"))
            if fut is not None and not fut.done():
                fut.set_result(msg["body"])
            return
        handler = self._handlers.get(op)
        if handler is None:
            log.warning("cluster bus: no handler for %r", op)
            return
        try:
            result = handler(msg["body"])
        except Exception:
            log.exception("cluster bus handler %r failed", op)
            return
        rid = msg.get("request_id", msg.get("id"))
        if inspect.isawaitable(result):
            self._spawn(self._answer_later(op, sender, rid, result))
        elif rid is not None:
            self._spawn(self._answer(sender, rid, result))

    async def _answer_later(
        self, op: str, sender: str, rid: int | None, aw: Awaitable[Any]
    ) -> None:
        try:
            result = await aw
        except Exception:
            log.exception("cluster bus handler %r failed", op)
            return
        if rid is not None:
            await self._answer(sender, rid, result)

    async def _answer(self, sender: str, rid: int, result: Any) -> None:
        message = _message("_reply", self.node, result, rid)
        await self._publish(self._r.key("n", sender), message)
