"""Frames of the terminal protocol: parse a request, write a reply, the error type."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from hstgw.errors import TerminalCode
from hstgw.validation import to_gateway_error

__all__ = ["Reply", "TerminalError", "body_size", "dumps", "parse_frame", "parse_request", "reply"]

Reply = dict[str, Any]


def dumps(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


def body_size(value: Any) -> int:
    return len(orjson.dumps(value))


class TerminalError(Exception):
    def __init__(self, code: TerminalCode, msg: str | None = None) -> None:
        self.code = code
        self.msg = msg or code.default_msg
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
        raise TerminalError(TerminalCode.MALFORMED, "frame: malformed JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise TerminalError(TerminalCode.MALFORMED)
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
    if seq is not None and type(seq) is int:
        message["seq"] = seq
    if extra:
        message.update(extra)
    return dumps(message)
