"""A subscriber's outbox: a queue of frames bounded in frames and, for what the
gateway may wait on (replies, snapshots, replays), in characters too.

A full sync of a busy app is one frame of megabytes; a client that asks for it again
and again without reading would otherwise hold ``HSTGW_EVENT_QUEUE`` of them in
memory. Live pushes (small, never waited on) are bounded by the frame count alone.
"""

from __future__ import annotations

import asyncio

__all__ = ["MAX_WAITED_CHARS", "Outbox"]

# Replies queue while fewer than this many characters wait unsent (then one more frame
# may go in, whatever its size): a subscriber's memory stays about this plus one frame.
MAX_WAITED_CHARS = 1 << 20


class Outbox(asyncio.Queue[str]):
    def __init__(self, frames: int, max_chars: int = MAX_WAITED_CHARS) -> None:
        super().__init__(frames)
        self.chars = 0  # characters queued, not yet taken by the writer
        self.max_chars = max_chars
        self._room = asyncio.Event()

    # asyncio.Queue's own hooks for every put and get (documented in its source as
    # the methods a subclass overrides, as PriorityQueue does).
    def _put(self, item: str) -> None:
        self.chars += len(item)
        super()._put(item)

    def _get(self) -> str:
        item = super()._get()
        self.chars -= len(item)
        if self.chars < self.max_chars:
            self._room.set()
        return item

    async def put_waiting(self, item: str) -> None:
        """Put ``item`` once fewer than ``max_chars`` wait, and the frame count allows."""
        while self.chars >= self.max_chars:
            self._room.clear()
            await self._room.wait()
        await self.put(item)
