"""Who may hold a connection: caps per address and in all, trusted proxies, descriptors.

Every listener (REST, terminals, the event gateway) admits each accepted socket
through a ``ConnectionGate``: one address may hold only so many connections, and a
port only so many in all, so that one client cannot use up the process's descriptors. What
the caps leave of the open-files limit is a reserve for the store, Redis, logs and
the terminals already logged in (docs/security.md).

``TrustedProxies`` decides which address a connection speaks for: its peer's, unless
the peer is a configured proxy, whose ``X-Forwarded-For`` then names the client.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import resource
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from websockets.asyncio.server import ServerConnection

if TYPE_CHECKING:
    from hstgw.settings import Settings

__all__ = [
    "ConnectionCaps",
    "ConnectionGate",
    "Connections",
    "GatedConnection",
    "TrustedProxies",
    "address_key",
    "client_address",
    "connection_caps",
    "gated_connection",
]

log = logging.getLogger("hstgw")

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# An unlimited hard limit is raised to this many open files, not beyond.
_NOFILE_CEILING = 1 << 20


def address_key(address: str) -> str:
    """The unit a per-address cap counts: an IPv4 address, or an IPv6 /64.

    One IPv6 subscriber is routinely given a whole /64 (2**64 addresses), so counting
    IPv6 addresses one by one would let one client past every per-address cap. An
    IPv4-mapped IPv6 address counts as its IPv4 address. Anything else (a Unix socket's
    empty address) counts as itself.
    """
    if ":" not in address:  # IPv4 (or no address): as it is, without parsing (hot path)
        return address
    try:
        ip = ipaddress.IPv6Address(address)
    except ValueError:
        return address
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))


class TrustedProxies:
    """The peers whose forwarded headers are believed (none by default)."""

    __slots__ = ("_networks",)

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self._networks: tuple[_Network, ...] = tuple(
            ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip()
        )

    def __bool__(self) -> bool:
        return bool(self._networks)

    def trusts(self, address: str) -> bool:
        if not self._networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self._networks)

    def client_address(self, peer: str, forwarded_for: str | None) -> str:
        """The client a request speaks for.

        From a trusted peer, the right-most ``X-Forwarded-For`` entry that is not itself
        a trusted proxy (entries left of it could have been written by the client);
        from any other peer, the peer.
        """
        if not forwarded_for or not self.trusts(peer):
            return peer
        for entry in reversed(forwarded_for.split(",")):
            hop = entry.strip()
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                return peer  # a malformed chain says nothing we can believe
            if not self.trusts(hop):
                return hop
        return peer


class ConnectionGate:
    """Counts a listener's open connections, per address and in all."""

    __slots__ = ("_per_address", "_total", "exempt", "open", "per_address", "refused", "total")

    def __init__(self, total: int, per_address: int, exempt: TrustedProxies | None = None) -> None:
        self.total = total
        self.per_address = per_address
        self.exempt = exempt or TrustedProxies()  # proxies: bounded by the total only
        self._per_address: dict[str, int] = {}
        self._total = 0
        self.refused = 0  # refusals since start, for metrics and tests

    def admit(self, address: str) -> bool:
        """Take a place for a new connection from ``address``; False: close it at once."""
        key = address_key(address)
        held = self._per_address.get(key, 0)
        if self._total >= self.total or (
            held >= self.per_address and not self.exempt.trusts(address)
        ):
            self.refused += 1
            return False
        self._per_address[key] = held + 1
        self._total += 1
        return True

    def release(self, address: str) -> None:
        key = address_key(address)
        held = self._per_address.get(key, 0)
        if held <= 1:
            self._per_address.pop(key, None)
        else:
            self._per_address[key] = held - 1
        self._total -= 1

    def held(self, address: str) -> int:
        """The connections counted against ``address`` (its /64, for IPv6)."""
        return self._per_address.get(address_key(address), 0)

    @property
    def connections(self) -> int:
        return self._total


@dataclass(frozen=True, slots=True)
class ConnectionCaps:
    """The caps in force, after the open-files limit had its say."""

    http: int
    terminals: int
    open_files: int


