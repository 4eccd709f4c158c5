"""The event log's sustained rate: events/s appended (durable, versioned) by many
producers at once, on the embedded store or PostgreSQL.

    python bench/event_log.py [--engine sqlite|postgres] [--kind online|join]
                              [--events 50000] [--producers 500]

Each producer appends one event at a time and waits for it, as terminals do; the log
commits what is queued together (group commit). ``online``: terminal-online events
(no group rule); ``join``: group joins (each reads the user's membership, the group's
size and the terminal's groups, and writes the membership). Ten apps. The PostgreSQL
run uses ``HSTGW_TEST_DATABASE_URL`` (a schema of its own, dropped afterwards).

Target (issue 13, embedded): >= 10,000 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import tempfile
import time
from pathlib import Path

from hstgw.events.log import EventLog, GroupLimits
from hstgw.events.model import Entry, EventId
from hstgw.settings import Settings
from hstgw.store import open_store

POSTGRES_URL = os.environ.get(
    "HSTGW_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def entry(kind: str, producer: int, i: int) -> Entry:
    if kind == "join":
        body = {"group_id": f"g{producer}", "user_id": f"u{i}"}
        return Entry(EventId.USER_JOINED, body, holder=f"h{producer}-{i}")
    body = {"user_id": f"u{i}", "mutex_type": "web", "client_guid": "", "company_id": ""}
    return Entry(EventId.TERMINAL_ONLINE, body)


async def run(engine: str, kind: str, events: int, producers: int) -> float:
    db = {}
    if engine == "postgres":
        db = {"database_url": POSTGRES_URL, "database_schema": f"b_{secrets.token_hex(6)}"}
    settings = Settings(_env_file=None, data_dir=Path(tempfile.mkdtemp()), **db)
    store = open_store(settings, serving=True)
    await store.open()
    log = EventLog(store, GroupLimits(max_users=0, groups_per_terminal=16))
    await log.start()
    each = events // producers

    async def produce(p: int) -> None:
        for i in range(each):
            await log.append(f"app{p % 10}", [entry(kind, p, i)])

    try:
        started = time.perf_counter()
        await asyncio.gather(*(produce(p) for p in range(producers)))
        took = time.perf_counter() - started
    finally:
        await log.stop()
        await store.close()
        if engine == "postgres":
            import asyncpg

            conn = await asyncpg.connect(POSTGRES_URL)
            await conn.execute(f'DROP SCHEMA "{db["database_schema"]}" CASCADE')
            await conn.close()
    return each * producers / took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--kind", choices=["online", "join"], default="online")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--producers", type=int, default=500)
    args = parser.parse_args()
    rate = asyncio.run(run(args.engine, args.kind, args.events, args.producers))
    print(f"{args.engine} {args.kind}: {rate:,.0f} events/s")


if __name__ == "__main__":
    main()
