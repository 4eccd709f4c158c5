"""The validators of app_name, user_id and group_id agree with their written rules
(design 1, docs/api.md), on any text.

The reference rules are written out here again, independently of hstgw.validation.
"""

from __future__ import annotations

import string

from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from hstgw.apps import CreateApp
from hstgw.online.models import InviteIn
from hstgw.validation import UserId, is_user_id

# The Unicode blocks of CJK ideographs (Blocks.txt): unified (main, A to I) and
# compatibility (and supplement).
CJK_BLOCKS = [
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0x2CEB0, 0x2EBEF),
    (0x2EBF0, 0x2EE5F),
    (0x2F800, 0x2FA1F),
    (0x30000, 0x3134F),
    (0x31350, 0x323AF),
]
ID_CHARS = set(string.ascii_letters + string.digits + "_-")


def is_cjk_ideograph(ch: str) -> bool:
    return any(lo <= ord(ch) <= hi for lo, hi in CJK_BLOCKS)


def app_name_rule(name: str) -> bool:
    """1-64 characters, each an ASCII letter or digit, `_`, or a CJK ideograph."""
    return 1 <= len(name) <= 64 and all(
        c in string.ascii_letters or c in string.digits or c == "_" or is_cjk_ideograph(c)
        for c in name
    )


def id_rule(value: str) -> bool:
    """1-128 characters of [A-Za-z0-9_-]."""
    return 1 <= len(value) <= 128 and set(value) <= ID_CHARS


# Characters near every edge of the rules, and anything else.
edges = [cp for lo, hi in CJK_BLOCKS for cp in (lo - 1, lo, lo + 1, hi - 1, hi, hi + 1)]
edge_chars = st.sampled_from([chr(cp) for cp in edges] + list("_-aZ09 .é中\u3000\x00\n"))
any_char = st.one_of(edge_chars, st.characters(), st.sampled_from(sorted(ID_CHARS)))
texts = st.text(any_char, min_size=0, max_size=140)


@given(texts)
@settings(max_examples=1500)
@example("test123")
@example("视频会议_1")
@example("a" * 64)
@example("a" * 65)
@example("")
@example("\U0002f800")
@example("\U00031350")
def test_app_name_validator_agrees_with_the_rule(name: str) -> None:
    try:
        CreateApp.model_validate({"app_name": name, "service": [{"service_id": 3}]})
        accepted = True
    except ValidationError as exc:
        assert all(e["loc"] == ("app_name",) for e in exc.errors()), exc.errors()
        accepted = False
    assert accepted == app_name_rule(name), repr(name)


class _Ids(BaseModel):
    user_id: UserId


@given(texts)
@settings(max_examples=1500)
@example("a" * 128)
@example("a" * 129)
@example("user-1_A")
@example("")
def test_user_id_and_group_id_validators_agree_with_the_rule(value: str) -> None:
    expected = id_rule(value)
    assert is_user_id(value) == expected, repr(value)  # the terminal login's check
    try:
        _Ids(user_id=value)
        assert expected, repr(value)
    except ValidationError:
        assert not expected, repr(value)
    invite = {"app_id": "0" * 32, "group_id": value, "user_id_list": ["u"], "seq_id": 1}
    try:
        InviteIn.model_validate(invite)
        assert expected, repr(value)
    except ValidationError as exc:
        assert not expected, repr(value)
        assert all(e["loc"] == ("group_id",) for e in exc.errors()), exc.errors()
