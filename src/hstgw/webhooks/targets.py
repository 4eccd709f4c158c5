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


# NAT64's well-known prefix: 64:ff9b::7f00:1 reaches 127.0.0.1 through a translator.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _embedded(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 one carries to (mapped, 6to4, Teredo's server and
    client, NAT64): each must be public too."""
    found = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [v4 for v4 in found if v4 is not None]


def is_public(ip: IpAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        # 2002:7f00:1:: is tunnelled to 127.0.0.1, ::ffff:127.0.0.1 is loopback
        if not all(is_public(v4) for v4 in _embedded(ip)):
            return False
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
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
    if not url.isascii():
        # What goes on the request line and in Host must be ASCII: the receiver's
        # own spelling is asked for rather than guessed at.
        raise TargetRefused(
            "must be ASCII: percent-encode the path and query, an international "
            "host name in its xn-- form"
        )
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
