"""Which addresses a webhook may reach (SSRF), resolving names as a resolver says, and
the back-off table."""

from __future__ import annotations

import ipaddress

import pytest

from hstgw.webhooks import backoff
from hstgw.webhooks.targets import TargetRefused, Targets, is_public

pytestmark = pytest.mark.anyio


def resolver(table: dict[str, list[list[str]]]):  # type: ignore[no-untyped-def]
    """Each name answers its lists in turn (the last one from then on): DNS that moves."""

    async def resolve(host: str, port: int) -> list[str]:
        answers = table[host]
        return answers.pop(0) if len(answers) > 1 else answers[0]

    return resolve


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::", False),
        ("ff02::1", False),
        ("::ffff:10.0.0.1", False),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


async def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    targets = Targets(False, resolver({"evil.example": [["93.184.216.34", "10.0.0.7"]]}))
    with pytest.raises(TargetRefused, match=r"resolves to\) 10\.0\.0\.7"):
        await targets.check_url("https://evil.example/hook")


async def test_every_attempt_checks_again_against_rebinding() -> None:
    """Public at registration, private at the attempt: refused at the attempt."""
    targets = Targets(False, resolver({"rebind.example": [["93.184.216.34"], ["127.0.0.1"]]}))
    await targets.check_url("http://rebind.example/hook")
    with pytest.raises(TargetRefused, match=r"127\.0\.0\.1"):
        await targets.addresses("rebind.example", 80)


async def test_allowed_when_the_operator_says_so() -> None:
    targets = Targets(True, resolver({"intranet.example": [["10.0.0.7"]]}))
    assert await targets.addresses("intranet.example", 80) == ["10.0.0.7"]
    assert await targets.addresses("127.0.0.1", 80) == ["127.0.0.1"]


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    async def fails(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(TargetRefused, match="does not resolve"):
        await Targets(False, fails).check_url("http://nowhere.invalid/")


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [
        (1, 0.5, 1.0),
        (2, 1.0, 2.0),
        (3, 2.0, 4.0),
        (10, 256.0, 512.0),
        (13, 1800.0, 3600.0),  # capped at an hour
        (500, 1800.0, 3600.0),
    ],
)
def test_backoff_table(attempt: int, low: float, high: float) -> None:
    """Defaults (first retry 1 s): half of each step fixed, half random."""
    assert backoff.delay(attempt, 1.0, lambda: 0.0) == low
    assert backoff.delay(attempt, 1.0, lambda: 1.0) == high
