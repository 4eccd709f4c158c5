"""Which URLs a webhook may call (SSRF): public addresses only, unless the operator
allows private ones (``HSTGW_WEBHOOK_ALLOW_PRIVATE``).

A host is resolved and every address it resolves to is checked, at registration and
again before each attempt; the attempt then connects to an address that was checked
(``addresses``), so a name that resolves elsewhere a moment later (DNS rebinding)
changes nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import SplitResult, urlsplit

__all__ = ["MAX_URL_LENGTH", "Resolver", "TargetRefused", "Targets", "is_public"]

MAX_URL_LENGTH = 2048

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses it resolves to (as text)
Resolver = Callable[[str, int], Awaitable[list[str]]]


class TargetRefused(Exception):
    """A URL the gateway will not call; the message says why (for ``url: <why>``)."""


def is_public(ip: IpAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
        or not ip.is_global
    )


async def _resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def split(url: str) -> SplitResult:
    """The URL's parts, or TargetRefused naming what is wrong with it."""
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"must be at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("must start with http:// or https://")
    if not parts.hostname:
        raise TargetRefused("has no host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("must not carry credentials (user:password@)")
    if parts.fragment:
        raise TargetRefused("must not have a #fragment")
    if port == 0:
        raise TargetRefused("port must be 1..65535")
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):
        raise TargetRefused("must not contain spaces or control characters")
    return parts


def port_of(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


class Targets:
    def __init__(self, allow_private: bool, resolver: Resolver = _resolve) -> None:
        self.allow_private = allow_private
        self._resolve = resolver

    async def check_url(self, url: str) -> None:
        """Registration: the URL is well formed and its host resolves to allowed addresses."""
        parts = split(url)
        await self.addresses(parts.hostname or "", port_of(parts))

    async def addresses(self, host: str, port: int) -> list[str]:
        """Every address ``host`` resolves to, each one allowed; else TargetRefused."""
        try:
            literal: IpAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            found = [str(literal)]
        else:
            try:
                found = await self._resolve(host, port)
            except (OSError, UnicodeError) as exc:
                raise TargetRefused(f"host {host!r} does not resolve ({exc})") from None
            if not found:
                raise TargetRefused(f"host {host!r} does not resolve")
        if not self.allow_private:
            for text in found:
                if not is_public(ipaddress.ip_address(text.split("%", 1)[0])):
                    raise TargetRefused(
                        f"{host} is (or resolves to) {text}, a private, loopback, "
                        "link-local or otherwise non-public address"
                    )
        return found
