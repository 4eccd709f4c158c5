"""Bodies read by hand behind an ignored Upgrade offer: sized and chunked, strictly."""

from __future__ import annotations

import pytest

from hstgw.serving.bodies import ChunkedBody, SizedBody


def test_a_sized_body_takes_its_length_and_hands_back_what_follows() -> None:
    body = SizedBody(5)
    assert body.feed(b"abc") == (b"abc", b"")
    assert not body.done
    assert body.feed(b"deGET / HTTP/1.1") == (b"de", b"GET / HTTP/1.1")
    assert body.done


def test_a_chunked_body_split_anywhere_reads_the_same() -> None:
    wire = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT"
    for cut in range(len(wire) + 1):
        body = ChunkedBody(max_body=100)
        first, rest1 = body.feed(wire[:cut])
        second, rest2 = body.feed(wire[cut:]) if not body.done else (b"", wire[cut:])
        assert first + second == b"Wikipedia", cut
        assert body.done and (rest1 + rest2).endswith(b"NEXT") and rest1 + rest2 == b"NEXT"


@pytest.mark.parametrize(
    ("wire", "why"),
    [
        (b"4\nWiki\r\n0\r\n\r\n", "Invalid chunked body."),  # a bare LF
        (b"x\r\n", "Invalid chunk size."),
        (b"\r\n", "Invalid chunk size."),
        (b"4\r\nWikiXX\r\n", "Invalid chunked body."),  # data longer than its size
        (b"b\r\n", "Request body too large."),
        (b"1" * 5000, "A chunk line is too long."),
    ],
)
def test_a_malformed_chunked_body_is_refused(wire: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why.replace(".", r"\.")):
        ChunkedBody(max_body=10).feed(wire)
