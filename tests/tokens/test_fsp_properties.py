"""Any mutation of a valid 001 token is refused: bit flips, truncation, splicing the
blocks of two tokens, re-encoding. Never accepted, never another exception; and
through the REST API never anything but a refusal (606000000, or 606000006 once the
developer's failed-authentication limit is reached).

(Whitespace is not a mutation: Android builders wrap tokens at 76 columns, and the
codec drops it by design, docs/tokens.md.)
"""

from __future__ import annotations

import base64
import time

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hstgw.tokens.fsp import TokenError, build, verify
from tests.conftest import Gateway

SECRET = "0123456789abcdef"
AID = "a" * 32
NOW = int(time.time() * 1000)

claims = st.fixed_dictionaries(
    {
        "uid": st.one_of(st.none(), st.text("abcdefghij_-0123456789", min_size=1, max_size=40)),
        "gid": st.one_of(st.none(), st.text("abcdefghij_-0123456789", min_size=1, max_size=40)),
        "rand": st.integers(0, 2**31 - 1),
        "skew": st.integers(-3_600_000, 0),
    }
)


def token_of(c: dict[str, object]) -> str:
    return build(
        AID,
        SECRET,
        uid=c["uid"],
        gid=c["gid"],
        rand=c["rand"],
        now_ms=NOW + c["skew"],  # type: ignore[arg-type,operator]
    )


def sealed(token: str) -> bytes:
    return base64.b64decode(token[3:])


def seal(data: bytes) -> str:
    return "001" + base64.b64encode(data).decode()


def refused(token: str) -> bool:
    try:
        verify(token, SECRET, aid=AID, now_ms=NOW)
    except TokenError:
        return True
    return False


@given(claims)
def test_valid_tokens_are_accepted(c: dict[str, object]) -> None:
    assert not refused(token_of(c))


@given(claims, st.data())
def test_bit_flips_are_refused(c: dict[str, object], data: st.DataObject) -> None:
    raw = bytearray(sealed(token_of(c)))
    for bit in data.draw(st.sets(st.integers(0, len(raw) * 8 - 1), min_size=1, max_size=8)):
        raw[bit // 8] ^= 1 << (bit % 8)
    assert refused(seal(bytes(raw)))


@given(claims, st.data())
def test_truncation_is_refused(c: dict[str, object], data: st.DataObject) -> None:
    token = token_of(c)
    cut = data.draw(st.integers(0, len(token) - 1))
    assert refused(token[:cut])


@given(claims, claims, st.data())
def test_splicing_two_tokens_is_refused(
    c1: dict[str, object], c2: dict[str, object], data: st.DataObject
) -> None:
    a, b = sealed(token_of(c1)), sealed(token_of(c2))
    blocks_a = [a[i : i + 16] for i in range(0, len(a), 16)]
    blocks_b = [b[i : i + 16] for i in range(0, len(b), 16)]
    k = data.draw(st.integers(1, max(1, min(len(blocks_a), len(blocks_b)) - 1)))
    how = data.draw(st.sampled_from(["prefix", "swap_block", "drop_block", "repeat_block"]))
    if how == "prefix":
        spliced = blocks_a[:k] + blocks_b[k:]
    elif how == "swap_block":
        spliced = [*blocks_a]
        spliced[k - 1] = blocks_b[k - 1] if k - 1 < len(blocks_b) else blocks_b[-1]
    elif how == "drop_block":
        spliced = blocks_a[: k - 1] + blocks_a[k:]
    else:
        spliced = blocks_a[:k] + blocks_a[k - 1 :]
    joined = b"".join(spliced)
    # A splice that gives back one of the two tokens (a shared prefix, with the fixed
    # IV of the format) is that token, not a forgery.
    assume(joined not in (a, b))
    assert refused(seal(joined))


@given(claims, st.sampled_from(["urlsafe", "unpadded", "trailing_bits", "version", "lower"]))
def test_re_encodings_are_refused(c: dict[str, object], how: str) -> None:
    token = token_of(c)
    body = token[3:]
    if how == "urlsafe":
        assume("+" in body or "/" in body)
        mutated = "001" + body.replace("+", "-").replace("/", "_")
    elif how == "unpadded":
        assume(body.endswith("="))
        mutated = "001" + body.rstrip("=")
    elif how == "trailing_bits":
        # the same bytes with non-zero unused bits in the last character
        assume(body.endswith("="))
        stem = body.rstrip("=")
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        last = alphabet.index(stem[-1])
        unused = 4 if body.endswith("==") else 2
        mutated = "001" + stem[:-1] + alphabet[last | ((1 << unused) - 1)] + body[len(stem) :]
        assume(mutated != token)
    elif how == "version":
        mutated = "002" + body
    else:
        mutated = token[:3] + body.swapcase()
        assume(mutated != token)
    assert refused(mutated)


@given(claims)
def test_other_secrets_and_ivs_are_refused(c: dict[str, object]) -> None:
    assert refused(build(AID, "fedcba9876543210", uid=c["uid"], now_ms=NOW))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def dev_and_token(gateway: Gateway) -> tuple[str, str]:
    dev = gateway.new_dev()
    return dev.dev_id, gateway.dev_authorization(dev).partition(".")[2]


@given(st.data())
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_mutated_developer_tokens_answer_606000000(
    gateway: Gateway, dev_and_token: tuple[str, str], data: st.DataObject
) -> None:
    dev_id, token = dev_and_token
    raw = bytearray(sealed(token))
    how = data.draw(st.sampled_from(["flip", "truncate", "garbage"]))
    if how == "flip":
        bit = data.draw(st.integers(0, len(raw) * 8 - 1))
        raw[bit // 8] ^= 1 << (bit % 8)
        mutated = seal(bytes(raw))
    elif how == "truncate":
        mutated = token[: data.draw(st.integers(0, len(token) - 1))]
    else:
        # anything a header can carry
        mutated = data.draw(
            st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=300)
        )
    reply = gateway.http.get(
        f"{gateway.url}/access/token", headers={"Authorization": f"{dev_id}.{mutated}"}
    )
    assert reply.status_code == 200
    # refused: as a failure, or (past the developer's failure limit) as busy
    assert reply.json()["code"] in (606000000, 606000002, 606000006), reply.text
