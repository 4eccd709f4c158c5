"""The JS SDK in a real browser: Chromium (Debian's, driven by Playwright) opens the
web-invite example (examples/web-invite) as two users of one app, against a real
gateway, and the platform's "web online invite" works end to end."""

from __future__ import annotations

import importlib.util
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from hstgw.sdk import Client
from tests.browser import CHROMIUM, launched
from tests.clients.conftest import IN_CI
from tests.conftest import Gateway, free_port
from tests.waiting import eventually_sync

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "web-invite" / "backend.py"


def example_backend() -> ModuleType:
    spec = importlib.util.spec_from_file_location("web_invite_backend", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which("node") is None:
        if IN_CI:
            pytest.fail(f"{CHROMIUM} and node are required in CI (.ci/run installs them)")
        pytest.skip(f"{CHROMIUM} (apt install chromium) or node is missing")
    if importlib.util.find_spec("playwright") is None:  # (the dev extra has it)
        if IN_CI:
            pytest.fail("playwright is required in CI (the dev extra)")
        pytest.skip("playwright is not installed: scripts/bootstrap server,dev")
    with launched() as chromium:
        yield chromium


@pytest.fixture
def site(fresh_gateway: Gateway, js_sdk: Path) -> Iterator[tuple[Any, str, Client, str]]:
    """The example's backend for a new app, serving the page and the built SDK."""
    dev = fresh_gateway.new_dev()
    credentials = (fresh_gateway.url, dev.dev_id, dev.dev_secret)
    client = Client(*credentials)
    app = client.apps.create("web_invite", [7], status="online")
    module = example_backend()
    backend = module.Backend(credentials, app.app_id, app.app_secret, fresh_gateway.url)
    backend.start()
    server = module.make_server(backend, "127.0.0.1", free_port(), js_sdk / "dist")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield backend, f"http://127.0.0.1:{server.server_address[1]}", client, app.app_id
    finally:
        server.shutdown()
        server.server_close()
        backend.stop()
        backend.client.close()
        client.close()


def test_the_example_serves_no_file_outside_the_sdk_and_answers_bad_bodies(tmp_path: Path) -> None:
    # (no gateway needed: the files are served without one)
    module = example_backend()
    (tmp_path / "index.js").write_text("export {};")
    credentials = ("http://127.0.0.1:9", "a" * 32, "b" * 16)
    backend = module.Backend(credentials, "c" * 32, "d" * 16, credentials[0])
    server = module.make_server(backend, "127.0.0.1", free_port(), tmp_path)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert httpx.get(f"{url}/sdk/index.js").text == "export {};"
        for path in ("/sdk//etc/passwd", "/sdk/../backend.py", "/sdk/%2e%2e/backend.py"):
            assert httpx.get(f"{url}{path}").status_code == 404, path
        # bad bodies: a 400 naming what is wrong, never a dropped connection
        for body, error in [
            (b"{", "body: not JSON"),
            (b"[]", "body: must be a JSON object"),
            (b'{"user_ids": ["bob"]}', "group_id: required"),
        ]:
            answer = httpx.post(f"{url}/api/invite", content=body)
            assert (answer.status_code, answer.json()) == (400, {"error": error})
    finally:
        server.shutdown()
        server.server_close()
        backend.client.close()
        backend._loop.close()  # (never started: no listener to stop)


def test_web_online_invite_end_to_end(browser: Any, site: tuple[Any, str, Client, str]) -> None:
    from playwright.sync_api import expect

    backend, url, client, app_id = site
    context = browser.new_context()
    errors: list[str] = []
    pages = {}
    for user in ("alice", "bob"):
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))  # uncaught, unhandled rejections
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{url}/?user={user}")
        expect(page.locator("#status")).to_have_text("online")
        pages[user] = page
    alice, bob = pages["alice"], pages["bob"]
    expect(alice.locator("#online")).to_contain_text("bob (web)")

    # The backend invites bob (POST /v1/online/invite); his page shows it and he accepts.
    invited = httpx.post(f"{url}/api/invite", json={"group_id": "room1", "user_ids": ["bob"]})
    assert invited.json() == {"seq_id": 1, "unreached": []}
    invite = bob.locator(".invite[data-group=room1]")
    expect(invite).to_contain_text("the app's backend invites you to room1")
    invite.get_by_role("button", name="Accept").click()
    expect(invite).to_have_text("accepted: room1")
    # ... and the backend hears the reply on the event gateway (20903).
    assert eventually_sync(lambda: backend.replies, 10)
    (reply,) = backend.replies
    assert (reply["app_id"], reply["group_id"], reply["seq_id"], reply["accept"]) == (
        app_id,
        "room1",
        1,
        True,
    )
    assert (reply["user_id"], reply["mutex_type"]) == ("bob", "web")

    # A trans-cmd from the backend reaches bob's page.
    sent = httpx.post(
        f"{url}/api/trans-cmd", json={"user_id": "bob", "trans_mess": {"cmd": "mute"}}
    )
    assert sent.json() == {"delivered": 1}
    expect(bob.locator("#commands")).to_contain_text('{"cmd":"mute"}')

    # A kickout closes alice's page with its reason; it does not come back.
    assert client.online.kickout(app_id, "alice") == 1
    expect(alice.locator("#status")).to_have_text("kicked: kickout")
    assert alice.evaluate("window.hstgw.state") == "closed"
    expect(bob.locator("#online")).not_to_contain_text("alice")

    # The network drops bob's socket under the page: it reconnects with the resume
    # credential (no new token asked of the backend) and is online again.
    before = bob.evaluate("window.hstgw.resume")
    bob.evaluate("window.hstgw.socket.close()")
    # (the status said "online" already: wait for the new login itself)
    bob.wait_for_function("before => window.hstgw.loginReply.resume !== before", arg=before)
    expect(bob.locator("#status")).to_have_text("online")
    assert bob.evaluate("window.hstgw.state") == "online"

    def bob_online() -> bool:
        states = client.online.user_state(app_id, user_ids=["bob"])
        return [s.state for s in states] == [1]

    assert eventually_sync(bob_online, 10)
    assert backend.sessions["bob"] == 1  # only the page's first load asked for a token
    assert errors == []
    context.close()
