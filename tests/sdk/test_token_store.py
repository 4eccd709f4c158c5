"""A token store: processes of one developer share one access token instead of
superseding each other's (seed: "access_token最好全局托管")."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hstgw.sdk import AccessToken, AsyncClient, Client, FileTokenStore, StoredToken
from hstgw.sdk._tokens import AsyncTokenManager, SyncTokenManager
from tests.cli.test_cli import hstgw
from tests.conftest import Dev, Gateway
from tests.sdk.test_client import AsyncCountingTransport, CountingTransport

pytestmark = pytest.mark.anyio


def _client(gateway: Gateway, dev: Dev, store: FileTokenStore | None) -> Client:
    return Client(
        gateway.url, dev.dev_id, dev.dev_secret, transport=CountingTransport(), token_store=store
    )


def _fetches(client: Client) -> int:
    transport = client._http._transport
    assert isinstance(transport, CountingTransport)
    return transport.token_calls


def test_clients_sharing_a_store_share_one_token(
    gateway: Gateway, dev: Dev, tmp_path: Path
) -> None:
    store = FileTokenStore(tmp_path / "tokens.json")
    with _client(gateway, dev, store) as a, _client(gateway, dev, store) as b:
        a.apps.list()
        b.apps.list()
        a.apps.list()  # (b took no token of its own: a's still works)
        assert (_fetches(a), _fetches(b)) == (1, 0)
        assert a.get_access_token() == b.get_access_token()
    # readable by its owner only: it is a credential
    assert stat.S_IMODE(os.stat(tmp_path / "tokens.json").st_mode) == 0o600
    kept = json.loads((tmp_path / "tokens.json").read_text())
    assert list(kept) == [f"{gateway.url} {dev.dev_id}"]


def test_without_a_store_each_client_supersedes_the_other(gateway: Gateway, dev: Dev) -> None:
    with _client(gateway, dev, None) as a, _client(gateway, dev, None) as b:
        a.apps.list()
        b.apps.list()
        a.apps.list()  # refused (superseded), a new token, the call again
        assert (_fetches(a), _fetches(b)) == (2, 1)


def test_a_token_superseded_from_outside_is_fetched_once(
    gateway: Gateway, dev: Dev, tmp_path: Path
) -> None:
    store = FileTokenStore(tmp_path / "tokens.json")
    with _client(gateway, dev, store) as a, _client(gateway, dev, store) as b:
        a.apps.list()
        b.apps.list()
        gateway.access_token(dev)  # another process, not sharing the store
        a.apps.list()  # refused: the store holds that same token, so a fetches
        b.apps.list()  # refused: the store holds a's new one, which b takes
        assert (_fetches(a), _fetches(b)) == (2, 0)


def test_the_environment_names_the_file_for_the_sdk_and_the_cli(
    gateway: Gateway, dev: Dev, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "shared" / "token.json"
    env = {
        "HSTGW_BASE_URL": gateway.url,
        "HSTGW_DEV_ID": dev.dev_id,
        "HSTGW_DEV_SECRET": dev.dev_secret,
        "HSTGW_TOKEN_FILE": str(path),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with Client(transport=CountingTransport()) as client:
        client.apps.list()
        token = client.get_access_token()
        for _ in range(2):  # two CLI processes: neither takes a token of its own
            out = hstgw("app", "list", "--json", env=env)
            assert out.returncode == 0, out.stderr
        client.apps.list()
        assert (_fetches(client), client.get_access_token()) == (1, token)
    assert FileTokenStore(path).load(f"{gateway.url} {dev.dev_id}") is not None


def _issued() -> AccessToken:
    return AccessToken(os.urandom(16).hex(), 7200)


def test_a_kept_token_due_for_refresh_is_not_taken(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "t.json")
    now = time.time()
    store.save("k", StoredToken("a" * 32, now - 1, now + 299))  # due: the next fetches
    fetched: list[AccessToken] = []

    def fetch() -> AccessToken:
        fetched.append(_issued())
        return fetched[-1]

    manager = SyncTokenManager(fetch, store=store, key="k")
    assert manager.get() == fetched[0].access_token
    kept = store.load("k")
    assert kept is not None and kept.access_token == fetched[0].access_token
    assert now + 6899 < kept.refresh_at < kept.expires_at <= time.time() + 7200
    # another key of the same file is another developer's (or gateway's)
    assert store.load("other") is None
    other = SyncTokenManager(fetch, store=store, key="other")
    assert other.get() == fetched[1].access_token
    assert SyncTokenManager(fetch, store=store, key="k").get() == fetched[0].access_token


def test_a_file_that_cannot_be_read_or_written_costs_only_a_fetch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "t.json"
    good = f'"access_token": "{"a" * 32}"'
    for garbage in (
        "{",
        "[1]",
        "[" * 100_000,
        '{"k": 3}',
        '{"k": {"access_token": 5}}',
        '{"k": {"access_token": "bad\\r\\n", "refresh_at": 9e99, "expires_at": 9e99}}',
        f'{{"k": {{{good}, "refresh_at": 1{"0" * 400}, "expires_at": 1}}}}',
        f'{{"k": {{{good}, "refresh_at": NaN, "expires_at": NaN}}}}',
    ):
        path.write_text(garbage)
        store = FileTokenStore(path)
        assert store.load("k") is None
        assert SyncTokenManager(_issued, store=store, key="k").get()
        assert store.load("k") is not None  # rewritten whole
    blocked = tmp_path / "file"
    blocked.write_text("")
    store = FileTokenStore(blocked / "t.json")  # (its directory is a file)
    with caplog.at_level(logging.WARNING, logger="hstgw.sdk"):
        assert SyncTokenManager(_issued, store=store, key="k").get()
    assert "not kept" in caplog.text and "not locked" in caplog.text


async def test_async_clients_sharing_a_store(gateway: Gateway, dev: Dev, tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "tokens.json")
    transports = [AsyncCountingTransport(), AsyncCountingTransport()]
    clients = [
        AsyncClient(gateway.url, dev.dev_id, dev.dev_secret, transport=t, token_store=store)
        for t in transports
    ]
    try:
        await asyncio.gather(*(c.apps.list() for c in clients for _ in range(4)))
        await clients[0].apps.list()
        assert sorted(t.token_calls for t in transports) == [0, 1]
    finally:
        for c in clients:
            await c.aclose()


def test_a_file_another_may_write_is_not_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A token planted where others may write would make this process act as another
    developer: such a file counts as empty."""
    path = tmp_path / "t.json"
    store = FileTokenStore(path)
    now = time.time()
    store.save("k", StoredToken("a" * 32, now + 100, now + 200))
    assert store.load("k") is not None
    path.chmod(0o666)
    with caplog.at_level(logging.WARNING, logger="hstgw.sdk"):
        assert store.load("k") is None
    assert "not private" in caplog.text


