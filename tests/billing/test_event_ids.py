"""Issue 10 item 12: usage event ids are scoped per node; one node cannot claim
another's ids (nor the gateway's own)."""

from __future__ import annotations

from decimal import Decimal

from tests.billing.conftest import Billed, ev


def test_two_nodes_may_use_one_event_id(billed: Billed) -> None:
    other_key = billed.gateway.new_node("media-2")
    a = billed.app_id
    # node 1 reports "x" first, as a node would that knew node 2's id scheme
    assert billed.usage([ev("x", a, 1, 1000)])["result"] == {"accepted": 1, "duplicates": 0}
    # node 2's own "x" is its own event, rated as sent
    theirs = [ev("x", a, 1, 60_000), ev("y", a, 1, 60_000)]
    assert billed.usage(theirs, key=other_key)["result"] == {"accepted": 2, "duplicates": 0}
    # each node's re-sends are duplicates of its own events only
    assert billed.usage([ev("x", a, 1, 5)])["result"] == {"accepted": 0, "duplicates": 1}
    again = billed.usage(theirs, key=other_key)["result"]
    assert again == {"accepted": 0, "duplicates": 2}
    assert billed.usage([ev("y", a, 1, 1000)])["result"] == {"accepted": 1, "duplicates": 0}
    records = billed.records()["result"]["records"]
    got = sorted((r["event_id"], r["amount"]) for r in records)
    assert got == [
        ("x", Decimal("0.000100")),
        ("x", Decimal("0.006000")),
        ("y", Decimal("0.000100")),
        ("y", Decimal("0.006000")),
    ]
