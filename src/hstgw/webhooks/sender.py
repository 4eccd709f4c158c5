"""One attempt: POST a signed body to an endpoint, within a deadline.

Redirects are not followed (a redirect could point anywhere, past the address check);
the response is read up to ``MAX_RESPONSE_BYTES`` and dropped (only its status
matters). The connection goes to an address ``Targets`` checked at that moment; the
request keeps the URL's host in ``Host`` and, for https, in the TLS server name, so the
certificate is verified for the host, not the address. The HTTP client is
``http1.Http1`` (why not httpx: there).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass

from hstgw.webhooks.http1 import ConnectError, Http1, ResponseError
from hstgw.webhooks.targets import TargetRefused, Targets, port_of, split

__all__ = ["MAX_RESPONSE_BYTES", "Outcome", "Sender"]

MAX_RESPONSE_BYTES = 64 * 1024
_ERROR_CHARS = 300
_MAX_ADDRESSES = 4  # tried in turn when one refuses the connection


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool  # a 2xx response
    status: int | None  # the response's status; None: no response
    latency_ms: int
    error: str  # why it failed ("" when ok)


class Sender:
    def __init__(self, targets: Targets, timeout_s: float) -> None:
        self._targets = targets
        self._timeout_s = timeout_s
        # (no proxy from the environment: it would skip the address check; no redirects)
        self._http = Http1()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> Outcome:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout_s):
                status = await self._post(url, body, headers)
        except TargetRefused as exc:
            return self._outcome(started, None, f"refused: {exc}")
        except TimeoutError:
            return self._outcome(started, None, f"timed out after {self._timeout_s:g} s")
        except (ResponseError, OSError) as exc:
            return self._outcome(started, None, f"{type(exc).__name__}: {exc}")
        if 200 <= status < 300:
            return Outcome(True, status, _ms(started), "")
        return self._outcome(started, status, f"HTTP {status}")

    async def _post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """The status from the first of the host's (checked) addresses that accepts a
        connection, in the resolver's order."""
        parts = split(url)
        host = parts.hostname or ""
        port = port_of(parts)
        addresses = (await self._targets.addresses(host, port))[:_MAX_ADDRESSES]
        sent = {**headers, "Host": parts.netloc.rpartition("@")[2]}
        tls_host = None
        if parts.scheme == "https":
            tls_host = host
            sent["Connection"] = "close"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        for i, address in enumerate(addresses):
            try:
                return await self._http.post(
                    address.split("%", 1)[0], port, tls_host, target, sent, body,
                    MAX_RESPONSE_BYTES,
                )  # fmt: skip
            except ConnectError:
                if i == len(addresses) - 1:
                    raise
        raise AssertionError("addresses() returns at least one")

    @staticmethod
    def _outcome(started: float, status: int | None, error: str) -> Outcome:
        return Outcome(False, status, _ms(started), error[:_ERROR_CHARS])


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
