"""GET /v1/consuming/records and /v1/consuming/summary: ranges, order, pages, isolation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.billing.conftest import T0, Billed, ev, make_billed

DAY = 86_400_000


def test_records_in_range_ordered_by_start_time_then_id(billed: Billed) -> None:
    a = billed.app_id
    billed.usage(
        [
            {**ev("late", a, 1, 1000), "start_time": T0 + 5000, "end_time": T0 + 6000},
            {**ev("early", a, 1, 1000), "start_time": T0 - 5000, "end_time": T0},
            ev("tie1", a, 1, 1000),
            ev("tie2", a, 1, 1000),
            {**ev("outside", a, 1, 1000), "start_time": T0 + 3 * DAY, "end_time": T0 + 3 * DAY},
        ]
    )
    got = billed.records(start_time=T0 - 5000, end_time=T0 + 5000)["result"]
    assert [r["event_id"] for r in got["records"]] == ["early", "tie1", "tie2", "late"]
    assert got["total"] == 4
    ids = [r["record_id"] for r in got["records"]]
    assert ids[1] < ids[2]  # same start_time: by record id
    page = billed.records(start_time=T0 - 5000, end_time=T0 + 5000, page=2, page_size=3)["result"]
    assert (page["total"], page["page"], page["page_size"]) == (4, 2, 3)
    assert [r["event_id"] for r in page["records"]] == ["late"]


def test_app_filter_and_isolation(billed: Billed) -> None:
    billed.usage([ev("one", billed.app_id, 1, 1000), ev("two", billed.app_id2, 1, 1000)])
    only = billed.records(app_id=billed.app_id2)["result"]["records"]
    assert [r["event_id"] for r in only] == ["two"]
    stranger = make_billed(billed.gateway)
    assert stranger.records()["result"] == {"total": 0, "page": 1, "page_size": 100, "records": []}
    assert stranger.records(app_id=billed.app_id)["result"]["records"] == []
    month = stranger.gateway.call(
        "GET",
        "/v1/consuming/summary",
        stranger.token,
        params={"month": "2025-11", "app_id": billed.app_id},
    )["result"]
    assert month["apps"] == [] and month["amount"] == 0


def test_charge_term_filter(billed: Billed) -> None:
    a = billed.app_id
    video = {"resolution": "1280*720"}
    billed.usage(
        [
            ev("aud1", a, 1, 60_000),
            ev("vid", a, 2, 60_000, **video),
            ev("aud2", billed.app_id2, 1, 60_000),
        ]
    )
    audio = billed.records(charge_term=1)["result"]
    assert sorted(r["event_id"] for r in audio["records"]) == ["aud1", "aud2"]
    assert audio["total"] == 2
    both = billed.records(charge_term=1, app_id=a)["result"]
    assert [r["event_id"] for r in both["records"]] == ["aud1"]
    assert billed.records(charge_term=4)["result"]["total"] == 0


@pytest.mark.parametrize(
    ("params", "code", "msg"),
    [
        ({"start_time": None}, 606000002, "start_time: required"),
        ({"end_time": None}, 606000002, "end_time: required"),
        ({"page": None}, 606000002, "page: required"),
        ({"page_size": None}, 606000002, "page_size: required"),
        ({"page_size": 101}, 606000003, "page_size: must be 1..100"),
        ({"page": 0}, 606000003, "page: must be 1..2147483647"),
        ({"start_time": "yesterday"}, 606000003, "start_time: must be an integer"),
        (
            {"start_time": T0, "end_time": T0 - 1},
            606000003,
            "end_time: must not be before start_time",
        ),
        (
            {"start_time": T0, "end_time": T0 + 93 * DAY + 1},
            606000003,
            "end_time: the range must be at most 93 days",
        ),
        ({"app_id": "nope"}, 606000003, "app_id: must be 32..32 characters"),
        (
            {"charge_term": 3},
            606000003,
            "charge_term: must be one of 1, 2, 4, 6, 7, 8, 9, 10, 11, 12",
        ),
    ],
)
def test_records_validation(billed: Billed, params: dict[str, Any], code: int, msg: str) -> None:
    query = {"start_time": T0, "end_time": T0 + DAY, "page": 1, "page_size": 10}
    query.update(params)
    query = {k: v for k, v in query.items() if v is not None}
    reply = billed.gateway.call("GET", "/v1/consuming/records", billed.token, params=query)
    assert reply == {"code": code, "msg": msg}


def test_a_93_day_range_is_allowed(billed: Billed) -> None:
    assert billed.records(start_time=T0, end_time=T0 + 93 * DAY)["code"] == 0


def test_summary_totals_per_app_and_term(billed: Billed) -> None:
    billed.usage(
        [
            ev("a1", billed.app_id, 1, 60_000),  # 0.006
            ev("a2", billed.app_id, 1, 120_000),  # 0.012
            ev("v1", billed.app_id, 2, 60_000, resolution="1920*1080"),  # 0.072
            ev("s1", billed.app_id2, 9, quantity="2.5"),  # 0.025
            {
                **ev("dec", billed.app_id, 1, 60_000),
                "start_time": T0 + 10 * DAY,
                "end_time": T0 + 10 * DAY,
            },
        ]
    )
    reply = billed.gateway.call(
        "GET", "/v1/consuming/summary", billed.token, params={"month": "2025-11"}
    )
    result = reply["result"]
    assert Decimal(str(result["amount"])) == Decimal("0.115")
    apps = {a["app_id"]: a for a in result["apps"]}
    first = apps[billed.app_id]
    assert first["app_name"] == "billed1" and Decimal(str(first["amount"])) == Decimal("0.09")
    terms = {t["charge_term"]: t for t in first["terms"]}
    assert (terms[1]["records"], terms[1]["total_time"]) == (2, 180)
    assert Decimal(str(apps[billed.app_id2]["terms"][0]["quantity"])) == Decimal("2.5")
    one = billed.gateway.call(
        "GET",
        "/v1/consuming/summary",
        billed.token,
        params={"month": "2025-12", "app_id": billed.app_id},
    )["result"]
    assert [a["app_id"] for a in one["apps"]] == [billed.app_id]
    assert billed.gateway.call(
        "GET", "/v1/consuming/summary", billed.token, params={"month": "2025-13"}
    ) == {
        "code": 606000003,
        "msg": "month: must be YYYY-MM",
    }
