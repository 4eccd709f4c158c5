"""Writing down what a chain delivered, behind it: one transaction for many deliveries.

A chain (chain.py) posts its next event as soon as the last one was answered 2xx; the
rows of the deliveries done and the cursor they move are written by one writer at a
time, each write taking all that finished since the last (a group commit), so an
endpoint is not held to one store commit per event. A crash before a write loses no
event: the stored cursor still stands before the unwritten deliveries, which are sent
again (at least once; receivers deduplicate on ``app_id`` and ``version``). The
cursor's compare-and-set still fences a node that lost its lease, or a redelivery asked
for meanwhile: that write fails whole and the chain reads where it stands.
"""

from __future__ import annotations

import asyncio

from hstgw.store import DeliveryRow, Store

__all__ = ["Recorder"]


class Recorder:
    def __init__(self, store: Store, webhook_id: str, app_id: str, cursor: int | None) -> None:
        self._store = store
        self._webhook_id = webhook_id
        self._app_id = app_id
        self.durable = cursor  # the cursor as stored
        self._to = cursor  # where the next write moves it
        self._rows: list[DeliveryRow] = []
        self._writer: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self.moved = False  # a write found the cursor moved by someone else

    @property
    def cursor(self) -> int | None:
        """Where the chain stands: the last version done with, written or not."""
        return self._to

    @property
    def unwritten(self) -> int:
        return len(self._rows)

    def done(self, version: int, row: DeliveryRow | None) -> None:
        """The events up to ``version`` are done with: ``row`` delivered, or None for
        events passed over (an endpoint's filter, a backlog no longer retained)."""
        if row is not None:
            self._rows.append(row)
        self._to = version
        if self._writer is None and not self.moved:
            self._writer = asyncio.create_task(self._write())

    async def flush(self) -> bool:
        """Wait until what was done is written; False when the cursor had moved (what
        was done since is then dropped: the chain starts again where the cursor is)."""
        if self._writer is None and not self.moved and self._to != self.durable:
            self._writer = asyncio.create_task(self._write())  # (after a failed write)
        while self._writer is not None:
            await asyncio.wait([self._writer])  # (its cancellation is not ours)
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return not self.moved

    async def _write(self) -> None:
        try:
            while not self.moved and self._to is not None and self._to != self.durable:
                rows, to = self._rows, self._to
                self._rows = []
                try:
                    moved = await self._store.finish_deliveries(
                        self._webhook_id, self._app_id, self.durable, to, rows
                    )
                except BaseException:
                    self._rows = rows + self._rows  # the next write tries them again
                    raise
                if moved:
                    self.durable = to
                else:
                    self.moved = True
                    self._rows = []
        except Exception as exc:  # handed to the chain by flush()
            self._error = exc
        finally:
            self._writer = None
