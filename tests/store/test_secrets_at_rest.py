"""Developers' and apps' secrets are sealed at rest with the master key: the store
never holds them in clear, a wrong key stops the start, and old clear rows are sealed."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hstgw.apps import Apps, CreateApp
from hstgw.developers import Developers
from hstgw.idempotency import Idempotency
from hstgw.ids import now_ms
from hstgw.secretbox import KEY_FILE
from hstgw.settings import Settings
from hstgw.store import Store, StoreError, open_store
from tests.conftest import ENGINES, engine_settings
from tests.store.test_store import query

pytestmark = pytest.mark.anyio


@pytest.fixture(params=ENGINES)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    for db in engine_settings(request.param):
        yield Settings(_env_file=None, data_dir=tmp_path, **db)  # type: ignore[call-arg]


async def opened(settings: Settings) -> Store:
    store = open_store(settings)
    await store.open()
    return store


async def test_secrets_are_sealed_and_opened(settings: Settings) -> None:
    store = await opened(settings)
    try:
        dev = await Developers(store).create("sealed")
        app = await Apps(store, now_ms).create(
            dev.dev_id, CreateApp(app_name="sealed_app", service=[{"service_id": 3}])
        )
        [(stored_dev,)] = await query(store, "SELECT secret FROM developers")
        [(stored_app,)] = await query(store, "SELECT app_secret FROM apps")
        for stored, clear in ((stored_dev, dev.secret), (stored_app, app.app_secret)):
            assert stored.startswith("v1:") and clear not in stored
        assert (await store.get_developer(dev.dev_id)).secret == dev.secret  # type: ignore[union-attr]
        assert (await store.find_app(app.app_id)).app_secret == app.app_secret  # type: ignore[union-attr]
        # a new secret is sealed too
        new = await Developers(store).reset_secret(dev.dev_id)
        [(stored_dev,)] = await query(store, "SELECT secret FROM developers")
        assert stored_dev.startswith("v1:") and new not in stored_dev
    finally:
        await store.close()
    if not settings.database_url:  # nowhere in the file either, WAL included
        raw = b"".join(p.read_bytes() for p in settings.data_dir.glob("hstgw.sqlite3*"))
        assert new.encode() not in raw and app.app_secret.encode() not in raw
        key_file = settings.data_dir / KEY_FILE
        assert key_file.stat().st_mode & 0o777 == 0o600


async def test_clear_rows_of_before_are_sealed_at_the_next_start(settings: Settings) -> None:
    store = await opened(settings)
    dev = await Developers(store).create("old")
    await execute(store, "UPDATE developers SET secret = 'k5FUR5LlEoTq5t1Z'")
    assert (await store.get_developer(dev.dev_id)).secret == "k5FUR5LlEoTq5t1Z"  # type: ignore[union-attr]
    await store.close()
    store = await opened(settings)
    try:
        [(stored,)] = await query(store, "SELECT secret FROM developers")
        assert stored.startswith("v1:")
        assert (await store.get_developer(dev.dev_id)).secret == "k5FUR5LlEoTq5t1Z"  # type: ignore[union-attr]
    finally:
        await store.close()


async def test_a_wrong_master_key_stops_the_start(settings: Settings) -> None:
    store = await opened(settings)
    await Developers(store).create("x")
    await store.close()
    wrong = settings.model_copy(update={"secret_key": _secret(secrets.token_hex(32))})
    with pytest.raises(StoreError, match="cannot be opened with this HSTGW_SECRET_KEY"):
        await opened(wrong)


def _secret(text: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(text)


async def execute(store: Store, sql: str) -> None:
    await store.run_sql(sql)


def test_secrets_are_never_logged(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    """A whole flow at DEBUG, failures included: no secret in any log line."""
    from tests.conftest import start_gateway
    from tests.online.conftest import OnlineApp, make_app, raw_login

    caplog.set_level(logging.DEBUG)
    for gw in start_gateway(tmp_path, log_level="debug"):
        dev = gw.new_dev()
        token = gw.access_token(dev)
        bad = gw.http.get(
            f"{gw.url}/access/token", headers={"Authorization": f"{dev.dev_id}.001AAAA"}
        )
        assert bad.json()["code"] == 606000000
        app = make_app(gw, dev=dev)

        async def terminals(app: OnlineApp) -> None:
            ok, _ = await raw_login(app, "u1")
            wrong, reply = await raw_login(app, "u2", token="001" + "A" * 64)
            assert reply["code"] == 1000000
            await ok.close()
            await wrong.close()

        asyncio.run(terminals(app))
        gw.call("GET", "/v1/apps", token, params={"page": 1})
    text = caplog.text
    assert "access_token refused" in text or "terminal token refused" in text  # logged
    assert dev.dev_secret not in text and app.app_secret not in text


async def test_an_idempotent_first_response_is_sealed(settings: Settings) -> None:
    """A create's first response (it carries the new app's app_secret) is kept sealed;
    a response kept in clear before sealing began is still answered as it is."""
    store = await opened(settings)
    idem = Idempotency(store, now_ms)
    try:
        response = '{"code":0,"msg":"OK","result":{"app_secret":"0123456789abcdef0123"}}'
        assert await idem.begin("dev", "k1", "print") is None
        await idem.finish("dev", "k1", response)
        [(stored,)] = await query(store, "SELECT response FROM idempotency_keys")
        assert stored.startswith("v1:") and "0123456789abcdef0123" not in stored
        assert await idem.begin("dev", "k1", "print") == response
        # a row of before, in clear
        assert await idem.begin("dev", "k2", "print") is None
        await store.run_sql(
            "UPDATE idempotency_keys SET response = '{\"code\":0}' WHERE idem_key = 'k2'"
        )
        assert await idem.begin("dev", "k2", "print") == '{"code":0}'
    finally:
        await store.close()
