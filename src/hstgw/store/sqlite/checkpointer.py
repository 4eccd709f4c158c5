"""The WAL checkpoint, on a thread and connection of its own.

A checkpoint copies the WAL's pages back into the database file and syncs it (~75 ms
for 128 MiB on the bench machine). Run by SQLite's automatic checkpoint, it runs in
the committing writer, and no commit returns meanwhile: every append of every session
waits. Here the writer's automatic checkpoint is off and this thread runs PASSIVE
checkpoints, which never take the write lock, once ``pages`` of the WAL's frames
are not yet copied back (read from the wal-index every ``interval``).

A PASSIVE checkpoint copies the frames there were when it began; SQLite restarts the
WAL from its start only when a write finds every frame copied. Under a steady stream of
commits that may not happen, and the WAL would grow without end: past ``restart_pages``,
once PASSIVE passes have copied nearly everything, ``finish`` has the writer itself run
a PASSIVE checkpoint between two of its transactions: it copies the few frames left
(a few ms), and the writer's next transaction starts the WAL over. (A RESTART
checkpoint from here waits for the write lock and the readers in the busy handler's
sleeps, holding the writers off meanwhile: the webhook bench fell behind with it.)

Durability does not change: a commit is as durable as ``synchronous`` makes it when
written to the WAL, whoever copies it back later.
"""

from __future__ import annotations

import logging
import sqlite3
import struct
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["Checkpointer"]

log = logging.getLogger(__name__)

# Before the writer's pass: at most this many PASSIVE passes, until this few frames are
# left to copy.
_CATCH_UP_PASSES = 4
_CATCH_UP_PAGES = 256


class Checkpointer:
    """Watch the WAL's frames; checkpoint it from a thread of its own."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        path: Path,
        *,
        pages: int,
        restart_pages: int,
        finish: Callable[[], None],
        interval: float = 0.1,
    ) -> None:
        self._connect = connect
        self._shm = Path(f"{path}-shm")
        self._pages = pages
        self._restart_pages = restart_pages
        self._finish = finish
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0  # passive ones run; read by the tests
        self.restarts = 0  # writer's passes asked for

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="hstgw-sqlite-checkpoint", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end and wait: at most the checkpoint under way."""
        thread = self._thread
        if thread is None:
            return
        self._stop.set()
        thread.join()
        self._thread = None

    def _run(self) -> None:
        try:
            conn = self._connect()
        except sqlite3.Error:
            log.exception("the WAL checkpointer could not connect; SQLite's own is off")
            return
        try:
            while not self._stop.wait(self._interval):
                frames, copied = _wal_index(self._shm)
                # Due: enough to copy, or a WAL past its size that did not start over
                # (a reader held an old snapshot at the writer's pass): try again.
                due = frames - copied >= self._pages or (
                    frames >= self._restart_pages and frames - copied > _CATCH_UP_PAGES
                )
                if not due:
                    continue
                try:
                    self._checkpoint(conn, frames)
                except sqlite3.Error:
                    log.warning("WAL checkpoint failed; retried later", exc_info=True)
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection, frames: int) -> None:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.checkpoints += 1
        if frames < self._restart_pages:
            return
        # Copy what came in meanwhile, so that the writer's own pass, which holds its
        # commits off, has little left to copy and sync.
        for _ in range(_CATCH_UP_PASSES):
            frames, copied = _wal_index(self._shm)
            if frames - copied <= _CATCH_UP_PAGES or self._stop.is_set():
                break
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if not self._stop.is_set():
            self._finish()
            self.restarts += 1


def _wal_index(shm: Path) -> tuple[int, int]:
    """The WAL's frames and how many of them are copied back, from the wal-index.

    The wal-index (the ``-shm`` file) is documented (sqlite.org/fileformat2.html, "WAL-
    Index Format"): ``mxFrame`` at byte 16 of its header, ``nBackfill`` at 96, both in
    the machine's byte order. Read without a lock: a torn read only moves a check by
    one interval. No file (no WAL yet): nothing to do."""
    try:
        with shm.open("rb") as f:
            head = f.read(100)
    except FileNotFoundError:
        return 0, 0
    if len(head) < 100:
        return 0, 0
    frames = struct.unpack_from("=I", head, 16)[0]
    copied = struct.unpack_from("=I", head, 96)[0]
    return frames, min(copied, frames)
