"""Webhook receivers that hang, against the other developers' deliveries: one
developer's attempts in flight on a node are bounded; so are the events the node holds
for chains that fell behind."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hstgw.webhooks import chain
from tests.conftest import free_port, start_gateway
from tests.waiting import eventually_sync
from tests.webhooks.conftest import HOOK_SETTINGS, Receiver, dev_token, new_app, produce


class Hanging:
    """A receiver that holds every request until ``release`` is set; counts how many
    it holds at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.now = self.most = self.answered = 0
        self.heard: dict[str, list[int]] = {}  # app -> versions, in arrival order
        hanging = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                with hanging.lock:
                    hanging.heard.setdefault(body["app_id"], []).append(body["version"])
                    hanging.now += 1
                    hanging.most = max(hanging.most, hanging.now)
                hanging.release.wait(10)
                with hanging.lock:
                    hanging.now -= 1
                    hanging.answered += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hanging() -> Iterator[Hanging]:
    h = Hanging()
    yield h
    h.stop()


def test_one_developers_hanging_receivers_hold_few_attempts(
    tmp_path: Path, hanging: Hanging
) -> None:
    settings = {**HOOK_SETTINGS, "webhook_timeout": 10.0, "webhook_concurrency_per_developer": 2}
    for gw in start_gateway(tmp_path, **settings):
        _, token = dev_token(gw)
        apps = [new_app(gw, token, f"hanging{i}") for i in range(5)]
        got = gw.call("POST", "/v1/webhooks", token, json={"url": hanging.url})
        assert got["code"] == 0, got
        for app_id in apps:  # five (endpoint, app) pairs, each with one in flight
            produce(gw, app_id, 1)
        assert eventually_sync(lambda: hanging.most >= 2)
        # another developer's delivery goes through meanwhile
        other = Receiver(free_port())
        other.start()
        try:
            _, token_b = dev_token(gw)
            app_b = new_app(gw, token_b, "innocent")
            assert gw.call("POST", "/v1/webhooks", token_b, json={"url": other.url})["code"] == 0
            produce(gw, app_b, 1)
            assert eventually_sync(lambda r=other: len(r.received) == 1)  # type: ignore[misc]
        finally:
            other.stop()
        assert hanging.most == 2  # never more of the first developer's at once
        hanging.release.set()
        assert eventually_sync(lambda: hanging.answered == 5, 10)
        assert hanging.most == 2


def test_events_held_for_stalled_chains_stay_bounded(
    tmp_path: Path, hanging: Hanging, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chain, "_QUEUE", 8)
    monkeypatch.setattr(chain, "_QUEUED", 20)
    for gw in start_gateway(tmp_path, **{**HOOK_SETTINGS, "webhook_timeout": 10.0}):
        workers = gw.app.state["gateway"].webhook_workers
        _, token = dev_token(gw)
        apps = [new_app(gw, token, f"stalled{i}") for i in range(4)]
        assert gw.call("POST", "/v1/webhooks", token, json={"url": hanging.url})["code"] == 0
        sent = {app_id: produce(gw, app_id, 1) for app_id in apps}
        assert eventually_sync(lambda: hanging.now == 4)  # each chain holds one attempt
        most = 0
        for _ in range(10):  # the chains hear 400 more events while they hang
            for app_id in apps:
                sent[app_id] += produce(gw, app_id, 10)
                most = max(most, workers.queued)
        assert most <= 20
        # read from the store instead: every event arrives, in order, once released
        hanging.release.set()
        assert eventually_sync(lambda: hanging.answered == 4 * 101, 20)
        assert hanging.heard == sent
        assert eventually_sync(lambda w=workers: w.running == 0 and w.queued == 0, 10)  # type: ignore[misc]
