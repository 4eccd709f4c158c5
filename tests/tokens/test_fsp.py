"""The 001 codec against the independent vectors, and the server's claim checks."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from hstgw.tokens import fsp

# The project's shared vectors, beside the checkout; a copy travels with the tests so
# that a clone anywhere can run them (a test below keeps the two identical).
SHARED = Path(__file__).parents[2] / ".." / "shared" / "vectors" / "fsp_token_v001.json"
COPY = Path(__file__).parent / "vectors" / "fsp_token_v001.json"
VECTORS = json.loads((SHARED if SHARED.exists() else COPY).read_text())
NOW = 1764300000000  # the vectors' build time, ms


def seal(plaintext: bytes, secret: str) -> str:
    """A token around arbitrary plaintext (padded with spaces), to test the parser."""
    plaintext += b" " * (-len(plaintext) % 16)
    enc = Cipher(algorithms.AES(secret.encode()), modes.CBC(bytes(range(16)))).encryptor()
    return "001" + base64.b64encode(enc.update(plaintext) + enc.finalize()).decode()


@pytest.mark.parametrize("vector", VECTORS["valid"], ids=lambda v: v["description"])
def test_valid_vectors_decrypt_to_their_exact_plaintext(vector: dict[str, Any]) -> None:
    for form in ("token", "token_android_default_base64"):
        assert fsp.decrypt(vector[form], vector["secret"]) == vector["plaintext"]


@pytest.mark.parametrize("vector", VECTORS["valid"], ids=lambda v: v["description"])
def test_valid_vectors_decode_to_their_claims(vector: dict[str, Any]) -> None:
    expected = json.loads(vector["plaintext"])
    for form in ("token", "token_android_default_base64"):
        claims = fsp.decode(vector[form], vector["secret"])
        assert claims.aid == vector["aid"] == expected["aid"]
        assert (claims.gid, claims.uid) == (expected["gid"], expected["uid"])
        assert (claims.ts, claims.r, claims.et) == (
            expected["ts"],
            expected["r"],
            expected.get("et"),
        )


@pytest.mark.parametrize("vector", VECTORS["valid"], ids=lambda v: v["description"])
def test_build_reproduces_the_vector_byte_for_byte(vector: dict[str, Any]) -> None:
    p = json.loads(vector["plaintext"])
    token = fsp.build(
        p["aid"],
        vector["secret"],
        gid=p["gid"],
        uid=p["uid"],
        expire=p.get("et"),
        now_ms=p["ts"],
        rand=p["r"],
    )
    assert token == vector["token"]


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=lambda v: v["description"])
def test_invalid_vectors_are_refused(vector: dict[str, Any]) -> None:
    with pytest.raises(fsp.TokenError):
        fsp.decode(vector["token"], vector["secret"])


@pytest.mark.skipif(not SHARED.exists(), reason="no shared/ beside this checkout")
def test_the_copy_of_the_vectors_is_the_shared_file() -> None:
    assert json.loads(COPY.read_text()) == json.loads(SHARED.read_text())


def test_unset_group_and_user_read_as_none() -> None:
    claims = fsp.decode(VECTORS["valid"][0]["token"], VECTORS["valid"][0]["secret"])
    assert claims.gid == "null" and claims.group_id is None and claims.user_id is None


@pytest.mark.parametrize("secret", ["123456789012345", "12345678901234567", "中234567890123456"])
def test_secrets_that_are_not_16_bytes_cannot_build_or_verify(secret: str) -> None:
    with pytest.raises(fsp.TokenError, match="not 16"):
        fsp.build("aid", secret)
    with pytest.raises(fsp.TokenError, match="not 16"):
        fsp.decode(VECTORS["valid"][0]["token"], secret)


@pytest.mark.parametrize(
    ("plaintext", "reason"),
    [
        (b'{"aid":"a","ts":1,"ts":2}', "duplicate"),
        (b'{"aid":"a","ts":NaN}', "not JSON"),
        (b'{"aid":"a","ts":"1"}', "ts is not an integer"),
        (b'{"aid":"a","ts":true}', "ts is not an integer"),
        (b'{"aid":"a","ts":1.5}', "ts is not an integer"),
        (b'{"aid":"a"}', "ts is not an integer"),
        (b'{"ts":1}', "aid missing"),
        (b'{"aid":7,"ts":1}', "aid is not a string"),
        (b'{"aid":"a","ts":1,"uid":5}', "uid is not a string"),
        (b'["aid"]', "not a JSON object"),
        (b'{"aid":"a","ts":1} x', "not JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
)
def test_plaintext_must_be_strict_json_with_typed_claims(plaintext: bytes, reason: str) -> None:
    with pytest.raises(fsp.TokenError, match=reason):
        fsp.decode(seal(plaintext, "1234567890123456"), "1234567890123456")


def test_whitespace_anywhere_is_ignored_but_nothing_else() -> None:
    token = fsp.build("aid", "1234567890123456", now_ms=NOW)
    spaced = " ".join([token[:10], token[10:40], "\n", token[40:], "\r\n"])
    assert fsp.decode(spaced, "1234567890123456").aid == "aid"
    with pytest.raises(fsp.TokenError):
        fsp.decode(token[:10] + "." + token[10:], "1234567890123456")


def test_build_pads_utf8_by_bytes_and_round_trips_non_ascii() -> None:
    token = fsp.build("应用", "1234567890123456", uid="用户", gid="组", now_ms=NOW, rand=1)
    claims = fsp.decode(token, "1234567890123456")
    assert (claims.aid, claims.uid, claims.gid) == ("应用", "用户", "组")


class TestVerify:
    secret = "1234567890123456"

    def token(self, **kw: Any) -> str:
        return fsp.build("dev", self.secret, now_ms=kw.pop("ts", NOW), **kw)

    def test_accepts_a_fresh_token_for_its_id(self) -> None:
        assert fsp.verify(self.token(), self.secret, aid="dev", now_ms=NOW + 1000).aid == "dev"

    def test_refuses_another_id(self) -> None:
        with pytest.raises(fsp.TokenError, match="aid"):
            fsp.verify(self.token(), self.secret, aid="other", now_ms=NOW)

    def test_expiry_in_the_past_is_refused(self) -> None:
        expire = NOW // 1000 + 60
        token = self.token(expire=expire)
        assert fsp.verify(token, self.secret, aid="dev", now_ms=expire * 1000).et == expire
        with pytest.raises(fsp.TokenError, match="et is in the past"):
            fsp.verify(token, self.secret, aid="dev", now_ms=expire * 1000 + 1)

    def test_an_expiry_does_not_outlive_the_maximum_age(self) -> None:
        # issue 10, item 12: et used to make a token live as long as its builder wished
        day = 86400 * 1000
        long_lived = self.token(expire=NOW // 1000 + 3 * 86400)
        with pytest.raises(fsp.TokenError, match="et is further ahead"):
            fsp.verify(long_lived, self.secret, aid="dev", now_ms=NOW)
        with pytest.raises(fsp.TokenError, match="older"):  # ts past the age, et or not
            fsp.verify(long_lived, self.secret, aid="dev", now_ms=NOW + 2 * day)
        at_the_limit = self.token(expire=NOW // 1000 + 86400)
        claims = fsp.verify(at_the_limit, self.secret, aid="dev", now_ms=NOW)
        assert claims.valid_until_ms(86400) == NOW + day
        fsp.verify(at_the_limit, self.secret, aid="dev", now_ms=NOW + day)
        with pytest.raises(fsp.TokenError, match="et is further ahead"):
            fsp.verify(at_the_limit, self.secret, aid="dev", now_ms=NOW, max_age_s=3600)
        short = self.token(expire=NOW // 1000 + 60)
        assert fsp.decode(short, self.secret).valid_until_ms(86400) == NOW + 60_000

    def test_an_optional_company_claim(self) -> None:
        token = fsp.build("app", self.secret, uid="u", cid="acme", now_ms=NOW)
        assert fsp.verify(token, self.secret, aid="app", now_ms=NOW).cid == "acme"
        assert fsp.decode(self.token(), self.secret).cid is None

    def test_without_expiry_the_age_limit_applies(self) -> None:
        token = self.token()
        fsp.verify(token, self.secret, aid="dev", now_ms=NOW + 86400 * 1000)
        with pytest.raises(fsp.TokenError, match="older"):
            fsp.verify(token, self.secret, aid="dev", now_ms=NOW + 86400 * 1000 + 1)
        with pytest.raises(fsp.TokenError, match="older"):
            fsp.verify(token, self.secret, aid="dev", now_ms=NOW + 61_000, max_age_s=60)

    def test_expiry_zero_means_none(self) -> None:
        token = seal(b'{"aid":"dev","et":0,"ts":%d,"r":1}' % NOW, self.secret)
        assert fsp.verify(token, self.secret, aid="dev", now_ms=NOW).et is None

    def test_build_time_in_the_future_beyond_skew_is_refused(self) -> None:
        fsp.verify(self.token(ts=NOW + 300_000), self.secret, aid="dev", now_ms=NOW)
        with pytest.raises(fsp.TokenError, match="future"):
            fsp.verify(self.token(ts=NOW + 300_001), self.secret, aid="dev", now_ms=NOW)
