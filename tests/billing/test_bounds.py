"""Issue 10 item 9: what one event may claim is bounded, and sums of money stay exact
integers on both engines, also past 2^63 millionths of a yuan."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.billing.conftest import Billed, ev, make_billed
from tests.conftest import Gateway, engine_settings, start_gateway

INT64_MAX = 2**63 - 1
# The bounds (docs/billing.md); test_the_bounds_are_the_modules_own checks them.
MAX_EVENT_MS = 31 * 86_400_000
MAX_PARTIES = 1000
MAX_SIG_NUM = 10**9
MAX_QUANTITY = 10**7
MAX_PRICE = 1000
ZONE = ZoneInfo("Asia/Shanghai")
MONEY = (
    "audio", "video_720p", "video_above_720p", "screen_share", "signaling", "peak_terminal",
    "recording_1080p", "recording_720p", "recording_party", "storage", "traffic",
    "wechat_audio", "wechat_video",
)  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "msg"),
    [
        (
            {"end_time": 1764300000000 + MAX_EVENT_MS + 1},
            "events[1].end_time: must be at most 31 days after start_time",
        ),
        ({"parties": MAX_PARTIES + 1}, f"events[1].parties: must be 0..{MAX_PARTIES}"),
        (
            {"charge_term": 6, "total_sig_num": MAX_SIG_NUM + 1},
            f"events[1].total_sig_num: must be 0..{MAX_SIG_NUM}",
        ),
        (
            {"charge_term": 10, "quantity": MAX_QUANTITY + 1},
            f"events[1].quantity: must be <= {MAX_QUANTITY}",
        ),
    ],
)
def test_an_event_past_a_bound_is_refused_by_name(
    billed: Billed, fields: dict[str, Any], msg: str
) -> None:
    good = ev("fine", billed.app_id, 8, 1000, resolution="1920*1080")
    bad = {**ev("greedy", billed.app_id, 8, 1000, resolution="1920*1080"), **fields}
    assert billed.usage([good, bad]) == {"code": 606000003, "msg": msg}
    assert billed.records()["result"]["total"] == 0  # nothing of the batch kept


def test_an_event_at_the_bounds_is_accepted(billed: Billed) -> None:
    at = [
        {**ev("long", billed.app_id, 8, 0, resolution="1920*1080"), "parties": MAX_PARTIES}
        | {"end_time": 1764300000000 + MAX_EVENT_MS},
        ev("sig", billed.app_id, 6, total_sig_num=MAX_SIG_NUM),
        ev("gb", billed.app_id, 10, quantity=MAX_QUANTITY),
    ]
    assert billed.usage(at)["result"] == {"accepted": 3, "duplicates": 0}


@pytest.fixture(scope="module")
def dear(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway with every price at its bound."""
    prices = {name: str(MAX_PRICE) for name in MONEY}
    for db in engine_settings(engine):
        yield from start_gateway(tmp_path_factory.mktemp("dear"), prices=prices, **db)


def summary(billed: Billed, month: str) -> dict[str, Any]:
    r = billed.gateway.http.get(
        f"{billed.gateway.url}/v1/consuming/summary",
        params={"month": month},
        headers={"Authorization": billed.token},
    )
    body: dict[str, Any] = json.loads(r.text, parse_float=Decimal)
    return body