def connection_caps(http: int, terminals: int, reserve: int) -> ConnectionCaps:
    """Raise the open-files limit as far as allowed; fit both caps under it with ``reserve``.

    A configured cap larger than what the limit leaves is lowered (and logged), so
    that the process always keeps ``reserve`` descriptors for what is not a client.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = _NOFILE_CEILING if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):  # not allowed here: live with the soft limit
            pass
    limit = _NOFILE_CEILING if soft == resource.RLIM_INFINITY else soft
    room = max(limit - reserve, 2)
    http_cap = min(http, max(room // 4, 1))
    terminal_cap = min(terminals, max(room - http_cap, 1))
    if (http_cap, terminal_cap) != (http, terminals):
        log.warning(
            "connection caps lowered to fit the open-files limit",
            extra={
                "open_files": limit,
                "reserve": reserve,
                "http_max_connections": http_cap,
                "terminal_max_connections": terminal_cap,
            },
        )
    return ConnectionCaps(http_cap, terminal_cap, limit)


@dataclass(frozen=True, slots=True)
class Connections:
    """The gates of both listeners and the proxies they trust: one per server."""

    proxies: TrustedProxies
    http: ConnectionGate
    terminals: ConnectionGate
    # The event gateway's (few: one or a handful per developer's backend).
    events: ConnectionGate = field(default_factory=lambda: ConnectionGate(10_000, 100))

    @classmethod
    def from_settings(cls, settings: Settings) -> Connections:
        caps = connection_caps(
            settings.http_max_connections, settings.terminal_max_connections, settings.fd_reserve
        )
        proxies = TrustedProxies(settings.trusted_proxies)
        return cls(
            proxies,
            ConnectionGate(caps.http, settings.http_max_connections_per_address, proxies),
            ConnectionGate(caps.terminals, settings.terminal_max_connections_per_address, proxies),
            ConnectionGate(
                min(settings.event_max_connections, caps.http),
                settings.event_max_connections_per_address,
                proxies,
            ),
        )


class GatedConnection(ServerConnection):
    """A connection that holds a place in the listener's gate while it is open."""

    gate: ConnectionGate
    _admitted = False  # (a flag, not the address: tens of thousands of these are held)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        # websockets keeps the writers waiting for a drain in a deque: ~760 bytes (a
        # 64-slot block) of every connection, nearly always empty. A list does the same
        # here (append, remove, iterate) in 56.
        self.drain_waiters = []  # type: ignore[assignment]
        self.recv_messages.frames.queue = _Frames()  # type: ignore[assignment]
        if self.gate.admit(_peer(transport)):
            self._admitted = True
        else:  # over a cap: closed before the handshake (which then fails quietly)
            cast(asyncio.Transport, transport).abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._admitted:
            self._admitted = False
            self.gate.release(_peer(self.transport))
        super().connection_lost(exc)


class _Frames(list[Any]):
    """websockets' queue of received frames as a list, for the same reason: it holds at
    most a few (``max_queue``), and a deque costs ~760 bytes even when empty."""

    __slots__ = ()

    def popleft(self) -> Any:
        return self.pop(0)

    def extendleft(self, items: Iterable[Any]) -> None:
        self[0:0] = list(items)[::-1]  # (as deque.extendleft: each item in turn at the front)


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")  # (kept by the transport once made)
    return str(peer[0]) if peer else ""


def client_address(conn: ServerConnection, proxies: TrustedProxies) -> str:
    """A WebSocket client's address (its failed logins are limited per address): the
    peer's, or the one a trusted proxy forwarded (HSTGW_TRUSTED_PROXIES)."""
    peer = conn.remote_address
    address = str(peer[0]) if isinstance(peer, tuple) and peer else ""
    if not proxies or conn.request is None:
        return address
    # (a header given twice reads as one list, as RFC 9110 allows)
    forwarded = ",".join(conn.request.headers.get_all("X-Forwarded-For"))
    return proxies.client_address(address, forwarded)


def gated_connection(name: str, gate: ConnectionGate | None) -> type[GatedConnection]:
    """A WebSocket listener's connection class (the terminal and event gateway
    listeners): each connection holds a place in ``gate`` while it is open. One class
    per listener, as the class carries the listener's gate."""
    return type(name, (GatedConnection,), {"gate": gate or ConnectionGate(1_000_000, 1_000_000)})
