"""Console sessions (hstgw.console.sessions) on the store of each engine: a sign-out, a
disable or a new secret ends a session for good, whichever process checks it next."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hstgw.console.sessions import Sessions
from hstgw.settings import Settings
from hstgw.store import Developer, Store, open_store

pytestmark = pytest.mark.anyio
DEV = Developer("d" * 32, "acme", "s" * 32, "active", 1)


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    s = open_store(settings, serving=True)
    await s.open()
    await s.create_developer(DEV)
    yield s
    await s.close()


def sessions_of(store: Store, now: list[int]) -> Sessions:
    """A process's sessions: the developer as the store has it, while active."""

    async def active(dev_id: str) -> Developer | None:
        dev = await store.get_developer(dev_id)
        return dev if dev is not None and dev.status == "active" else None

    return Sessions(active, store, lambda: now[0], 3600)


async def test_a_signed_out_session_stays_ended_for_every_process(store: Store) -> None:
    now = [1_000_000]
    node_a, node_b = sessions_of(store, now), sessions_of(store, now)
    cookie = await node_a.open(DEV)
    session = await node_b.check(cookie)
    assert session is not None and session.dev_id == DEV.dev_id
    other = await node_a.open(DEV)  # the same developer in a second browser
    await node_b.close(session)
    assert await node_a.check(cookie) is None  # on the other node too
    assert await sessions_of(store, now).check(cookie) is None  # and after a restart
    assert await node_a.check(other) is not None  # the other browser's goes on
    now[0] += 3600 * 1000
    assert await node_a.check(other) is None  # expired


async def test_a_forged_or_altered_cookie_is_no_session(store: Store) -> None:
    now = [1_000_000]
    sessions = sessions_of(store, now)
    cookie = await sessions.open(DEV)
    head, _, mac = cookie.rpartition(".")
    _, dev_id, expires, nonce = head.split(".")
    later = f"v1.{dev_id}.{int(expires) + 10**9}.{nonce}"
    for forged in (f"{head}.{'A' * len(mac)}", f"{later}.{mac}", "v1.x.1.y.z", "", "." * 300):
        assert await sessions.check(forged) is None


async def test_disable_and_a_new_secret_end_sessions_for_good(store: Store) -> None:
    now = [1_000_000]
    sessions = sessions_of(store, now)
    cookie = await sessions.open(DEV)
    assert await store.set_developer_status(DEV.dev_id, "disabled")
    assert await store.set_developer_status(DEV.dev_id, "active")  # re-enabled
    assert await sessions.check(cookie) is None
    fresh = await sessions.open(DEV)
    assert await store.set_developer_secret(DEV.dev_id, "t" * 32)
    assert await store.set_developer_secret(DEV.dev_id, DEV.secret)  # and back again
    assert await sessions.check(fresh) is None


async def test_expired_sessions_are_purged(store: Store) -> None:
    now = [1_000_000]
    sessions = sessions_of(store, now)
    await sessions.open(DEV)
    now[0] += 1800 * 1000
    live = await sessions.open(DEV)
    assert await store.purge_console_sessions(now[0] + 1800 * 1000) == 1  # the first
    assert await sessions.check(live) is not None
