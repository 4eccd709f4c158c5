"""Issue 12 item 1: each billing entry point checks its caller itself, called directly
(not over HTTP), with the same answer the routes give (tests/billing/test_records.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from hstgw.billing.models import UsageBatch
from hstgw.billing.prices import PriceTable
from hstgw.billing.service import Billing
from hstgw.errors import ParameterInvalid
from hstgw.ids import now_ms
from hstgw.settings import Settings
from hstgw.store import App, AppService, Developer, Store, open_store
from tests.billing.conftest import T0
from tests.conftest import engine_settings

pytestmark = pytest.mark.anyio

OWNER, STRANGER = "a" * 32, "b" * 32
APP = "1" * 32
DAY = 86_400_000


@pytest.fixture
async def store(engine: str, tmp_path: Path) -> AsyncIterator[Store]:
    """Two developers, one app of OWNER's, on each engine (``engine``: conftest.py)."""
    for db in engine_settings(engine):
        s = open_store(Settings(_env_file=None, data_dir=tmp_path, **db), serving=True)
        await s.open()
        for dev_id in (OWNER, STRANGER):
            await s.create_developer(Developer(dev_id, "", "0123456789abcdef", "active", 1))
        owned = App(APP, OWNER, "owned", "s" * 16, "online", None, (AppService(3),), 1, 1)
        await s.create_app(owned)
        yield s
        await s.close()


@pytest.fixture
async def billing(store: Store) -> Billing:
    b = Billing(store, PriceTable(), ZoneInfo("Asia/Shanghai"), now_ms)
    node, _ = await b.nodes.create("media")
    batch = UsageBatch.model_validate(
        {"events": [{"event_id": "e1", "app_id": APP, "charge_term": 1,
                     "start_time": T0, "end_time": T0 + 60_000}]}
    )  # fmt: skip
    assert await b.ingest(node.node_id, batch) == (1, 0)
    return b


async def test_records_of_another_developers_app_are_an_empty_page(billing: Billing) -> None:
    mine = await billing.records(OWNER, T0 - DAY, T0 + DAY, APP, 1, 100)
    assert [r["event_id"] for r in mine["records"]] == ["e1"]
    theirs = await billing.records(STRANGER, T0 - DAY, T0 + DAY, APP, 1, 100)
    assert theirs == {"total": 0, "page": 1, "page_size": 100, "records": []}
    everything = await billing.records(STRANGER, T0 - DAY, T0 + DAY, None, 1, 100)
    assert everything["records"] == []


async def test_a_summary_of_another_developers_app_is_empty(billing: Billing) -> None:
    mine = await billing.summary(OWNER, "2025-11", APP)
    assert [a["app_id"] for a in mine["apps"]] == [APP]
    theirs = await billing.summary(STRANGER, "2025-11", APP)
    assert theirs["apps"] == [] and orjson.dumps(theirs["amount"]) == b"0.000000"


async def test_limits_are_a_nodes_of_any_app_but_no_unknown_one(billing: Billing) -> None:
    node, _ = await billing.nodes.create("recording")
    assert await billing.limits(node.node_id, APP) == {"app_id": APP, "refused_services": []}
    with pytest.raises(ParameterInvalid) as refused:
        await billing.limits(node.node_id, "f" * 32)
    assert refused.value.msg == "app_id: no such app"


@pytest.mark.parametrize(
    ("page", "page_size", "msg"),
    [
        (0, 10, "page: must be 1..2147483647"),
        (2**31, 10, "page: must be 1..2147483647"),
        (1, 0, "page_size: must be 1..100"),
        (1, 101, "page_size: must be 1..100"),
    ],
)
async def test_the_service_bounds_pages_as_the_routes_do(
    billing: Billing, page: int, page_size: int, msg: str
) -> None:
    with pytest.raises(ParameterInvalid) as refused:
        await billing.records(OWNER, T0, T0 + DAY, None, page, page_size)
    assert refused.value.msg == msg


async def test_ownership_is_the_stores_scope_so_deleted_apps_stay_readable(
    billing: Billing, store: Store
) -> None:
    """Why the check is the dev_id scope of the query and not a look-up of the app: an
    app's records outlive it, for its owner only."""
    assert await store.delete_app(OWNER, APP, now_ms())
    mine = await billing.records(OWNER, T0 - DAY, T0 + DAY, APP, 1, 100)
    assert mine["total"] == 1
    theirs = await billing.records(STRANGER, T0 - DAY, T0 + DAY, APP, 1, 100)
    assert theirs["total"] == 0
