"""The address rule against URLs spelled to slip past it: every spelling of loopback
and of the metadata address, and IPv6 addresses that carry an IPv4 one (6to4, NAT64,
Teredo), through the service that registers endpoints' URLs."""

from __future__ import annotations

import pytest

from hstgw.webhooks.targets import TargetRefused, Targets

pytestmark = pytest.mark.anyio


async def names(host: str, port: int) -> list[str]:
    """A resolver as the system's would answer (no network in tests)."""
    return {
        "localhost.": ["127.0.0.1", "::1"],
        "localtest.me": ["127.0.0.1"],
        "metadata.example": ["169.254.169.254"],
        "both.example": ["93.184.216.34", "127.0.0.1"],
        "2130706433": ["127.0.0.1"],  # getaddrinfo's inet_aton forms
        "0x7f.1": ["127.0.0.1"],
        "0": ["0.0.0.0"],
    }[host]


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/",
        "http://0x7f.1/",
        "http://0/",
        "http://0.0.0.0/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[0:0:0:0:0:ffff:7f00:1]/",
        "http://localhost./",
        "http://localtest.me/",
        "http://metadata.example/",
        "http://both.example/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd12:3456::1]/",
        "http://[fe80::1%25eth0]/",
        "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
        "http://[2002:a9fe:a9fe::1]/",  # 6to4 of 169.254.169.254
        "http://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
        "http://[2001:0:7f00:1::]/",  # Teredo, its server 127.0.0.1
    ],
)
async def test_every_spelling_of_a_private_target_is_refused(url: str) -> None:
    with pytest.raises(TargetRefused):
        await Targets(allow_private=False, resolver=names).check_url(url)


async def test_a_public_6to4_address_is_still_allowed() -> None:
    await Targets(allow_private=False, resolver=names).check_url("http://[2002:5db8:d822::1]/")
