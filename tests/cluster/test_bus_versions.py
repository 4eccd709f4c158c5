"""Messages between nodes name their keys in words, and a node still reads (and is read
by) a node of the previous version, which named them "op", "id", "co" and "x": a rolling
upgrade mixes the two (docs/deployment.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from hstgw.online.presence import FIELD_SEPARATOR
from tests.cluster.conftest import REDIS_URL, nodes
from tests.online.conftest import make_app, raw_login
from tests.waiting import eventually

pytestmark = pytest.mark.anyio

OLD_NODE = "old-node"


async def next_message(pubsub: Any) -> dict[str, Any]:
    got: list[dict[str, Any]] = []

    async def arrived() -> bool:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message is not None:
            got.append(orjson.loads(message["data"]))
        return bool(got)

    assert await eventually(arrived)
    return got[0]


@pytest.fixture
async def client() -> AsyncIterator[aioredis.Redis]:
    r = aioredis.Redis.from_url(REDIS_URL)
    try:
        yield r
    finally:
        await r.aclose()


async def test_a_node_of_the_previous_version_is_understood(
    tmp_path: Path, client: aioredis.Redis
) -> None:
    with nodes(tmp_path, 1) as (node,):
        ns = f"hstgw:{node.settings.database_schema}:"
        app = make_app(node)
        t, login = await raw_login(app, "t", company_id="c")
        assert login["code"] == 0
        (node_id,) = {n.decode() for n in await client.smembers(ns + "nodes")}
        entry = await client.hget(f"{ns}on:{app.app_id}", "t" + FIELD_SEPARATOR + "web")
        conn = orjson.loads(entry)[4]

        # the previous version's broadcast of a scope change
        text = orjson.dumps({"type": "online_state", "state": 1, "user_id": "o"}).decode()
        old_scope = {"app": app.app_id, "co": "c", "text": text, "x": "elsewhere"}
        await client.publish(
            ns + "all", orjson.dumps({"op": "scope", "from": OLD_NODE, "body": old_scope})
        )
        pushed = await t.expect("online_state")
        assert (pushed["user_id"], pushed["state"]) == ("o", 1)

        # the previous version's request; the reply carries the names it reads
        async with client.pubsub() as old:
            await old.subscribe(ns + "n:" + OLD_NODE)
            push = {"conns": [conn, "gone"], "text": '{"type": "from_old"}'}
            request = {"op": "push", "id": 7, "from": OLD_NODE, "body": push}
            await client.publish(ns + "n:" + node_id, orjson.dumps(request))
            assert (await t.expect("from_old"))["type"] == "from_old"
            reply = await next_message(old)
        assert reply["op"] == reply["operation"] == "_reply"
        assert reply["id"] == reply["request_id"] == 7
        assert (reply["from"], reply["body"]) == (node_id, [True, False])

        # this version's broadcast, as the previous version reads it
        async with client.pubsub() as old:
            await old.subscribe(ns + "all")
            u, login = await raw_login(app, "u", company_id="c")
            assert login["code"] == 0
            told = await next_message(old)
            await u.close()
        assert told["op"] == told["operation"] == "scope"
        body = told["body"]
        assert body["co"] == body["company_id"] == "c"
        assert body["x"] == body["except_conn"] != conn
        assert orjson.loads(body["text"])["user_id"] == "u"
        await t.close()
