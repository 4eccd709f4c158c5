"""X-Forwarded-For is believed from configured proxies only (HSTGW_TRUSTED_PROXIES)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hstgw.connections import TrustedProxies
from tests.conftest import Gateway, start_gateway

FAILURES = 5


def codes(gw: Gateway, forwarded_for: str, times: int) -> list[int]:
    out = []
    for _ in range(times):
        r = gw.http.get(
            f"{gw.url}/v1/apps",
            headers={"Authorization": "0" * 32, "X-Forwarded-For": forwarded_for},
        )
        out.append(r.json()["code"])
    return out


@pytest.fixture
def untrusting(tmp_path: Path) -> Iterator[Gateway]:
    yield from start_gateway(tmp_path, limit_auth_failures_per_address=FAILURES)


@pytest.fixture
def behind_proxy(tmp_path: Path) -> Iterator[Gateway]:
    yield from start_gateway(
        tmp_path, limit_auth_failures_per_address=FAILURES, trusted_proxies=["127.0.0.1"]
    )


def test_fresh_forwarded_addresses_do_not_escape_the_limit(untrusting: Gateway) -> None:
    # The peer (127.0.0.1) is not a proxy: its X-Forwarded-For is its own say-so.
    got = [codes(untrusting, f"10.0.0.{i}", 1)[0] for i in range(FAILURES + 3)]
    assert got == [606000000] * FAILURES + [606000006] * 3


def test_nobody_can_lock_out_another_address_by_naming_it(untrusting: Gateway) -> None:
    token = untrusting.access_token(untrusting.new_dev())
    codes(untrusting, "127.0.0.5", FAILURES + 1)  # sent from 127.0.0.1, naming a victim
    transport = httpx.HTTPTransport(local_address="127.0.0.5")
    with httpx.Client(transport=transport) as victim:
        r = victim.get(f"{untrusting.url}/v1/apps", headers={"Authorization": token})
    assert r.json()["code"] == 0


def test_a_trusted_proxy_speaks_for_its_clients(behind_proxy: Gateway) -> None:
    gw = behind_proxy
    assert codes(gw, "203.0.113.9", FAILURES + 1)[-1] == 606000006
    # another client of the same proxy is not concerned
    token = gw.access_token(gw.new_dev())
    r = gw.http.get(
        f"{gw.url}/v1/apps", headers={"Authorization": token, "X-Forwarded-For": "203.0.113.10"}
    )
    assert r.json()["code"] == 0


def test_a_client_cannot_prepend_its_way_out(behind_proxy: Gateway) -> None:
    # A proxy that appends: whatever the client wrote comes first; the proxy's entry wins.
    got = [codes(behind_proxy, f"10.1.0.{i}, 203.0.113.7", 1)[0] for i in range(FAILURES + 1)]
    assert got[-1] == 606000006


@pytest.mark.parametrize(
    ("peer", "header", "client"),
    [
        ("10.0.0.1", "1.2.3.4", "1.2.3.4"),
        ("10.0.0.1", "9.9.9.9, 1.2.3.4", "1.2.3.4"),
        ("10.0.0.1", "1.2.3.4, 10.0.0.2", "1.2.3.4"),  # two proxies of ours
        ("10.0.0.1", "10.0.0.3, 10.0.0.2", "10.0.0.1"),  # nothing but proxies
        ("10.0.0.1", "not-an-address", "10.0.0.1"),
        ("10.0.0.1", "", "10.0.0.1"),
        ("192.0.2.1", "1.2.3.4", "192.0.2.1"),  # not a proxy of ours
        ("::ffff:10.0.0.1", "1.2.3.4", "1.2.3.4"),
        ("2001:db8::1", "1.2.3.4", "2001:db8::1"),
    ],
)
def test_client_address(peer: str, header: str, client: str) -> None:
    assert TrustedProxies(["10.0.0.0/24"]).client_address(peer, header) == client


def test_no_proxies_no_trust() -> None:
    proxies = TrustedProxies()
    assert not proxies
    assert proxies.client_address("127.0.0.1", "1.2.3.4") == "127.0.0.1"
