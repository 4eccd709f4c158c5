"""An event log on each engine (SQLite and a real PostgreSQL), opened and closed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hstgw.events.log import EventLog, GroupLimits
from hstgw.settings import Settings
from hstgw.store import Store, open_store


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    s = open_store(settings, serving=True)
    await s.open()
    yield s
    await s.close()


@pytest.fixture
async def events(store: Store) -> AsyncIterator[EventLog]:
    log = EventLog(store, GroupLimits(max_users=3, groups_per_terminal=2))
    await log.start()
    yield log
    await log.stop()
