"""Tasks started and not awaited: held until they end (the event loop keeps only a weak
reference to a task) and awaited together at a clean stop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["Background", "cancel"]

T = TypeVar("T")


async def cancel(*tasks: asyncio.Task[Any] | None, every_s: float = 1.0) -> None:
    """Cancel ``tasks`` and wait until each has ended.

    A cancellation a library swallowed is sent again: redis-py's asyncio client loses
    one now and then (a task cancelled in a command may run on, measured on 8.1), and a
    stop that awaited such a task once would wait for ever."""
    pending = {t for t in tasks if t is not None}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=every_s)


class Background:
    """A set of background tasks; ``on_error`` hears each one that failed."""

    __slots__ = ("_on_error", "_tasks")

    def __init__(self, on_error: Callable[[BaseException], None] | None = None) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._on_error = on_error

    def spawn(self, aw: Awaitable[T]) -> asyncio.Task[T]:
        task = asyncio.ensure_future(aw)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if self._on_error is not None and not task.cancelled():
            exc = task.exception()
            if exc is not None:
                self._on_error(exc)

    def __len__(self) -> int:
        return len(self._tasks)

    async def wait(self) -> None:
        """Wait for the tasks under way to end, whatever their outcome."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self, grace_s: float) -> None:
        """Let the tasks under way end within ``grace_s``, cancel the rest, wait for all."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=grace_s)
        await cancel(*self._tasks)
        await self.wait()
