"""The console's static files (read once, from the package) and its number filters."""

from __future__ import annotations

import hashlib
from datetime import datetime
from importlib import resources
from zoneinfo import ZoneInfo

import orjson

from hstgw.billing.money import micro_text
from hstgw.console.web import Reply

__all__ = ["load", "serve", "when", "yuan"]

_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}


def load() -> dict[str, tuple[bytes, str, str]]:
    """name -> (content, media type, ETag) of every file in ``static/``."""
    files: dict[str, tuple[bytes, str, str]] = {}
    for entry in resources.files("hstgw.console").joinpath("static").iterdir():
        suffix = entry.name[entry.name.rfind(".") :]
        if entry.is_file() and suffix in _TYPES:
            body = entry.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            files[entry.name] = (body, _TYPES[suffix], etag)
    return files


def serve(files: dict[str, tuple[bytes, str, str]], name: str) -> Reply:
    found = files.get(name)
    if found is None:
        return Reply(b"not found", 404, "text/plain; charset=utf-8")
    body, media_type, etag = found
    return Reply(body, 200, media_type, [("etag", etag)], cache="public, max-age=3600")


def yuan(value: object) -> str:
    """Money as the API writes it (6 decimal places): from millionths or the API's
    JSON fragment."""
    if isinstance(value, orjson.Fragment):
        return orjson.dumps(value).decode()
    if isinstance(value, int):
        return micro_text(value)
    return str(value)


def when(ms: int, zone: ZoneInfo) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, zone).strftime("%Y-%m-%d %H:%M:%S")
