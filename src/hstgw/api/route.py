"""What a route is: its declaration, the call its endpoint gets, the reply it may give.

Shared by the dispatcher (``http.py``), the wrappers around endpoints (``wrappers.py``)
and the route modules; ``hstgw.api.http`` re-exports these names.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

__all__ = [
    "JSON_TYPE",
    "Authenticator",
    "Call",
    "Endpoint",
    "Receive",
    "Response",
    "Route",
    "Scope",
    "Send",
]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

JSON_TYPE = b"application/json;charset=UTF-8"


@dataclass(slots=True)
class Response:
    """A response sent as it is (documents, health), outside the envelope."""

    body: bytes
    content_type: bytes = JSON_TYPE
    status: int = 200
    code: int = 0  # the envelope's code, when the body is one (for logs and metrics)


@dataclass(slots=True)
class Call:
    """What an endpoint gets: the parsed request, and the caller."""

    headers: Mapping[str, str]
    query: Any = None
    body: Any = None
    dev_id: str = ""  # with auth "access"
    node_id: str = ""  # with auth "node"
    address: str = ""  # the client's address (the proxy's forwarded one, if trusted)


Endpoint = Callable[[Call], Awaitable[Any]]
# The Authorization header -> the caller (a dev_id, a node_id); raises if nobody.
Authenticator = Callable[[str | None], Awaitable[str]]


@dataclass(slots=True)
class Route:
    method: str
    path: str
    endpoint: Endpoint
    summary: str
    tag: str
    # Who may call: "access" (a developer's access_token), "node" (a node key), None (anyone).
    auth: str | None = "access"
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    # The model of ``result``; None: the envelope carries no result.
    result: type[BaseModel] | None = None
    # The endpoint returns a ``Response``, not a result for the envelope ...
    raw: bool = False
    # ... of this media type (for the OpenAPI document).
    media_type: str = "application/json"
    description: str = ""
    # Readable by a page of any origin (a public call without credentials, which a
    # browser terminal makes before it connects: docs/js-sdk.md).
    cors: bool = False
