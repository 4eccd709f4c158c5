"""One attempt: POST a signed body to an endpoint, within a deadline.

Redirects are not followed (a redirect could point anywhere, past the address check);
the response is read up to ``MAX_RESPONSE_BYTES`` and dropped (only its status
matters). The connection goes to an address ``Targets`` checked at that moment; the
request keeps the URL's host in ``Host`` and, for https, in the TLS server name, so the
certificate is verified for the host, not the address.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

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
        self._http = httpx.AsyncClient(
            follow_redirects=False,
            timeout=timeout_s,
            trust_env=False,  # no proxy from the environment: it would skip the check
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> Outcome:
        started = time.perf_counter()
        status: int | None = None
        try:
            async with asyncio.timeout(self._timeout_s):
                response = await self._connect(url, body, headers)
                try:
                    status = response.status_code
                    read = 0
                    async for chunk in response.aiter_raw():
                        read += len(chunk)
                        if read >= MAX_RESPONSE_BYTES:
                            break
                finally:
                    await response.aclose()
        except TargetRefused as exc:
            return self._outcome(started, status, f"refused: {exc}")
        except TimeoutError:
            return self._outcome(started, status, f"timed out after {self._timeout_s:g} s")
        except httpx.HTTPError as exc:
            return self._outcome(started, status, f"{type(exc).__name__}: {exc}")
        except OSError as exc:
            return self._outcome(started, status, f"{type(exc).__name__}: {exc}")
        assert status is not None
        if 200 <= status < 300:
            return Outcome(True, status, _ms(started), "")
        return self._outcome(started, status, f"HTTP {status}")

    async def _connect(self, url: str, body: bytes, headers: Mapping[str, str]) -> httpx.Response:
        """The response from the first of the host's (checked) addresses that accepts
        a connection, in the resolver's order."""
        parts = split(url)
        host = parts.hostname or ""
        port = port_of(parts)
        addresses = (await self._targets.addresses(host, port))[:_MAX_ADDRESSES]
        sent = {**headers, "Host": parts.netloc.rpartition("@")[2]}
        extensions = {}
        if parts.scheme == "https":
            extensions["sni_hostname"] = host
            # one connection per request: a pooled one is keyed by the address alone,
            # and two hosts behind it must not share a TLS session
            sent["Connection"] = "close"
        for i, address in enumerate(addresses):
            pinned = httpx.URL(url).copy_with(host=address.split("%", 1)[0], port=port)
            request = self._http.build_request(
                "POST", pinned, content=body, headers=sent, extensions=extensions
            )
            try:
                return await self._http.send(request, stream=True)
            except httpx.ConnectError:
                if i == len(addresses) - 1:
                    raise
        raise AssertionError("addresses() returns at least one")

    @staticmethod
    def _outcome(started: float, status: int | None, error: str) -> Outcome:
        return Outcome(False, status, _ms(started), error[:_ERROR_CHARS])


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
