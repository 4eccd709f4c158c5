"""Developers' and apps' secrets at rest: sealed with the master key (AES-256-GCM).

A secret is kept as ``v1:`` + base64(nonce || ciphertext+tag). The master key is
``HSTGW_SECRET_KEY`` (64 hex characters); the embedded default, when it is not set,
makes one and keeps it in the data directory (``hstgw.key``, readable by its owner
only). The secrets themselves are needed in clear (they are the AES keys of the
001 tokens), so they are opened when read, in memory only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "KEY_FILE",
    "SecretBox",
    "SecretBoxError",
    "derive_key",
    "load_or_make_key",
    "parse_key",
]

KEY_FILE = "hstgw.key"
_PREFIX = "v1:"
_AAD = b"hstgw secret v1"


class SecretBoxError(Exception):
    """A key that is not one, or a sealed secret this key cannot open."""


def parse_key(text: str) -> bytes:
    """A master key from its text: 64 hex characters (32 bytes)."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise SecretBoxError("the master key must be 64 hex characters") from None
    if len(key) != 32:
        raise SecretBoxError("the master key must be 64 hex characters")
    return key


def load_or_make_key(path: Path) -> bytes:
    """The key kept at ``path``, made (and kept, mode 0600) if there is none yet."""
    if path.exists():
        return parse_key(path.read_text(encoding="ascii"))
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key.hex() + "\n")
    return key


def derive_key(master: bytes, purpose: str) -> bytes:
    """A key of its own for ``purpose``, from the master key: the same on every node
    that shares the master key; telling nothing of it."""
    return hmac.new(master, b"hstgw " + purpose.encode(), hashlib.sha256).digest()


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, secret: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, secret.encode("utf-8"), _AAD)
        return _PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    @staticmethod
    def is_sealed(stored: str) -> bool:
        return stored.startswith(_PREFIX)

    def open(self, stored: str) -> str:
        if not self.is_sealed(stored):
            return stored  # written before secrets were sealed; sealed at the next start
        try:
            raw = base64.b64decode(stored[len(_PREFIX) :], validate=True)
            return self._aead.decrypt(raw[:12], raw[12:], _AAD).decode("utf-8")
        except (InvalidTag, binascii.Error, ValueError):
            raise SecretBoxError(
                "a stored secret cannot be opened with this HSTGW_SECRET_KEY "
                "(is it the key the data was written with?)"
            ) from None
