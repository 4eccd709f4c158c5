"""``AsyncClient.events``: snapshot then pushes, resuming by itself after a dropped
connection or a superseded token with no gap and no duplicate; refusals raised."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hstgw.egw import protocol as p
from hstgw.sdk import (
    APIConnectionError,
    AsyncClient,
    Client,
    FileTokenStore,
    InvalidParameterError,
)
from hstgw.sdk.events import EventTracker, _Resync
from tests.conftest import Gateway, free_port
from tests.events.event_gateway_rig import append, egw_gateway, join, listener, make_app

pytestmark = pytest.mark.anyio
__all__ = ["egw_gateway"]

APP = "a" * 32


@pytest.fixture
def gw(egw_gateway: Gateway) -> Gateway:
    return egw_gateway


async def take(stream: AsyncIterator[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    return [await asyncio.wait_for(anext(stream), 10) for _ in range(n)]


async def test_snapshot_then_pushes_and_resume_after_a_dropped_connection(gw: Gateway) -> None:
    dev = gw.new_dev()
    app_id = make_app(gw, dev)
    await append(gw, app_id, join("g", "u0"))
    async with AsyncClient(gw.url, dev.dev_id, dev.dev_secret) as client:
        stream = client.events([app_id])
        (snapshot,) = await take(stream, 1)
        assert snapshot["id"] == 20009 and snapshot["version"] == 1
        assert snapshot["group_list"][0]["user_list"] == [{"user_id": "u0", "media_info": []}]
        await append(gw, app_id, join("g", "u1"), join("g", "u2"))
        assert [e["version"] for e in await take(stream, 2)] == [2, 3]

        # The gateway drops the subscriber (as too slow) while events keep coming.
        (session,) = [s for s in listener(gw).sessions if s.dev_id == dev.dev_id]
        listener(gw).loop.call_soon_threadsafe(session.end, p.CLOSE_TOO_SLOW, "too slow")  # type: ignore[union-attr]
        await append(gw, app_id, *(join("h", f"v{i}") for i in range(10)))
        got = await take(stream, 10)
        assert [e["version"] for e in got] == list(range(4, 14))
        assert all(e["id"] == 20100 and e["app_id"] == app_id for e in got)
        await stream.aclose()  # type: ignore[attr-defined]


async def test_a_superseded_token_is_replaced_and_nothing_is_missed(gw: Gateway) -> None:
    dev = gw.new_dev()
    app_id = make_app(gw, dev)
    async with AsyncClient(gw.url, dev.dev_id, dev.dev_secret) as client:
        stream = client.events([app_id], from_version=0, replies=True)
        first = await take(stream, 3)
        assert [m["id"] for m in first] == [20001, 20005, 20009]
        assert first[2]["replay"] is True and first[2]["version"] == 0
        gw.access_token(dev)  # another process of the developer takes a new token
        await append(gw, app_id, join("g", "a"), join("g", "b"))
        seen: list[dict[str, Any]] = []

        def count(mid: int) -> int:
            return len([m for m in seen if m["id"] == mid])

        # the session ends for the token (20003 606000001 is not yielded: it is raised
        # inside and answered with a new token and a new login)
        while count(20100) < 2 or count(20001) < 1:
            seen.extend(await take(stream, 1))
        assert [m["version"] for m in seen if m["id"] == 20100] == [1, 2]
        assert count(20003) == 0
        await stream.aclose()  # type: ignore[attr-defined]


async def test_streams_sharing_a_token_store_do_not_end_each_other(
    gw: Gateway, tmp_path: Path
) -> None:
    """Two processes of a developer (two clients here) following events: each new token
    of one would end the other's stream (its token superseded), for ever; sharing a
    token store, they log in once each."""
    dev = gw.new_dev()
    app_id = make_app(gw, dev)

    async def logins(store: FileTokenStore | None) -> int:
        clients = [
            AsyncClient(gw.url, dev.dev_id, dev.dev_secret, token_store=store) for _ in range(2)
        ]
        streams = [c.events([app_id], replies=True) for c in clients]
        seen: list[int] = []

        async def read(stream: AsyncIterator[dict[str, Any]]) -> None:
            async for message in stream:
                seen.append(message["id"])

        readers = [asyncio.ensure_future(read(s)) for s in streams]
        await asyncio.sleep(1.5)  # (the gateway looks at the tokens every 0.1 s)
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        for stream, client in zip(streams, clients, strict=True):
            await stream.aclose()  # type: ignore[attr-defined]
            await client.aclose()
        return seen.count(20001)

    assert await logins(FileTokenStore(tmp_path / "token.json")) == 2
    assert await logins(None) > 2


async def test_a_stream_of_an_app_deleted_meanwhile_raises(gw: Gateway) -> None:
    dev = gw.new_dev()
    app_id = make_app(gw, dev)
    async with AsyncClient(gw.url, dev.dev_id, dev.dev_secret) as client:
        stream = client.events([app_id])
        (snapshot,) = await take(stream, 1)
        assert snapshot["id"] == 20009
        await client.apps.delete(app_id)
        with pytest.raises(InvalidParameterError) as exc:
            await take(stream, 1)
    assert (exc.value.code, exc.value.msg) == (606000003, "app_list[0].app_id: no such app")


async def test_another_developers_app_raises(gw: Gateway) -> None:
    dev = gw.new_dev()
    theirs = make_app(gw, gw.new_dev())
    async with AsyncClient(gw.url, dev.dev_id, dev.dev_secret) as client:
        with pytest.raises(InvalidParameterError) as exc:
            await take(client.events([theirs]), 1)
    assert exc.value.code == 606000003 and "app_list[0].app_id: no such app" in str(exc.value)


def test_the_tracker_drops_duplicates_and_asks_again_after_a_gap() -> None:
    t = EventTracker([APP], from_version=5)
    assert '"from_version": 5' in t.sync()
    assert t.accept({"id": 20100, "app_id": APP, "version": 6}, False) == []  # before its 20009
    replay = {"id": 20009, "result": 0, "app_id": APP, "version": 5, "replay": True}
    assert t.accept(replay, False) == []
    assert t.accept(replay, True) == [replay]
    push = {"id": 20100, "app_id": APP, "version": 6}
    assert t.accept(push, False) == [push]
    assert t.accept(push, False) == []  # twice: dropped
    with pytest.raises(_Resync) as gap:
        t.accept({"id": 20100, "app_id": APP, "version": 9}, False)
    assert (gap.value.app_id, gap.value.version) == (APP, 6)
    assert '"from_version": 6' in t.sync([APP])
    snapshot = {"id": 20009, "result": 0, "app_id": APP, "version": 40, "group_list": []}
    assert t.accept(snapshot, False) == [snapshot]  # a snapshot is always yielded
    assert t.versions[APP] == 40
    with pytest.raises(ValueError):
        EventTracker([])


def test_the_sync_client_yields_the_same_and_resumes(gw: Gateway) -> None:
    dev = gw.new_dev()
    app_id = make_app(gw, dev)
    loop = listener(gw).loop
    assert loop is not None

    def append_now(*users: str) -> None:
        work = gw.app.state["gateway"].events.append(app_id, [join("g", u) for u in users])
        asyncio.run_coroutine_threadsafe(work, loop).result(10)

    with Client(gw.url, dev.dev_id, dev.dev_secret) as client:
        stream = client.events([app_id])
        snapshot = next(stream)
        assert (snapshot["id"], snapshot["version"], snapshot["group_list"]) == (20009, 0, [])
        append_now("a", "b")
        assert [next(stream)["version"] for _ in range(2)] == [1, 2]
        (session,) = [s for s in listener(gw).sessions if s.dev_id == dev.dev_id]
        loop.call_soon_threadsafe(session.end, p.CLOSE_TOO_SLOW, "too slow")
        append_now("c", "d", "e")
        assert [next(stream)["version"] for _ in range(3)] == [3, 4, 5]
        stream.close()  # type: ignore[attr-defined]


async def test_a_gateway_that_cannot_be_reached_is_an_error_after_the_retries() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with AsyncClient(url, "d" * 32, "s" * 16, max_retries=1) as client:
        with pytest.raises(APIConnectionError):
            await take(client.events([APP]), 1)
