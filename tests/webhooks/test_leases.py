"""Leases: one holder per key, on one node (LocalLeases) and between nodes (PostgreSQL
session advisory locks), freed when the holder's session ends."""

from __future__ import annotations

import secrets

import pytest

from hstgw.store.postgres.leases import PostgresLeases
from hstgw.webhooks.leases import LocalLeases
from tests.conftest import engine_settings

pytestmark = pytest.mark.anyio


async def test_local_leases() -> None:
    leases = LocalLeases()
    assert await leases.take("h:a")
    assert not await leases.take("h:a") and leases.holds("h:a")
    assert await leases.take("h:b")
    await leases.release("h:a")
    assert not leases.holds("h:a") and await leases.take("h:a")


async def test_postgres_leases_are_exclusive_between_nodes() -> None:
    for db in engine_settings("postgres"):
        schema = f"lease_{secrets.token_hex(4)}"
        a, b = (
            PostgresLeases(db["database_url"], schema),
            PostgresLeases(db["database_url"], schema),
        )
        other_schema = PostgresLeases(db["database_url"], schema + "x")
        try:
            assert await a.take("hook:app")
            assert not await b.take("hook:app")  # held by the other node
            assert await other_schema.take("hook:app")  # another gateway's keys are its own
            assert await b.take("hook:app2")
            await a.release("hook:app")
            assert not a.holds("hook:app")
            assert await b.take("hook:app") and b.holds("hook:app")
            await b.close()  # its session ends: every lock it held is free
            assert await a.take("hook:app") and await a.take("hook:app2")
        finally:
            for leases in (a, b, other_schema):
                await leases.close()
