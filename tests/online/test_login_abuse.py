"""Logins that must not pass or burn others' budgets (issue 10, items 7 and 12)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from hstgw.developers import Developers
from hstgw.store import SqliteStore
from hstgw.tokens.fsp import build
from tests.conftest import Gateway, start_gateway
from tests.online.conftest import OnlineApp, Raw, make_app, raw_login
from tests.waiting import eventually

pytestmark = pytest.mark.anyio


@contextmanager
def gateway_with(tmp: Path, **settings: Any) -> Iterator[Gateway]:
    yield from start_gateway(tmp, **settings)


async def _bogus(app: OnlineApp, n: int, **fields: Any) -> list[int]:
    codes = []
    for i in range(n):
        bad = build(app.app_id, "0123456789abcdef", uid=f"u{i}")
        t, reply = await raw_login(app, f"u{i}", token=bad, **fields)
        codes.append(reply["code"])
        await t.close()
    return codes


async def test_bogus_logins_do_not_spend_the_apps_login_budget(tmp_path: Path) -> None:
    # a bucket of 10 logins for the app, refilled at 1 a second
    with gateway_with(tmp_path, limit_logins_per_app=1) as gw:
        app = make_app(gw)
        assert await _bogus(app, 30) == [1000000] * 30
        t, reply = await raw_login(app, "alice")
        assert reply["code"] == 0, reply
        await t.close()


async def test_failed_logins_are_limited_per_address(tmp_path: Path) -> None:
    with gateway_with(tmp_path, limit_login_failures_per_address=5) as gw:
        app = make_app(gw)
        assert await _bogus(app, 4) == [1000000] * 4
        t, unknown = await raw_login(app, "u", app_id="f" * 32)  # an unknown app counts
        assert unknown["code"] == 1000001
        await t.close()
        t, limited = await raw_login(app, "u", token=build(app.app_id, "0" * 16, uid="u"))
        assert (limited["code"], limited["msg"]) == (
            1000108,
            "too many failed logins from this address; retry later",
        )
        await t.close()
        t, good = await raw_login(app, "alice")  # the address is refused until it refills
        assert good["code"] == 1000108
        await t.close()


# tokens: an et cannot outlive HSTGW_TOKEN_MAX_AGE (issue 10, item 12)


async def test_a_token_whose_et_lies_beyond_the_maximum_age_is_refused(
    fresh_gateway: Gateway,
) -> None:
    app = make_app(fresh_gateway)
    now_ms = fresh_gateway.clock()
    far = build(app.app_id, app.app_secret, uid="alice", expire=now_ms // 1000 + 2 * 86400)
    t, reply = await raw_login(app, "alice", token=far)
    assert reply["code"] == 1000000
    await t.close()
    near = build(app.app_id, app.app_secret, uid="alice", expire=now_ms // 1000 + 3600)
    t, reply = await raw_login(app, "alice", token=near)
    assert reply["code"] == 0
    await t.close()
    # the same rule for developer tokens on /access/token
    dev = fresh_gateway.new_dev()
    far_dev = build(dev.dev_id, dev.dev_secret, expire=now_ms // 1000 + 2 * 86400, now_ms=now_ms)
    r = fresh_gateway.http.get(
        f"{fresh_gateway.url}/access/token", headers={"Authorization": f"{dev.dev_id}.{far_dev}"}
    )
    assert r.json()["code"] == 606000000
    # and a token with et whose ts is older than the maximum age
    old = build(
        dev.dev_id,
        dev.dev_secret,
        expire=now_ms // 1000 + 3600,
        now_ms=now_ms - 86400 * 1000 - 1000,
    )
    r = fresh_gateway.http.get(
        f"{fresh_gateway.url}/access/token", headers={"Authorization": f"{dev.dev_id}.{old}"}
    )
    assert r.json()["code"] == 606000000


# a disabled developer's terminals (issue 10, item 12)


def _set_active(gw: Gateway, dev_id: str, active: bool) -> None:
    async def operate() -> None:
        store = SqliteStore(gw.data_dir / "hstgw.sqlite3")
        await store.open()
        try:
            await Developers(store).set_active(dev_id, active)
        finally:
            await store.close()

    with ThreadPoolExecutor(1) as pool:  # (a test's own loop is running)
        pool.submit(asyncio.run, operate()).result()


async def test_a_disabled_developers_terminals_are_stopped(fresh_gateway: Gateway) -> None:
    dev = fresh_gateway.new_dev()
    app = make_app(fresh_gateway, dev=dev)
    alice, _ = await raw_login(app, "alice")
    idle, _ = await raw_login(app, "idle")
    _set_active(fresh_gateway, dev.dev_id, False)

    async def refused() -> bool:
        msg = {"type": "message", "seq": 2, "to_user_id": "idle", "body": "x"}
        reply = await alice.request(msg)
        return bool(reply["code"] == 1000002)

    assert await eventually(refused, 5.0)  # its requests are refused at once
    # and the housekeeping sweep kicks every terminal of the developer, idle ones too
    for t in (alice, idle):
        assert (await t.expect("kicked", timeout=10.0))["reason"] == "developer_disabled"
        await t.close()
    t, login = await raw_login(app, "bob")
    assert (login["code"], login["msg"]) == (1000002, "the app's developer is disabled")
    await t.close()
    _set_active(fresh_gateway, dev.dev_id, True)

    async def back() -> bool:
        t, login = await raw_login(app, "bob")
        await t.close()
        return bool(login["code"] == 0)

    assert await eventually(back, 5.0)


# behind a proxy (HSTGW_TRUSTED_PROXIES): the forwarded address is the terminal's


async def _bogus_from(app: OnlineApp, forwarded_for: str, n: int) -> list[int]:
    codes = []
    for i in range(n):
        conn = await connect(
            app.ws_url,
            compression=None,
            ping_interval=None,
            additional_headers={"X-Forwarded-For": forwarded_for},
        )
        raw = Raw(conn)
        await raw.send(app.login_frame(f"u{i}", token=build(app.app_id, "0" * 16, uid=f"u{i}")))
        codes.append((await raw.recv())["code"])
        await raw.close()
    return codes


async def test_a_trusted_proxy_forwards_the_terminals_address(tmp_path: Path) -> None:
    with gateway_with(
        tmp_path, limit_login_failures_per_address=3, trusted_proxies=["127.0.0.1"]
    ) as gw:
        app = make_app(gw)
        assert await _bogus_from(app, "198.51.100.1", 4) == [1000000] * 3 + [1000108]
        # another client of the proxy is not concerned
        assert await _bogus_from(app, "198.51.100.2", 1) == [1000000]


async def test_an_untrusted_peer_cannot_forward_its_way_out(tmp_path: Path) -> None:
    with gateway_with(tmp_path, limit_login_failures_per_address=3) as gw:
        app = make_app(gw)
        codes = [(await _bogus_from(app, f"198.51.100.{i}", 1))[0] for i in range(4)]
        assert codes == [1000000] * 3 + [1000108]