def test_sums_past_2_63_millionths_stay_exact(dear: Gateway) -> None:
    billed = make_billed(dear)
    a = billed.app_id
    per_minute = (MAX_PRICE + MAX_PRICE * MAX_PARTIES) * 1_000_000  # millionths
    minutes = MAX_EVENT_MS // 60_000
    recording = per_minute * minutes
    # this month's, so that the limits count them too
    first = datetime.now(ZONE).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    month, start_ms = first.strftime("%Y-%m"), int(first.timestamp() * 1000)
    biggest = {"start_time": start_ms, "end_time": start_ms + MAX_EVENT_MS}
    batch = [
        {**ev(f"r{i}", a, 8, resolution="1920*1080", parties=MAX_PARTIES), **biggest}
        for i in range(1000)
    ]
    assert recording * 1000 > INT64_MAX
    for start in (0, 500):  # two batches: the month's counters go past 2^63 twice
        reply = billed.usage(batch[start : start + 500])
        assert reply == {"code": 0, "msg": "OK", "result": {"accepted": 500, "duplicates": 0}}
    sig = [
        {**ev(f"s{i}", a, 6, total_sig_num=MAX_SIG_NUM), "start_time": start_ms}
        | {"end_time": start_ms}
        for i in range(20)
    ]
    assert billed.usage(sig)["code"] == 0
    free = 1_000_000  # the developer's free receptions this month
    signaling = (20 * MAX_SIG_NUM - free) * MAX_PRICE * 1_000_000
    body = summary(billed, month)
    assert body["code"] == 0, body
    total = recording * 1000 + signaling
    assert body["result"]["amount"] == Decimal(total) / 1_000_000, body
    [app] = body["result"]["apps"]
    terms = {t["charge_term"]: t for t in app["terms"]}
    assert terms[8]["amount"] == Decimal(recording * 1000) / 1_000_000
    assert terms[8]["total_time"] == 1000 * MAX_EVENT_MS // 1000
    assert terms[6]["total_sig_num"] == 20 * MAX_SIG_NUM
    # the amounts are written with 6 places, never as floats
    r = billed.gateway.http.get(
        f"{billed.gateway.url}/v1/consuming/summary",
        params={"month": month},
        headers={"Authorization": billed.token},
    )
    assert f'"amount":{total // 1_000_000}.{total % 1_000_000:06d}' in r.text
    # the limits still answer: an app this far past 1 yuan is refused everything
    patch = {"app_id": a, "consumption_limit": 2**31 - 1}
    assert dear.call("PATCH", "/v1/app", billed.token, json=patch)["code"] == 0
    limits = dear.call(
        "GET",
        "/internal/v1/limits",
        params={"app_id": a},
        headers={"Authorization": f"Bearer {billed.node_key}"},
    )
    assert limits["result"]["refused_services"] == [3, 4, 6, 7, 8], limits


def test_the_bounds_are_the_modules_own() -> None:
    from hstgw.billing import models, prices

    assert (models.MAX_EVENT_MS, models.MAX_PARTIES) == (MAX_EVENT_MS, MAX_PARTIES)
    assert (models.MAX_SIG_NUM, models.MAX_QUANTITY) == (MAX_SIG_NUM, MAX_QUANTITY)
    assert prices.MAX_PRICE == MAX_PRICE


def test_prices_are_bounded() -> None:
    from hstgw.billing.prices import PriceTable

    with pytest.raises(ValueError, match="price traffic: must be at most 1000"):
        PriceTable.with_overrides({"traffic": "1000.000001"})
    assert PriceTable.with_overrides({"traffic": "1000"}).traffic == 1000


@pytest.mark.parametrize("term", [1, 2, 4, 6, 7, 8, 9, 10, 11, 12])
def test_no_record_at_the_bounds_reaches_2_63(term: int) -> None:
    from collections import defaultdict

    from hstgw.billing.prices import PriceTable
    from hstgw.billing.rating import UsageEvent, rate

    prices = PriceTable.with_overrides(
        {name: MAX_PRICE for name in MONEY} | {"signaling_free_quota": 0}
    )
    event = UsageEvent(
        "e",
        "a" * 32,
        term,
        0,
        MAX_EVENT_MS,
        resolution="99999*99999",
        transfer_type=2,
        total_sig_num=MAX_SIG_NUM,
        quantity=Decimal(MAX_QUANTITY),
        parties=MAX_PARTIES,
    )
    r = rate(event, "d" * 32, prices, defaultdict(int), ZONE)
    assert 0 < r.amount_micro <= INT64_MAX
