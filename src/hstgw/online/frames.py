"""Frames of the terminal protocol: parse a request, write a reply, the error type."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from hstgw.errors import ParameterInvalid, TerminalCode
from hstgw.online.protocol import BODY_LIMIT
from hstgw.validation import to_gateway_error

__all__ = [
    "NUMBERS",
    "Reply",
    "TerminalError",
    "body_size",
    "check_body",
    "dumps",
    "parse_frame",
    "parse_request",
    "payload_size",
    "reply",
]

Reply = dict[str, Any]

# Numbers in the JSON a caller passes on (trans_mess, extend_info, message bodies): what
# every platform client can read back (docs/security.md).
NUMBERS = "numbers must be 64-bit integers or finite"
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# A number outside them is written with 19 digits or more, or (a float that overflowed,
# once parsed) as null: only a payload that shows either is walked.
_SUSPECT = re.compile(rb"\d{19}|null")
_LONG_DIGITS = re.compile(r"\d{19}")


def dumps(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


def body_size(value: Any) -> int:
    return len(orjson.dumps(value))


def numbers_ok(value: Any) -> bool:
    """Whether every number in ``value`` is a 64-bit integer or a finite float."""
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is dict:
            stack.extend(v.values())
        elif t is list:
            stack.extend(v)
        elif t is int:
            if not _INT64_MIN <= v <= _INT64_MAX:
                return False
        elif t is float and not math.isfinite(v):
            return False
    return True


def payload_size(value: Any, field: str) -> int:
    """The size of ``value`` as JSON, in bytes; ``ParameterInvalid`` naming ``field``
    if it holds a number beyond 64 bits or not finite (written once, walked only if
    its JSON shows such a number may be there)."""
    try:
        text = orjson.dumps(value)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits
        raise ParameterInvalid(field, NUMBERS) from None
    if _SUSPECT.search(text) is not None and not numbers_ok(value):
        raise ParameterInvalid(field, NUMBERS)
    return len(text)


def check_body(value: Any, field: str, *, terminal: bool = False) -> None:
    """The one check of a message body, trans_mess or extend_info: at most BODY_LIMIT
    bytes of JSON. From a terminal (its frame already parsed): ``TerminalError``
    TOO_LARGE; from REST: ``ParameterInvalid`` naming ``field``, also for a number
    :func:`payload_size` refuses."""
    if terminal:
        if body_size(value) > BODY_LIMIT:
            raise TerminalError(TerminalCode.TOO_LARGE, f"{field}: larger than {BODY_LIMIT} bytes")
    elif payload_size(value, field) > BODY_LIMIT:
        raise ParameterInvalid(field, f"larger than {BODY_LIMIT} bytes")


class TerminalError(Exception):
    def __init__(
        self, code: TerminalCode, msg: str | None = None, kind: str | None = None, seq: Any = None
    ) -> None:
        self.code = code
        self.msg = msg or code.default_msg
        # the request's type and seq, when the error was found before the caller knew them
        self.kind = kind
        self.seq = seq
        super().__init__(self.msg)


def parse_request(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data, strict=True)
    except ValidationError as exc:
        raise TerminalError(TerminalCode.FIELD_INVALID, to_gateway_error(exc).msg) from None


def parse_frame(raw: str | bytes) -> dict[str, Any]:
    if isinstance(raw, bytes):
        raise TerminalError(TerminalCode.MALFORMED, "frames are JSON text, not binary")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        _refuse_numbers(raw)  # (1e400 is not JSON to orjson: say which field holds it)
        raise TerminalError(TerminalCode.MALFORMED, "frame: malformed JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise TerminalError(TerminalCode.MALFORMED)
    if _LONG_DIGITS.search(raw) is not None:  # orjson reads 2**64 as a float: read exactly
        _refuse_numbers(raw)
    seq = data.get("seq")
    if seq is not None and (type(seq) is not int):
        raise TerminalError(TerminalCode.FIELD_INVALID, "seq: must be an integer")
    return data


def reply(
    kind: str, seq: Any, code: TerminalCode, msg: str | None, extra: Reply | None = None
) -> str:
    message: dict[str, Any] = {
        "type": f"{kind}_result",
        "code": int(code),
        "msg": msg or code.default_msg,
    }
    if type(seq) is int and _INT64_MIN <= seq <= _INT64_MAX:  # (one beyond: not echoed)
        message["seq"] = seq
    if extra:
        message.update(extra)
    return dumps(message)


def _exact_int(text: str) -> int:
    # (Python refuses to read ints of over 4300 digits; any of 21 is out of range)
    return int(text) if len(text) <= 21 else _INT64_MAX + 1


def _refuse_numbers(raw: str) -> None:
    """Raise FIELD_INVALID naming the top-level field of ``raw`` whose numbers are
    beyond 64 bits or not finite, if there is one."""
    try:
        exact = json.loads(raw, parse_int=_exact_int, parse_constant=lambda c: math.inf)
    except (ValueError, RecursionError):
        return
    if isinstance(exact, dict):
        for key, value in exact.items():
            if not numbers_ok(value):
                kind = exact.get("type")
                raise TerminalError(
                    TerminalCode.FIELD_INVALID,
                    f"{key}: {NUMBERS}"[:200],
                    kind if isinstance(kind, str) else None,
                    exact.get("seq") if isinstance(kind, str) else None,
                )
