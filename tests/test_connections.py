"""The connection gate's unit of counting: an IPv4 address, an IPv6 /64."""

from __future__ import annotations

from collections import deque

import pytest

from hstgw.connections import ConnectionGate, TrustedProxies, _Frames, address_key


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("", ""),
        ("not an address", "not an address"),
    ],
)
def test_address_key(address: str, key: str) -> None:
    assert address_key(address) == key


def test_one_ipv6_subscriber_cannot_escape_the_per_address_cap_with_fresh_addresses() -> None:
    gate = ConnectionGate(total=100, per_address=3)
    admitted = [gate.admit(f"2001:db8:1:2::{i:x}") for i in range(1, 6)]
    assert admitted == [True, True, True, False, False]
    assert gate.held("2001:db8:1:2::ffff") == 3
    # Its neighbour's /64 is another subscriber, with its own places.
    assert gate.admit("2001:db8:1:3::1")
    gate.release("2001:db8:1:2::2")
    assert gate.held("2001:db8:1:2::1") == 2
    assert gate.admit("2001:db8:1:2::beef")
    assert gate.connections == 4


def test_an_ipv4_mapped_address_counts_as_its_ipv4_address() -> None:
    gate = ConnectionGate(total=100, per_address=1)
    assert gate.admit("203.0.113.7")
    assert not gate.admit("::ffff:203.0.113.7")
    assert gate.refused == 1


def test_a_trusted_proxy_is_bounded_by_the_total_only() -> None:
    gate = ConnectionGate(total=3, per_address=1, exempt=TrustedProxies(["2001:db8::/32"]))
    assert [gate.admit("2001:db8::1") for _ in range(4)] == [True, True, True, False]


def test_the_frame_queue_as_a_list_keeps_a_deques_order() -> None:
    # (websockets puts frames back in front with extendleft(reversed(frames)))
    ours, theirs = _Frames(), deque[int]()
    for q in (ours, theirs):
        q.append(1)
        q.append(2)
        q.extendleft(reversed([7, 8, 9]))
        q.extendleft([5, 6])
    assert list(ours) == list(theirs) == [6, 5, 7, 8, 9, 1, 2]
    assert [ours.popleft() for _ in range(7)] == [theirs.popleft() for _ in range(7)]
