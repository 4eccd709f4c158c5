"""The cursor is durable: a restarted gateway neither loses an event nor sends again one
that was acknowledged; in a cluster each event is delivered once, not once per node."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.conftest import nodes
from tests.conftest import ENGINES, Gateway, engine_settings, start_gateway
from tests.waiting import eventually_sync
from tests.webhooks.conftest import (
    HOOK_SETTINGS,
    Receiver,
    all_delivered,
    deliveries,
    dev_token,
    new_app,
    produce,
)


def register(gw: Gateway, token: str, url: str, **body: Any) -> str:
    got = gw.call("POST", "/v1/webhooks", token, json={"url": url, **body})
    assert got["code"] == 0, got
    webhook_id: str = got["result"]["webhook_id"]
    return webhook_id


@pytest.mark.parametrize("engine", ENGINES)
def test_a_restart_keeps_the_cursor(engine: str, tmp_path: Path, receiver: Receiver) -> None:
    gateway = contextmanager(start_gateway)
    for db in engine_settings(engine):
        with gateway(tmp_path / "data", **db, **HOOK_SETTINGS) as gw:
            dev, token = dev_token(gw)
            app_id = new_app(gw, token)
            webhook_id = register(gw, token, receiver.url, app_id=app_id)
            sent = produce(gw, app_id, 3)
            assert eventually_sync(lambda: len(receiver.received) >= 3, 10)
            receiver.stop()
            sent += produce(gw, app_id, 2)  # not delivered before the stop

            def tried(gw: Gateway = gw, token: str = token, webhook_id: str = webhook_id) -> bool:
                log = deliveries(gw, token, webhook_id)
                return bool(log) and log[0]["attempts"] >= 1 and log[0]["status"] == "pending"

            assert eventually_sync(tried, 10)
        receiver.start()
        with gateway(tmp_path / "data", **db, **HOOK_SETTINGS) as gw:
            sent += produce(gw, app_id, 2)
            assert eventually_sync(lambda: len(receiver.received) >= 7, 15)
            assert receiver.versions() == sent == list(range(1, 8))
            token = gw.access_token(dev)

            def delivered(gw: Gateway = gw, token: str = token, hook: str = webhook_id) -> bool:
                return all_delivered(gw, token, hook, 7)

            assert eventually_sync(delivered)
            log = {d["version"]: d for d in deliveries(gw, token, webhook_id)}
            assert sorted(log) == sent
            assert log[4]["attempts"] >= 2  # its attempts before the restart were counted


def test_two_nodes_deliver_each_event_once(tmp_path: Path, receiver: Receiver) -> None:
    with nodes(tmp_path, 2, **HOOK_SETTINGS) as (a, b):
        dev, token = dev_token(a)
        app_id = new_app(a, token)
        register(a, token, receiver.url, app_id=app_id)
        register(b, b.access_token(dev), receiver.url)  # a second endpoint: every app
        sent: list[int] = []
        for _ in range(4):
            sent += produce(a, app_id, 3)
            sent += produce(b, app_id, 3)
        assert sent == list(range(1, 25))  # one sequence for the app across the nodes

        assert eventually_sync(lambda: len(receiver.received) >= 48, 20)
        by_hook: dict[str, list[int]] = {}
        for got in receiver.received:
            by_hook.setdefault(got.headers["Hst-Webhook-Id"], []).append(got.json["version"])
        assert [v for v in by_hook.values()] == [sent, sent]  # each in order, once
        # once per attempt: no node sent what another did
        assert len(receiver.attempts) == 48
        sent += produce(b, app_id, 2)
        assert eventually_sync(lambda: len(receiver.received) >= 52, 10)
        assert len(receiver.attempts) == 52


def test_a_cluster_keeps_the_backlog_while_the_receiver_is_down(
    tmp_path: Path, receiver: Receiver
) -> None:
    with nodes(tmp_path, 2, **HOOK_SETTINGS) as (a, b):
        dev, token = dev_token(a)
        app_id = new_app(a, token)
        webhook_id = register(a, token, receiver.url, app_id=app_id)
        receiver.stop()
        sent = produce(a, app_id, 3) + produce(b, app_id, 3)

        token_b = b.access_token(dev)

        def retried() -> bool:
            log = deliveries(b, token_b, webhook_id)
            return bool(log) and log[0]["attempts"] >= 3

        assert eventually_sync(retried, 15)
        sent += produce(b, app_id, 2)
        receiver.start()
        assert eventually_sync(lambda: len(receiver.received) >= 8, 20)
        assert receiver.versions() == sent == list(range(1, 9))
        assert len(receiver.attempts) == 8  # what reached it: each once