def _holder(path: Path) -> FileTokenStore:
    """Another process's hold of the store's lock (another open file, as theirs is)."""
    holder = FileTokenStore(path)
    assert holder.try_lock("k")
    assert not FileTokenStore(path).try_lock("k")
    return holder


def test_a_client_waiting_for_the_lock_takes_what_its_holder_saved(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    holder = _holder(path)
    fetched: list[AccessToken] = []

    def fetch() -> AccessToken:
        fetched.append(_issued())
        return fetched[-1]

    got: list[str] = []
    waiting = threading.Thread(
        target=lambda: got.append(
            SyncTokenManager(fetch, store=FileTokenStore(path), key="k").get()
        )
    )
    waiting.start()
    time.sleep(0.2)
    assert not got  # it waits while the holder fetches
    now = time.time()
    holder.save("k", StoredToken("b" * 32, now + 100, now + 200))
    holder.unlock("k")
    waiting.join(5)
    assert (got, fetched) == (["b" * 32], [])


async def test_a_lock_held_too_long_is_given_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A holder that stopped (or a sync call inside the event loop of the async client
    that holds it) costs a wait, then a fetch without the lock: never a hang."""
    from hstgw.sdk import _tokens

    monkeypatch.setattr(_tokens, "STORE_LOCK_WAIT_S", 0.2)
    path = tmp_path / "t.json"
    holder = _holder(path)
    assert SyncTokenManager(_issued, store=FileTokenStore(path), key="k").get()

    async def fetch() -> AccessToken:
        return _issued()

    assert await AsyncTokenManager(fetch, store=FileTokenStore(path), key="k").get()
    holder.unlock("k")


_RACER = """
import sys, time
from pathlib import Path
from hstgw.sdk import Client, FileTokenStore
from tests.sdk.test_client import CountingTransport

go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.001)
transport = CountingTransport()
with Client(transport=transport, token_store=FileTokenStore(sys.argv[1])) as client:
    print(client.get_access_token(), transport.token_calls)
"""


def test_processes_starting_together_fetch_one_token(
    gateway: Gateway, dev: Dev, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "HSTGW_BASE_URL": gateway.url,
        "HSTGW_DEV_ID": dev.dev_id,
        "HSTGW_DEV_SECRET": dev.dev_secret,
    }
    go = tmp_path / "go"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(tmp_path / "t.json"), str(go)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(6)
    ]
    time.sleep(1.0)  # (all of them started and waiting)
    go.touch()
    outs = [r.communicate(timeout=60)[0].split() for r in racers]
    assert len({token for token, _ in outs}) == 1
    assert sum(int(calls) for _, calls in outs) == 1
