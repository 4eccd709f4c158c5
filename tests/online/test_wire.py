"""The terminal listener's own WebSocket layer, against hostile and clumsy clients.

The online service is a recording fake here (the real one is behind every other test
in tests/online): what is tested is the connection, its limits and its ending.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode

from hstgw.connections import ConnectionGate, TrustedProxies
from hstgw.online import endpoint, wire
from hstgw.online.endpoint import TerminalListener
from hstgw.online.service import OnlineService
from hstgw.online.session import Link
from tests.waiting import eventually

pytestmark = pytest.mark.anyio


class FakeSession:
    def __init__(self, name: str) -> None:
        self.name = name
        self.ended = False


class Recorder:
    """Stands for the online service: logs in anyone but "bad", echoes frames."""

    def __init__(self) -> None:
        self.logins: list[tuple[str | bytes, str]] = []
        self.frames: list[str | bytes] = []
        self.gone: list[FakeSession] = []
        self.links: list[Link] = []
        self.delay = 0.0
        self.shut = False

    async def login(self, link: Link, raw: str | bytes, address: str) -> tuple[str, Any]:
        self.logins.append((raw, address))
        self.links.append(link)
        if raw == "bad":
            return "login refused", None
        return "login ok", FakeSession(str(raw))

    async def handle(self, session: FakeSession, raw: str | bytes) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.frames.append(raw)
        if raw == "logout":
            session.ended = True
        return f"re:{raw!s}"

    def disconnected(self, session: FakeSession) -> None:
        self.gone.append(session)

    def shutdown(self) -> None:
        self.shut = True
        for link in self.links:  # as the service kicks every session
            link.close(4001, "shutdown")


@pytest.fixture
async def listener(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[TerminalListener, Recorder]]:
    service = Recorder()
    gate = getattr(request, "param", None) or ConnectionGate(100, 100)
    lst = TerminalListener(
        cast(OnlineService, service), "127.0.0.1", 0, gate, TrustedProxies(["127.0.0.0/8"])
    )
    await lst.start()
    yield lst, service
    await lst.stop()


def url(lst: TerminalListener) -> str:
    return f"ws://127.0.0.1:{lst.port}/"


async def client(lst: TerminalListener, **kw: Any) -> ClientConnection:
    return await connect(url(lst), compression=None, ping_interval=None, **kw)


HANDSHAKE = (
    "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
)


def handshake(extra: str = "") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return HANDSHAKE.format(key=key, extra=extra).encode()


def masked(text: str, opcode: Opcode = Opcode.TEXT, fin: bool = True) -> bytes:
    return Frame(opcode, text.encode(), fin=fin).serialize(mask=True, extensions=[])


async def read_all(reader: asyncio.StreamReader) -> bytes:
    """What the server sends until it closes (an abort: nothing)."""
    try:
        return await asyncio.wait_for(reader.read(), 5)
    except ConnectionResetError:
        return b""


async def test_login_then_frames_in_order(listener: tuple[TerminalListener, Recorder]) -> None:
    lst, service = listener
    service.delay = 0.01  # replies come after later frames have arrived: they queue
    ws = await client(lst, additional_headers={"X-Forwarded-For": "203.0.113.9"})
    await ws.send("alice")
    assert await ws.recv() == "login ok"
    for i in range(12):
        await ws.send(f"f{i}")
    assert [await ws.recv() for _ in range(12)] == [f"re:f{i}" for i in range(12)]
    # a trusted proxy's forwarded address is the one the login sees
    assert service.logins == [("alice", "203.0.113.9")]
    await ws.close()
    assert await eventually(lambda: len(service.gone) == 1)
    assert lst.connections == 0


async def test_bytes_arriving_one_at_a_time(listener: tuple[TerminalListener, Recorder]) -> None:
    lst, service = listener
    reader, writer = await asyncio.open_connection("127.0.0.1", lst.port)
    data = handshake() + masked("bob") + masked("part", fin=False)
    data += masked("ial", Opcode.CONT, fin=True)
    for i in range(len(data)):  # the handshake and each frame cut at every byte
        writer.write(data[i : i + 1])
        await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101 ") and b"Server:" not in head
    assert await eventually(lambda: service.frames == ["partial"])
    assert service.logins[0][0] == "bob"
    writer.close()


async def test_a_binary_login_and_a_ping(listener: tuple[TerminalListener, Recorder]) -> None:
    lst, service = listener
    ws = await client(lst)
    await ws.send(b"carol")
    assert await ws.recv() == "login ok"
    await asyncio.wait_for(await ws.ping(), 5)  # answered by the protocol itself
    assert service.logins[0][0] == b"carol"
    await ws.close()


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64) + b"\r\n\r\n",  # binary
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # HTTP, not a WebSocket upgrade
        handshake("X-Big: " + "a" * 20_000 + "\r\n"),  # a header line over 8 KiB
        handshake("".join(f"X-{i}: y\r\n" for i in range(300))),  # too many headers
    ],
)
async def test_handshake_garbage_is_closed(
    listener: tuple[TerminalListener, Recorder], garbage: bytes
) -> None:
    lst, service = listener
    reader, writer = await asyncio.open_connection("127.0.0.1", lst.port)
    writer.write(garbage)
    answer = await read_all(reader)  # the server closes
    assert not answer.startswith(b"HTTP/1.1 101")
    assert await eventually(lambda: lst.connections == 0)
    assert service.logins == []
    writer.close()


async def test_slowloris_handshake_is_dropped(
    listener: tuple[TerminalListener, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    lst, _ = listener
    monkeypatch.setattr(wire, "HANDSHAKE_TIMEOUT_S", 0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", lst.port)
    writer.write(handshake()[:30])  # and never the rest
    assert await read_all(reader) == b""
    assert lst.connections == 0
    writer.close()


async def test_no_login_in_time_closes_4003(
    listener: tuple[TerminalListener, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    lst, _ = listener
    monkeypatch.setattr(wire, "LOGIN_TIMEOUT_S", 0.2)
    ws = await client(lst)
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 5)
    assert (ws.close_code, ws.close_reason) == (4003, "login timeout")


async def test_a_failed_login_closes_4000(listener: tuple[TerminalListener, Recorder]) -> None:
    lst, service = listener
    ws = await client(lst)
    await ws.send("bad")
    assert await ws.recv() == "login refused"
    with pytest.raises(ConnectionClosed):
        await ws.recv()
    assert ws.close_code == 4000
    assert service.gone == []  # no session, nothing to end


async def test_a_frame_over_the_limit_closes_1009(
    listener: tuple[TerminalListener, Recorder],
) -> None:
    lst, service = listener
    ws = await client(lst)
    await ws.send("dave")
    await ws.recv()
    # in fragments, each under the limit, together over it
    await ws.send(["x" * 40_000, "y" * 40_000])
    with pytest.raises(ConnectionClosed):
        await ws.recv()
    assert ws.close_code == 1009
    assert service.frames == []
    assert await eventually(lambda: len(service.gone) == 1)


async def test_invalid_utf8_closes_1007(listener: tuple[TerminalListener, Recorder]) -> None:
    lst, service = listener
    reader, writer = await asyncio.open_connection("127.0.0.1", lst.port)
    bad = Frame(Opcode.TEXT, b"\xff\xfe").serialize(mask=True, extensions=[])
    writer.write(handshake() + bad)
    answer = await read_all(reader)
    assert b"\x88" in answer and (1007).to_bytes(2, "big") in answer.split(b"\r\n\r\n", 1)[1]
    assert service.logins == []
    writer.close()


async def test_a_terminal_that_does_not_read_is_closed_1008(
    listener: tuple[TerminalListener, Recorder],
) -> None:
    lst, service = listener
    ws = await client(lst, max_queue=1)
    await ws.send("erin")
    await ws.recv()
    ws.transport.pause_reading()
    link = service.links[0]
    pushed = 0
    while link.push("z" * 60_000):  # until the unsent backlog passes SEND_BACKLOG
        pushed += 1
        assert pushed < 1000
        await asyncio.sleep(0)
    assert pushed * 60_000 > endpoint.SEND_BACKLOG
    await asyncio.sleep(0.05)
    ws.transport.resume_reading()
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    assert (ws.close_code, ws.close_reason) == (1008, "too slow to read")
    assert await eventually(lambda: len(service.gone) == 1)


async def test_logout_closes_after_its_reply(listener: tuple[TerminalListener, Recorder]) -> None:
    lst, service = listener
    ws = await client(lst)
    await ws.send("fred")
    await ws.recv()
    await ws.send("logout")
    await ws.send("after")  # not served: the session ended
    assert await ws.recv() == "re:logout"
    with pytest.raises(ConnectionClosed):
        await ws.recv()
    assert ws.close_code == 1000
    assert service.frames == ["logout"]


async def test_gone_while_a_frame_is_served_ends_the_session_once(
    listener: tuple[TerminalListener, Recorder],
) -> None:
    lst, service = listener
    service.delay = 0.2
    ws = await client(lst)
    await ws.send("gina")
    await ws.recv()
    await ws.send("slow")
    await ws.send("queued")
    await asyncio.sleep(0.05)
    ws.transport.abort()
    assert await eventually(lambda: lst.connections == 0)
    assert service.gone == []  # not while its frame is being served
    assert await eventually(lambda: len(service.gone) == 1)
    await asyncio.sleep(0.3)
    assert len(service.gone) == 1
    assert service.frames == ["slow"]  # what was queued behind it is dropped


@pytest.mark.parametrize("listener", [ConnectionGate(100, 2)], indirect=True)
async def test_the_gate_counts_from_accept_to_close(
    listener: tuple[TerminalListener, Recorder],
) -> None:
    lst, _ = listener
    held = [await asyncio.open_connection("127.0.0.1", lst.port) for _ in range(2)]
    assert await eventually(lambda: lst.connections == 2)
    reader, writer = await asyncio.open_connection("127.0.0.1", lst.port)
    assert await read_all(reader) == b""  # over the cap, before any handshake
    writer.close()
    for _, w in held:
        w.close()
    assert await eventually(lambda: lst.connections == 0)
    ws = await client(lst)  # the places were given back
    await ws.send("hank")
    assert await ws.recv() == "login ok"
    await ws.close()


async def test_stop_closes_every_connection_and_waits(
    listener: tuple[TerminalListener, Recorder],
) -> None:
    lst, service = listener
    logged = await client(lst)
    await logged.send("ivy")
    await logged.recv()
    quiet = await client(lst)  # connected, no login yet
    reader, writer = await asyncio.open_connection("127.0.0.1", lst.port)
    writer.write(handshake()[:20])  # in the middle of its handshake
    await writer.drain()
    assert await eventually(lambda: lst.connections == 3)
    await asyncio.wait_for(lst.stop(), 5)
    assert service.shut and lst.connections == 0
    assert [s.name for s in service.gone] == ["ivy"]
    for ws, code in ((logged, 4001), (quiet, 1001)):  # kicked; closed as going away
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == code
    assert await read_all(reader) == b""
    writer.close()
    await lst.stop()  # (twice: nothing more to do)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_text_frame_is_what_websockets_makes(size: int) -> None:
    """The listener frames its pushes itself (no mask, no extension): byte for byte
    what websockets' own serializer makes, at every length encoding's edges."""
    data = b"x" * size
    assert wire.text_frame(data) == Frame(Opcode.TEXT, data).serialize(mask=False, extensions=[])
