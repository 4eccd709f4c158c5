"""The event gateway in a cluster: a subscriber on one node hears a terminal on the
other, and resumes on either node from its last version with no gap and no duplicate."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster.conftest import nodes
from tests.events.event_gateway_rig import Sub
from tests.online.conftest import make_app, raw_login

pytestmark = pytest.mark.anyio


async def test_a_subscriber_on_one_node_hears_a_terminal_on_the_other(tmp_path: Path) -> None:
    with nodes(tmp_path, 2) as (a, b):
        dev = a.new_dev()
        app = make_app(a, dev=dev)  # (its terminals connect to node a)
        token = a.access_token(dev)  # (tokens are the cluster's: node b knows it)
        sub = await Sub.open(b)
        assert (await sub.login(dev.dev_id, token))["result"] == 0
        await sub.ask(20004, app_list=[{"app_id": app.app_id}])
        assert (await sub.ask(20008, app_list=[{"app_id": app.app_id}]))["version"] == 0
        terminal, reply = await raw_login(app, "alice")
        assert reply["code"] == 0, reply
        assert (await terminal.request({"type": "join_group", "group_id": "room"}))["code"] == 0
        online, joined = await sub.recv(), await sub.recv()
        assert (online["id"], online["version"]) == (20900, 1)
        assert (joined["id"], joined["version"], joined["group_id"]) == (20100, 2, "room")
        await sub.close()  # the subscriber moves to node a, and misses nothing
        for g in ("r1", "r2", "r3"):
            assert (await terminal.request({"type": "join_group", "group_id": g}))["code"] == 0
        again = await Sub.open(a)
        assert (await again.login(dev.dev_id, a.access_token(dev)))["result"] == 0
        got = await again.ask(20008, app_list=[{"app_id": app.app_id, "from_version": 2}])
        assert got["replay"] is True
        assert (await terminal.request({"type": "join_group", "group_id": "r4"}))["code"] == 0
        versions = [(await again.recv())["version"] for _ in range(4)]
        assert versions == [3, 4, 5, 6]
        await terminal.close()
        await again.close()
