"""The raw ASGI baseline of bench/rest.py: one fixed JSON body, nothing else.

``GET /bench/raw`` answers the body that ``PUT /bench/raw`` set (the very bytes the
gateway's ``GET /v1/app`` answers). The same callable is served twice: under granian,
on its own (the anchor the target is set against), and inside the gateway's own
process (bench/_rest_server.py), where it measures the gateway's server.
"""

from __future__ import annotations

from typing import Any

_state = {"body": b"{}"}


async def raw(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["method"] == "PUT":
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        _state["body"] = b"".join(chunks)
    body = _state["body"]
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json;charset=UTF-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """granian's target: every path is the raw route (lifespan: nothing to do)."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
    elif scope["type"] == "http":
        await raw(scope, receive, send)
