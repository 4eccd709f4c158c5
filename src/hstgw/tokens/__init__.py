"""Tokens: the platform's version-001 codec and the gateway's access tokens."""

from hstgw.tokens.fsp import Claims, TokenError, build, decode, decrypt, verify

__all__ = ["Claims", "TokenError", "build", "decode", "decrypt", "verify"]
