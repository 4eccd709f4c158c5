"""The webhook sender's HTTP/1.1 client against raw servers: each way a response may
end (Content-Length, chunked, close), 1xx first, keep-alive reuse, a connection the
peer closed while idle, and answers that are not HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from hstgw.webhooks.http1 import ConnectError, Http1, ResponseError
from hstgw.webhooks.sender import Sender
from hstgw.webhooks.targets import Targets

pytestmark = pytest.mark.anyio

Answer = Callable[[int], bytes | None]  # request number -> raw response (None: close)


class Raw:
    """Answers each request with ``answer(n)``; counts connections and requests."""

    def __init__(self, answer: Answer, close: bool = False) -> None:
        self.answer = answer
        self.close = close  # close the connection after each answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                self.requests.append(head + await reader.readexactly(length))
                raw = self.answer(len(self.requests))
                if raw is None:
                    break
                writer.write(raw)
                await writer.drain()
                if self.close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])


@pytest.fixture
async def raw() -> AsyncIterator[Callable[..., Raw]]:
    made: list[Raw] = []

    def make(answer: Answer, close: bool = False) -> Raw:
        r = Raw(answer, close)
        made.append(r)
        return r

    yield make
    for r in made:
        if r.server is not None:
            r.server.close()


async def start(r: Raw) -> Raw:
    r.server = await asyncio.start_server(r.handle, "127.0.0.1", 0)
    return r


async def post(http: Http1, r: Raw, body: bytes = b'{"a":1}') -> int:
    headers = {"Host": f"127.0.0.1:{r.port}", "Content-Type": "application/json"}
    return await http.post("127.0.0.1", r.port, None, "/hook?x=1", headers, body, 64 * 1024)


async def test_responses_of_every_framing_and_keep_alive(raw: Callable[..., Raw]) -> None:
    answers = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 202 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 503 Busy\r\nContent-Length: 2\r\n\r\nno",
    ]
    r = await start(raw(lambda n: answers[n - 1]))
    http = Http1()
    assert [await post(http, r) for _ in answers] == [200, 201, 202, 204, 503]
    assert r.connections == 1  # one kept-alive connection for all
    assert r.requests[0].startswith(b"POST /hook?x=1 HTTP/1.1\r\n")
    assert r.requests[0].endswith(b'Content-Length: 7\r\n\r\n{"a":1}')
    await http.aclose()


async def test_a_response_ended_by_close_or_too_long_is_not_reused(
    raw: Callable[..., Raw],
) -> None:
    big = b"x" * (64 * 1024 + 1)
    answers = [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(big) + big,
        b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    ]
    r = await start(raw(lambda n: answers[n - 1]))
    http = Http1()
    assert [await post(http, r) for _ in answers] == [200] * 4
    assert r.connections == 4
    await http.aclose()


async def test_a_connection_closed_while_idle_is_replaced(raw: Callable[..., Raw]) -> None:
    # the server answers once per connection, then closes it (as an idle timeout would)
    r = await start(raw(lambda n: b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
    http = Http1()
    assert await post(http, r) == 200
    for conns in http._idle.values():  # the peer closes the idle one behind our back
        for _, writer in conns:
            writer.transport.abort()
    assert await post(http, r) == 200
    assert r.connections == 2
    await http.aclose()


async def test_no_answer_a_bad_answer_and_no_listener(raw: Callable[..., Raw]) -> None:
    http = Http1()
    closing = await start(raw(lambda n: None))
    with pytest.raises(ResponseError, match="closed before a response"):
        await post(http, closing)
    garbage = await start(raw(lambda n: b"SSH-2.0-OpenSSH\r\n\r\n"))
    with pytest.raises(ResponseError, match=r"not an HTTP/1\.x response"):
        await post(http, garbage)
    port = closing.port
    assert closing.server is not None
    closing.server.close()
    await closing.server.wait_closed()
    with pytest.raises(ConnectError):
        await http.post("127.0.0.1", port, None, "/", {"Host": "x"}, b"", 1024)
    await http.aclose()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (b"HTTP/1.1 2x0 OK\r\n\r\n", r"not an HTTP/1\.x response \(Invalid status code"),
        (b"HTTP/1.1 200\n\n", r"not an HTTP/1\.x response"),
        (b"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", r"\(HTTP/2\.0\)"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * (64 * 1024) + b"\r\n\r\n", "head is over 64 KiB"),
        (b"HTTP/1.1 100 Continue\r\n\r\n" * 3000, "head is over 64 KiB"),
        (CHUNKED + b"zz\r\nabc\r\n0\r\n\r\n", "Invalid character in chunk size"),
        (CHUNKED + b"-3\r\nabc\r\n0\r\n\r\n", "Invalid character in chunk size"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Invalid character in Content-Len"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", "Invalid character in Content-Len"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "Duplicate"),
        (
            CHUNKED.replace(b"\r\n\r\n", b"\r\nContent-Length: 3\r\n\r\n") + b"0\r\n\r\n",
            "Content-Length",
        ),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n",
            "not an",
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "cut short"),
        (CHUNKED + b"3\r\nabc\r\n", "cut short"),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", "cut short"),
    ],
)
async def test_hostile_answers_are_response_errors(
    raw: Callable[..., Raw], answer: bytes, error: str
) -> None:
    r = await start(raw(lambda n: answer, close=True))
    http = Http1()
    with pytest.raises(ResponseError, match=error):
        await post(http, r)
    assert not any(http._idle.values())  # nothing kept of a bad answer
    await http.aclose()


async def test_bodies_past_the_limit_or_bytes_after_the_response_are_not_reused(
    raw: Callable[..., Raw],
) -> None:
    answers = [
        CHUNKED + (b"8000\r\n" + b"x" * 0x8000 + b"\r\n") * 2 + b"0\r\n\r\n",  # 64 KiB: kept
        CHUNKED + (b"8000\r\n" + b"x" * 0x8000 + b"\r\n") * 3 + b"0\r\n\r\n",  # 96 KiB
        b"HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n" + b"x" * 70000,
        b"HTTP/1.1 200 OK\r\nContent-Length: 999999\r\n\r\n" + b"x" * 70000,  # never all sent
        OK + b"HTTP/1.1 500 Unasked\r\nContent-Length: 0\r\n\r\n",
        OK,
    ]
    r = await start(raw(lambda n: answers[n - 1]))
    http = Http1()
    assert [await post(http, r) for _ in answers] == [200] * len(answers)
    assert r.connections == len(answers) - 1  # the first two on one connection
    assert sum(map(len, http._idle.values())) == 1
    await http.aclose()


async def test_keep_alive_across_posts_and_the_end_of_a_body_at_close(
    raw: Callable[..., Raw],
) -> None:
    r = await start(raw(lambda n: b"HTTP/1.1 100 Continue\r\nX: y\r\n\r\n" + OK))
    http = Http1()
    assert [await post(http, r), await post(http, r)] == [200, 200]
    assert (r.connections, len(r.requests)) == (1, 2)
    closing = await start(raw(lambda n: b"HTTP/1.0 202 OK\r\n\r\n" + b"x" * 100, close=True))
    assert await post(http, closing) == 202  # no length: the body ends at close
    await http.aclose()


async def test_the_sender_reports_each_outcome(raw: Callable[..., Raw]) -> None:
    found = b"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n"
    r = await start(raw(lambda n: found))
    sender = Sender(Targets(allow_private=True), 2.0)
    moved = await sender.send(f"http://127.0.0.1:{r.port}/hook", b"{}", {})
    assert (moved.ok, moved.status, moved.error) == (False, 302, "HTTP 302")
    silent = await start(raw(lambda n: b""))  # reads the request, never answers
    late = await Sender(Targets(allow_private=True), 0.2).send(
        f"http://127.0.0.1:{silent.port}/", b"{}", {}
    )
    assert (late.ok, late.status, late.error) == (False, None, "timed out after 0.2 s")
    await sender.aclose()
