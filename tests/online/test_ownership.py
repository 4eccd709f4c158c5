"""The online service checks the caller's ownership itself (issue 12, item 1): each
entry point the REST API calls, called directly with another developer's app, is
refused as the REST API refuses it (606000003 "app_id: no such app"), and acts on
nothing; a signaling entry point of an app past its limit is refused as well."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hstgw.apps import CreateApp
from hstgw.errors import Code, OperationFailed, ParameterInvalid
from hstgw.gateway import Gateway
from hstgw.online.service import OnlineService
from hstgw.settings import Settings
from hstgw.store import App

pytestmark = pytest.mark.anyio


@dataclass
class Tenants:
    gw: Gateway
    app: App  # the owner's
    owner: str
    other: str  # another developer


@pytest.fixture
async def tenants(tmp_path: Path) -> AsyncIterator[Tenants]:
    gw = Gateway(Settings(data_dir=tmp_path, terminal_port=0))
    await gw.start()
    try:
        owner, other = await gw.developers.create(), await gw.developers.create()
        body = {"app_name": "owned", "service": [{"service_id": s} for s in (3, 6, 7)]}
        app = await gw.apps.create(owner.dev_id, CreateApp.model_validate(body))
        yield Tenants(gw, app, owner.dev_id, other.dev_id)
    finally:
        await gw.stop()


# Every entry point of the online service that acts on an app for the app's backend.
Entry = Callable[[OnlineService, str, str], Awaitable[Any]]
ENTRY_POINTS: dict[str, Entry] = {
    "kickout": lambda online, dev_id, app_id: online.kickout(dev_id, app_id, "u1", None),
    "user_state": lambda online, dev_id, app_id: online.user_state(
        dev_id, app_id, None, None, 1, 100
    ),
    "trans_cmd": lambda online, dev_id, app_id: online.trans_cmd(
        dev_id, app_id, 1, {"k": "v"}, [("u1", "web", "")]
    ),
    "invite": lambda online, dev_id, app_id: online.invite(dev_id, app_id, "room", ["u1"], 1, None),
}

SERVED: dict[str, Any] = {
    "kickout": 0,
    "user_state": (0, []),
    "trans_cmd": [{"result": 2, "user_id": "u1", "terminal_seq_num": "", "mutex_type": "web"}],
    "invite": ["u1"],
}


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
async def test_another_developers_app_is_no_such_app(tenants: Tenants, name: str) -> None:
    call = ENTRY_POINTS[name]
    with pytest.raises(ParameterInvalid) as refused:
        await call(tenants.gw.online, tenants.other, tenants.app.app_id)
    assert (refused.value.code, refused.value.msg) == (
        Code.PARAMETER_INVALID,
        "app_id: no such app",
    )
    # and its owner is served (nobody is online)
    assert await call(tenants.gw.online, tenants.owner, tenants.app.app_id) == SERVED[name]


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
async def test_an_unknown_app_is_no_such_app(tenants: Tenants, name: str) -> None:
    with pytest.raises(ParameterInvalid, match="app_id: no such app"):
        await ENTRY_POINTS[name](tenants.gw.online, tenants.owner, "f" * 32)


@pytest.mark.parametrize("name", ["trans_cmd", "invite"])
async def test_signaling_past_the_consumption_limit_is_refused(tenants: Tenants, name: str) -> None:
    body = {"app_name": "capped", "consumption_limit": 0, "service": [{"service_id": 7}]}
    capped = await tenants.gw.apps.create(tenants.owner, CreateApp.model_validate(body))
    with pytest.raises(OperationFailed) as refused:
        await ENTRY_POINTS[name](tenants.gw.online, tenants.owner, capped.app_id)
    assert (refused.value.code, refused.value.msg) == (
        Code.OPERATION_FAILED,
        "consumption_limit: 0 yuan this month reached",
    )
