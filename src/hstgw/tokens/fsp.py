"""The platform token, version 001 (design 3.1).

``"001" + base64(AES-128-CBC(key=secret, iv=00..0f, JSON padded with spaces))``.

``decode`` does the strict structural, cryptographic and JSON checks; ``verify``
adds the claim checks a server makes (who, when). Every failure raises
``TokenError`` whose ``reason`` is for the log only: callers answer all
failures the same way so that a probe learns nothing about which check failed.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = [
    "DEFAULT_MAX_AGE_S",
    "FUTURE_SKEW_S",
    "VERSION",
    "Claims",
    "TokenError",
    "build",
    "decode",
    "decrypt",
    "verify",
]

VERSION = "001"
DEFAULT_MAX_AGE_S = 24 * 3600
FUTURE_SKEW_S = 5 * 60
_IV = bytes(range(16))
_BLOCK = 16
_WHITESPACE = str.maketrans("", "", " \t\r\n\f\v")
# The builders write the string "null" for a group or user they were not given.
_UNSET = "null"


class TokenError(Exception):
    """A token was refused; ``reason`` says why, for the log only."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class Claims:
    aid: str
    gid: str | None
    uid: str | None
    ts: int
    r: int | None
    et: int | None
    # Our optional claim (docs/tokens.md): the company the terminal may log in to.
    cid: str | None = None

    def valid_until_ms(self, max_age_s: int) -> int:
        """When the token stops being valid: ``max_age_s`` after ``ts``, or ``et`` if sooner."""
        until = self.ts + max_age_s * 1000
        return min(until, self.et * 1000) if self.et is not None else until

    @property
    def group_id(self) -> str | None:
        return None if self.gid in (None, _UNSET) else self.gid

    @property
    def user_id(self) -> str | None:
        return None if self.uid in (None, _UNSET) else self.uid


def _key(secret: str) -> bytes:
    key = secret.encode("utf-8")
    if len(key) != _BLOCK:
        raise TokenError(f"secret is {len(key)} bytes, not 16")
    return key


def build(
    aid: str,
    secret: str,
    *,
    gid: str | None = None,
    uid: str | None = None,
    expire: int | None = None,
    now_ms: int | None = None,
    rand: int | None = None,
    cid: str | None = None,
) -> str:
    """Build a 001 token as the platform's TokenGenerator SDKs do.

    ``expire`` is an absolute epoch time in seconds (``et``); ``None`` or 0 omits it.
    ``cid`` (ours, optional) binds a terminal token to a company_id.
    """
    key = _key(secret)
    claims: dict[str, Any] = {
        "aid": aid,
        "gid": _UNSET if gid is None else gid,
        "uid": _UNSET if uid is None else uid,
    }
    if expire:
        claims["et"] = int(expire)
    claims["ts"] = int(time.time() * 1000) if now_ms is None else now_ms
    claims["r"] = secrets.randbelow(2**31) if rand is None else rand
    if cid is not None:
        claims["cid"] = cid
    plain = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    plain += b" " * (-len(plain) % _BLOCK)
    encryptor = Cipher(algorithms.AES(key), modes.CBC(_IV)).encryptor()
    sealed = encryptor.update(plain) + encryptor.finalize()
    return VERSION + base64.b64encode(sealed).decode("ascii")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _int_claim(claims: dict[str, Any], name: str, required: bool) -> int | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    if type(value) is not int:
        raise TokenError(f"claim {name} is not an integer")
    return value


def _str_claim(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is not None and type(value) is not str:
        raise TokenError(f"claim {name} is not a string")
    return value


def decrypt(token: str, secret: str) -> str:
    """The JSON plaintext of ``token``, its space padding removed; no JSON checks."""
    key = _key(secret)
    if not isinstance(token, str):
        raise TokenError("token is not a string")
    compact = token.translate(_WHITESPACE)  # Android builders wrap at 76 columns
    if not compact.startswith(VERSION):
        raise TokenError("unknown version prefix")
    encoded = compact[len(VERSION) :]
    try:
        sealed = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise TokenError(f"bad base64: {exc}") from None
    # Only the canonical encoding: other strings that decode to the same bytes (unused
    # bits set in the last character) would be second spellings of one token.
    if base64.b64encode(sealed).decode("ascii") != encoded:
        raise TokenError("non-canonical base64")
    if not sealed or len(sealed) % _BLOCK:
        raise TokenError(f"ciphertext length {len(sealed)} is not a positive multiple of 16")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(_IV)).decryptor()
    plain = decryptor.update(sealed) + decryptor.finalize()
    try:
        return plain.decode("utf-8").rstrip(" ")
    except UnicodeDecodeError as exc:
        raise TokenError(f"plaintext is not UTF-8: {exc}") from None


def decode(token: str, secret: str) -> Claims:
    """Decrypt and parse ``token`` with ``secret``; no time or identity checks."""
    text = decrypt(token, secret)
    try:
        parsed = json.loads(
            text,
            parse_constant=_reject_constant,
            object_pairs_hook=_no_duplicate_keys,
        )
    except ValueError as exc:
        raise TokenError(f"plaintext is not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise TokenError("plaintext is not a JSON object")
    aid = _str_claim(parsed, "aid")
    if not aid:
        raise TokenError("claim aid missing")
    ts = _int_claim(parsed, "ts", required=True)
    assert ts is not None
    return Claims(
        aid=aid,
        gid=_str_claim(parsed, "gid"),
        uid=_str_claim(parsed, "uid"),
        ts=ts,
        r=_int_claim(parsed, "r", required=False),
        et=_int_claim(parsed, "et", required=False) or None,
        cid=_str_claim(parsed, "cid"),
    )


def verify(
    token: str,
    secret: str,
    *,
    aid: str,
    now_ms: int | None = None,
    max_age_s: int = DEFAULT_MAX_AGE_S,
    future_skew_s: int = FUTURE_SKEW_S,
) -> Claims:
    """Decode ``token`` and check it names ``aid`` and is valid at ``now_ms``.

    A token is valid for ``max_age_s`` after its build time ``ts``, and until its
    ``et`` if that is sooner: an ``et`` cannot make a token live longer, and one that
    lies more than ``max_age_s`` ahead is refused (a builder's mistake, or a token
    made to outlive the limit). A ``ts`` too far in the future is refused.
    """
    claims = decode(token, secret)
    if not secrets.compare_digest(claims.aid.encode(), aid.encode()):
        raise TokenError("claim aid does not match the claimed id")
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if claims.ts > now + future_skew_s * 1000:
        raise TokenError("ts is in the future")
    if now - claims.ts > max_age_s * 1000:
        raise TokenError("ts is older than the maximum token age")
    if claims.et is not None:
        if claims.et * 1000 < now:
            raise TokenError("et is in the past")
        if claims.et * 1000 > now + max_age_s * 1000:
            raise TokenError("et is further ahead than the maximum token age")
    return claims
