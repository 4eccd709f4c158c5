"""The signature: what the gateway writes, the SDK's verify reads back; a changed
body, a wrong secret or an old timestamp is refused; during a rotation either secret
verifies."""

from __future__ import annotations

import time

import pytest

from hstgw.sdk import WebhookVerificationError
from hstgw.sdk.webhooks import verify
from hstgw.webhooks.signature import header, parse, signature

BODY = b'{"id":20100,"app_id":"a","version":1,"group_id":"g","user_id":"u","time":1}'
SECRET = "whsec_" + "ab" * 24


def test_round_trip() -> None:
    t = int(time.time())
    got = verify(BODY, header(t, BODY, [SECRET]), SECRET)
    assert got["version"] == 1 and got["id"] == 20100
    assert verify(BODY.decode(), header(t, BODY, [SECRET]), SECRET) == got


def test_the_known_vector() -> None:
    """The scheme, spelled out (docs/webhooks.md): HMAC-SHA256 over "{t}.{body}"."""
    import hashlib
    import hmac

    mac = hmac.new(b"k", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert signature("k", 1700000000, b"{}") == mac
    assert header(1700000000, b"{}", ["k"]) == f"t=1700000000,v1={mac}"


@pytest.mark.parametrize(
    ("body", "secret", "age", "reason"),
    [
        (BODY.replace(b'"version":1', b'"version":2'), SECRET, 0, "no signature matches"),
        (BODY, "whsec_other", 0, "no signature matches"),
        (BODY, SECRET, 301, "more than 300 s away"),
        (BODY, SECRET, -301, "more than 300 s away"),  # from the future
    ],
)
def test_refusals(body: bytes, secret: str, age: int, reason: str) -> None:
    t = int(time.time()) - age
    with pytest.raises(WebhookVerificationError, match=reason):
        verify(body, header(t, BODY, [SECRET]), secret)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "no Hst-Signature header"),
        ("", "no Hst-Signature header"),
        ("v1=abc", "malformed Hst-Signature header: no t="),
        ("t=1", "malformed Hst-Signature header: no v1="),
        ("t=x,v1=a", "malformed"),
        ("garbage", "malformed"),
    ],
)
def test_malformed_headers(value: str | None, reason: str) -> None:
    with pytest.raises(WebhookVerificationError, match=reason):
        verify(BODY, value, SECRET)


def test_rotation_signs_with_both() -> None:
    t = int(time.time())
    value = header(t, BODY, ["whsec_new", SECRET])
    assert len(parse(value)[1]) == 2
    assert verify(BODY, value, "whsec_new")["version"] == 1
    assert verify(BODY, value, SECRET)["version"] == 1


def test_a_tolerance_of_zero_checks_no_time() -> None:
    assert verify(BODY, header(1, BODY, [SECRET]), SECRET, tolerance=0)["id"] == 20100
