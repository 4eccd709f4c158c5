"""Usage ingestion and the records it makes, end to end (design 6, issue 4)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest

from tests.billing.conftest import Billed, ev, make_billed
from tests.conftest import Gateway


def amounts(billed: Billed, **params: Any) -> dict[str, Decimal]:
    return {r["event_id"]: r["amount"] for r in billed.records(**params)["result"]["records"]}


def test_a_meeting_rated_from_events(billed: Billed) -> None:
    a = billed.app_id
    events = [
        # one 1080P stream: a sender and three receivers, 100 s
        ev("v-send", a, 2, 100_000, resolution="1920*1080", transfer_type=1, user_id="host"),
        *[
            ev(
                f"v-recv-{i}",
                a,
                2,
                100_000,
                resolution="1920*1080",
                user_id=f"u{i}",
                stream_id="s1",
            )
            for i in range(3)
        ],
        # a 720P stream (the boundary), 61.2 s -> 62 s
        ev("v-720", a, 2, 61_200, resolution="1280*720"),
        ev("a-recv", a, 1, 90_000),
        ev("a-send", a, 1, 90_000, transfer_type=1),
        ev("screen", a, 4, 7_000),
        ev("wx-a-send", a, 11, 30_000, transfer_type=1),
        ev("wx-a-recv", a, 11, 30_000),
        ev("wx-v", a, 12, 120_000),
        ev("rec", a, 8, 600_000, resolution="1920*1080", parties=2),
        ev("store", a, 9, 0, quantity=12.5),
        ev("traffic", a, 10, 0, quantity="3.2"),
        ev("peak", a, 7, 0, quantity=40),
    ]
    assert billed.usage(events) == {
        "code": 0,
        "msg": "OK",
        "result": {"accepted": 15, "duplicates": 0},
    }
    got = amounts(billed)
    assert got == {
        "v-send": Decimal("0"),
        "v-recv-0": Decimal("0.12"),
        "v-recv-1": Decimal("0.12"),
        "v-recv-2": Decimal("0.12"),
        "v-720": Decimal("0.0248"),
        "a-recv": Decimal("0.009"),
        "a-send": Decimal("0"),
        "screen": Decimal("0.007467"),
        "wx-a-send": Decimal("0.0125"),
        "wx-a-recv": Decimal("0.0125"),
        "wx-v": Decimal("0.076"),
        "rec": Decimal("0.196"),
        "store": Decimal("0.125"),
        "traffic": Decimal("1.792"),
        "peak": Decimal("0"),
    }
    assert all(str(v).split(".")[1].__len__() == 6 for v in got.values())  # shown to 6 places
    records = {r["event_id"]: r for r in billed.records()["result"]["records"]}
    rec = records["rec"]
    assert (rec["product_id"], rec["product_name"], rec["charge_term"]) == (8, "录制服务", 8)
    assert (rec["price"], rec["total_time"], rec["parties"]) == (Decimal("0.019600"), 600, 2)
    assert (rec["start_time"], rec["end_time"]) == ("2025-11-28 11:20:00", "2025-11-28 11:30:00")
    v = records["v-recv-1"]
    assert (v["user_id"], v["stream_id"], v["resolution"], v["transfer_type"]) == (
        "u1",
        "s1",
        "1920*1080",
        2,
    )
    assert v["app_name"] == "billed1" and v["product_name"] == "视频服务"
    summary = billed.gateway.call(
        "GET", "/v1/consuming/summary", billed.token, params={"month": "2025-11"}
    )["result"]
    assert summary["month"] == "2025-11"
    assert Decimal(str(summary["amount"])) == Decimal("2.8148") + Decimal("0.007467") - Decimal(
        "0.007467"
    ) + Decimal("0.007467") - Decimal("0.007467") + sum(got.values()) - Decimal("2.8148")
    [app] = summary["apps"]
    terms = {t["charge_term"]: t for t in app["terms"]}
    assert terms[2]["records"] == 5 and Decimal(str(terms[2]["amount"])) == Decimal("0.3848")


def test_signaling_quota_crosses_in_arrival_order_per_developer(billed: Billed) -> None:
    events = [
        ev("s1", billed.app_id, 6, total_sig_num=999_990),
        ev("s2", billed.app_id2, 6, total_sig_num=25),  # the other app of the same developer
        ev("s3", billed.app_id, 6, total_sig_num=10),
    ]
    billed.usage(events)
    got = {r["event_id"]: r for r in billed.records()["result"]["records"]}
    assert got["s1"]["amount"] == Decimal("0") and got["s1"]["total_sig_num"] == 999_990
    assert got["s2"]["amount"] == Decimal("0.0015")  # 10 free, 15 billed
    assert got["s3"]["amount"] == Decimal("0.001")
    assert got["s3"]["price"] == Decimal("0.0001")
    other = make_billed(billed.gateway)  # another developer starts from its own quota
    other.usage([ev("s1-other", other.app_id, 6, total_sig_num=10)])
    assert other.records()["result"]["records"][0]["amount"] == Decimal("0")


def test_duplicates_change_nothing(billed: Billed) -> None:
    batch = [ev("d1", billed.app_id, 1, 60_000), ev("d2", billed.app_id, 1, 60_000)]
    assert billed.usage(batch)["result"] == {"accepted": 2, "duplicates": 0}
    again = [
        ev("d1", billed.app_id, 1, 999_000),
        ev("d3", billed.app_id, 1, 60_000),
        ev("d3", billed.app_id, 1, 1),
    ]
    assert billed.usage(again)["result"] == {"accepted": 1, "duplicates": 2}
    got = amounts(billed)
    assert got == {"d1": Decimal("0.006"), "d2": Decimal("0.006"), "d3": Decimal("0.006")}


def test_concurrent_copies_are_kept_once(billed: Billed) -> None:
    batch = [ev(f"c{i}", billed.app_id, 6, total_sig_num=1_000_000) for i in range(50)]
    with ThreadPoolExecutor(8) as pool:
        results = [r["result"] for r in pool.map(lambda _: billed.usage(batch), range(8))]
    assert sum(r["accepted"] for r in results) == 50
    assert sum(r["duplicates"] for r in results) == 7 * 50
    records = billed.records()["result"]
    assert records["total"] == 50
    # exactly one million free: the first event free, 49 million billed at 0.0001
    assert sum(r["amount"] for r in records["records"]) == Decimal("4900")


def test_a_batch_with_one_bad_event_is_refused_whole(billed: Billed) -> None:
    good = [ev(f"g{i}", billed.app_id, 1, 60_000) for i in range(3)]
    bad = ev("bad", billed.app_id, 2, 60_000, resolution="1920x1080")
    reply = billed.usage([*good, bad])
    assert reply == {"code": 606000003, "msg": 'events[3].resolution: must be "W*H"'}
    assert billed.records()["result"]["total"] == 0
    unknown = ev("u", "f" * 32, 1, 60_000)
    assert billed.usage([*good, unknown]) == {
        "code": 606000003,
        "msg": "events[3].app_id: no such app",
    }
    assert billed.records()["result"]["total"] == 0


def test_a_deleted_apps_usage_is_still_rated(billed: Billed) -> None:
    billed.gateway.call("DELETE", "/v1/app", billed.token, params={"app_id": billed.app_id})
    assert billed.usage([ev("late", billed.app_id, 1, 60_000)])["result"]["accepted"] == 1
    [record] = billed.records()["result"]["records"]
    assert (record["app_name"], record["amount"]) == ("billed1", Decimal("0.006"))


A = "a" * 32
CASES: list[tuple[str, Any, int, str]] = [
    ("no events", {"events": []}, 606000003, "events: must have at least 1 items"),
    (
        "1001 events",
        {"events": [ev(f"e{i}", A, 1) for i in range(1001)]},
        606000003,
        "events: must have at most 1000 items",
    ),
    ("events missing", {}, 606000002, "events: required"),
    (
        "event_id missing",
        {"events": [{"app_id": A, "charge_term": 1, "start_time": 1, "end_time": 1}]},
        606000002,
        "events[0].event_id: required",
    ),
    (
        "event_id too long",
        {"events": [ev("x" * 65, A, 1)]},
        606000003,
        "events[0].event_id: must be 1..64 characters",
    ),
    (
        "term 3",
        {"events": [ev("e", A, 3)]},
        606000003,
        "events[0].charge_term: must be one of 1, 2, 4, 6, 7, 8, 9, 10, 11 or 12",
    ),
    (
        "end before start",
        {"events": [ev("e", A, 1, -5)]},
        606000003,
        "events[0].end_time: must not be before start_time",
    ),
    (
        "start negative",
        {"events": [{**ev("e", A, 1), "start_time": -1}]},
        606000003,
        "events[0].start_time: must be 0..4102444800000",
    ),
    (
        "resolution missing",
        {"events": [ev("e", A, 8)]},
        606000002,
        "events[0].resolution: required for charge_term 8",
    ),
    (
        "total_sig_num missing",
        {"events": [ev("e", A, 6)]},
        606000002,
        "events[0].total_sig_num: required for charge_term 6",
    ),
    (
        "quantity missing",
        {"events": [ev("e", A, 9)]},
        606000002,
        "events[0].quantity: required for charge_term 9",
    ),
    (
        "quantity negative",
        {"events": [ev("e", A, 10, quantity=-1)]},
        606000003,
        "events[0].quantity: must be >= 0",
    ),
    (
        "quantity text",
        {"events": [ev("e", A, 10, quantity="lots")]},
        606000003,
        "events[0].quantity: must be a number",
    ),
    (
        "peak fraction",
        {"events": [ev("e", A, 7, quantity=1.5)]},
        606000003,
        "events[0].quantity: must be a whole number of terminals",
    ),
    (
        "transfer_type 3",
        {"events": [ev("e", A, 1, transfer_type=3)]},
        606000003,
        "events[0].transfer_type: must be one of 1 or 2",
    ),
    (
        "start_time string",
        {"events": [{**ev("e", A, 1), "start_time": "1"}]},
        606000003,
        "events[0].start_time: must be an integer",
    ),
]


@pytest.mark.parametrize(("case", "body", "code", "msg"), CASES, ids=[c[0] for c in CASES])
def test_validation(billed: Billed, case: str, body: Any, code: int, msg: str) -> None:
    reply = billed.gateway.call(
        "POST",
        "/internal/v1/usage",
        json=body,
        headers={"Authorization": f"Bearer {billed.node_key}"},
    )
    assert reply == {"code": code, "msg": msg}


@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer", "Bearer nope", "nodekey", "Basic abc"]
)
def test_ingestion_needs_a_node_key(billed: Billed, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    reply = billed.gateway.call(
        "POST", "/internal/v1/usage", json={"events": [ev("x", billed.app_id, 1)]}, headers=headers
    )
    assert reply == {"code": 606000000, "msg": "Authentication failed"}
    # a developer's access token is no node key either
    reply = billed.gateway.call(
        "POST",
        "/internal/v1/usage",
        json={"events": []},
        headers={"Authorization": f"Bearer {billed.token}"},
    )
    assert reply["code"] == 606000000


def test_a_revoked_node_is_refused(gateway: Gateway) -> None:
    import asyncio

    from hstgw.billing.service import Nodes, key_hash
    from hstgw.ids import now_ms
    from hstgw.store import open_store

    billed = make_billed(gateway)

    async def revoke() -> None:
        store = open_store(gateway.settings)
        await store.open()
        try:
            node = await store.node_by_key(key_hash(billed.node_key))
            assert node is not None
            assert await Nodes(store, now_ms).revoke(node.node_id)
        finally:
            await store.close()

    from concurrent.futures import ThreadPoolExecutor as Pool

    with Pool(1) as pool:
        pool.submit(asyncio.run, revoke()).result()
    assert billed.usage([ev("r", billed.app_id, 1)])["code"] == 606000000
