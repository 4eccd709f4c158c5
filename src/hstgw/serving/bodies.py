"""Request bodies read by hand, after httptools stopped at an ignored ``Upgrade`` offer.

httptools hands a request that offers ``Upgrade`` over at its headers (where uvicorn
ran the app with an empty body: uvicorn#2722); ``serving/connection.py`` ignores the
offer, as HTTP/1.1 allows, and reads the body with one of these: by its
Content-Length, or chunked, strictly.
"""

from __future__ import annotations

__all__ = ["BadCoding", "BadLength", "ChunkedBody", "RawBody", "SizedBody", "upgrade_body"]


class BadCoding(ValueError):
    """A Transfer-Encoding that cannot be read (a 400)."""


class BadLength(ValueError):
    """A Content-Length that is not a number, or larger than the body may be."""


def upgrade_body(headers: list[tuple[bytes, bytes]], max_body: int) -> RawBody | None:
    """The reader of the body of a request whose ``Upgrade`` offer was ignored; None
    when it has no body."""
    codings = [v for k, v in headers if k == b"transfer-encoding"]
    if codings:
        # Only "chunked", exactly, once: a coding we cannot undo, or one httptools did
        # not check (it skips the body of an upgrade), would let the body be read as
        # the next request.
        if len(codings) != 1 or codings[0].strip().lower() != b"chunked":
            raise BadCoding("transfer-encoding: only chunked is supported")
        return ChunkedBody(max_body)
    try:
        length = int(dict(headers).get(b"content-length", b"0"))
    except ValueError:
        raise BadLength("content-length: not a number") from None
    if not 0 <= length <= max_body:
        raise BadLength(f"content-length: more than {max_body}")
    return SizedBody(length) if length else None


class RawBody:
    """A request body read after httptools stopped: ``feed`` -> (its bytes, what follows)."""

    done = False

    def feed(self, data: bytes) -> tuple[bytes, bytes]:
        raise NotImplementedError


class SizedBody(RawBody):
    def __init__(self, length: int) -> None:
        self.left = length

    def feed(self, data: bytes) -> tuple[bytes, bytes]:
        take = data[: self.left]
        self.left -= len(take)
        self.done = not self.left
        return take, data[len(take) :]


class ChunkedBody(RawBody):
    """``Transfer-Encoding: chunked`` (RFC 9112 7.1), strictly; ValueError when malformed."""

    _LINE_MAX = 4096

    def __init__(self, max_body: int) -> None:
        self.max_body = max_body
        self.size = 0  # body bytes so far
        self.left = 0  # of the current chunk
        self.state = "size"  # size -> data -> crlf -> size ... -> trailer -> done
        self.line = bytearray()

    def feed(self, data: bytes) -> tuple[bytes, bytes]:
        out = bytearray()
        i = 0
        while i < len(data) and not self.done:
            if self.state == "data":
                take = data[i : i + self.left]
                out += take
                i += len(take)
                self.left -= len(take)
                if not self.left:
                    self.state = "crlf"
                continue
            end = data.find(b"\n", i)
            if end < 0:
                self._line(data[i:])
                i = len(data)
                continue
            self._line(data[i : end + 1])
            i = end + 1
            line, self.line = bytes(self.line), bytearray()
            self._end_of_line(line)
        return bytes(out), data[i:]

    def _line(self, part: bytes) -> None:
        self.line += part
        if len(self.line) > self._LINE_MAX:
            raise ValueError("A chunk line is too long.")

    def _end_of_line(self, line: bytes) -> None:
        if not line.endswith(b"\r\n"):
            raise ValueError("Invalid chunked body.")
        line = line[:-2]
        if self.state == "crlf":
            if line:
                raise ValueError("Invalid chunked body.")
            self.state = "size"
        elif self.state == "size":
            size_text = line.split(b";", 1)[0]
            if not size_text or size_text.strip(b"0123456789abcdefABCDEF"):
                raise ValueError("Invalid chunk size.")
            size = int(size_text, 16)
            self.size += size
            if self.size > self.max_body:
                raise ValueError("Request body too large.")
            if size:
                self.left = size
                self.state = "data"
            else:
                self.state = "trailer"
        elif not line:  # the empty line that ends the trailer section
            self.done = True
