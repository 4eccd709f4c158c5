"""The console's HTTP: a request read from ASGI, a reply written back, and the headers
every console reply carries (the Content-Security-Policy among them).

The REST API's layer (``hstgw.api.http``) speaks JSON envelopes; pages need forms,
cookies and redirects, so the console has this small layer of its own, in the same
plain-ASGI way (no framework, docs/console.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

from hstgw.api.route import Receive, Scope, Send
from hstgw.api.wrappers import read_body
from hstgw.connections import TrustedProxies

__all__ = [
    "CSP",
    "HTML_TYPE",
    "SECURITY_HEADERS",
    "Reply",
    "Request",
    "query_of",
    "read_request",
    "send_reply",
]

HTML_TYPE = "text/html; charset=utf-8"
# Scripts and styles from the console's own files only: no inline script, no on*
# handler, no style attribute (htmx's own style element is turned off in base.html).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)
_MAX_FORM = 64 * 1024


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    cookies: dict[str, str]
    headers: Mapping[str, str]
    address: str
    https: bool  # the browser's connection (a trusted proxy's X-Forwarded-Proto counts)

    def arg(self, name: str, default: str = "") -> str:
        return self.query.get(name, default)

    def page(self) -> int:
        """The ``page`` asked for (from 1); anything else: the first."""
        text = self.query.get("page", "1")
        return int(text) if text.isdigit() and 0 < len(text) < 7 and int(text) > 0 else 1


@dataclass(slots=True)
class Reply:
    body: bytes = b""
    status: int = 200
    content_type: str = HTML_TYPE
    headers: list[tuple[str, str]] = field(default_factory=list)
    cache: str = "no-store"  # pages may hold secrets: never kept

    @classmethod
    def redirect(cls, location: str, **params: str) -> Reply:
        query = urlencode({k: v for k, v in params.items() if v})
        return cls(status=303, headers=[("location", f"{location}?{query}" if query else location)])

    def cookie(self, name: str, value: str, request: Request, max_age: int | None = None) -> None:
        """A cookie of the console's path, never readable by scripts, never sent from
        another site; Secure when the browser came over HTTPS."""
        parts = [f"{name}={value}", "Path=/console", "HttpOnly", "SameSite=Strict"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if request.https:
            parts.append("Secure")
        self.headers.append(("set-cookie", "; ".join(parts)))


async def read_request(
    scope: Scope, receive: Receive, proxies: TrustedProxies, address: str
) -> Request:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
    form: dict[str, str] = {}
    if scope["method"] == "POST":
        raw = await read_body(receive, headers, _MAX_FORM)
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    cookies: dict[str, str] = {}
    if "cookie" in headers:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(headers["cookie"])
        except Exception:  # a malformed Cookie header: as if none were sent
            jar = SimpleCookie()
        cookies = {k: m.value for k, m in jar.items()}
    peer = (scope.get("client") or ("",))[0]
    https = scope.get("scheme") == "https" or (
        proxies.trusts(peer) and headers.get("x-forwarded-proto", "").lower() == "https"
    )
    return Request(scope["method"], scope["path"], query, form, cookies, headers, address, https)


async def send_reply(send: Send, reply: Reply, head_only: bool = False) -> None:
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", reply.content_type.encode()),
        (b"content-length", str(len(reply.body)).encode()),
        (b"cache-control", reply.cache.encode()),
        *SECURITY_HEADERS,
        *((k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers),
    ]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head_only else reply.body})


def query_of(params: Mapping[str, Any]) -> str:
    """``params`` without the empty ones, as a query string."""
    return urlencode({k: v for k, v in params.items() if v not in (None, "")})
