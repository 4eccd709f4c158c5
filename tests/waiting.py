"""Waiting on conditions, not on time: the one helper the suite polls with."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

__all__ = ["eventually", "eventually_sync"]


async def eventually(check: Callable[[], Any], seconds: float = 5.0) -> Any:
    """``check()`` (a plain or async callable) once it is truthy, or its last value.

    Polls every 20 ms until ``seconds`` have passed; the caller asserts on the result.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value or loop.time() > deadline:
            return value
        await asyncio.sleep(0.02)  # the poll interval, not a wait for something


def eventually_sync(check: Callable[[], Any], seconds: float = 5.0) -> Any:
    """The same for code outside an event loop (threads, subprocesses)."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)  # the poll interval, not a wait for something
