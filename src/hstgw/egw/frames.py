"""Frames of the event gateway: a client's request read and checked, a reply written.

Every check names the field it refuses (``app_list[1].app_id: ...``) with the REST
codes: 606000002 for a field missing, 606000003 for one that is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from hstgw.egw import protocol as p
from hstgw.errors import Code, GatewayError, ParameterInvalid, ParameterMissing
from hstgw.validation import is_user_id

__all__ = [
    "AppEntry",
    "FrameError",
    "Request",
    "app_entries",
    "dumps",
    "parse",
    "reply",
    "seq_of",
    "text_field",
]

# At most this many apps in one subscribe, unsubscribe or sync (a developer holds at
# most HSTGW_LIMIT_APPS_PER_DEVELOPER, 1000 by default), and groups in one app's sync.
MAX_APPS = 1000
MAX_GROUPS = 1000
_ID_MAX = 128  # app_id, group_id, dev_id, token: longer is never valid


def dumps(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


class FrameError(GatewayError):
    """A frame refused before its request could run: its reply goes back as ``reply_id``."""

    def __init__(self, error: GatewayError, reply_id: int, request_id: Any = None) -> None:
        self.code = error.code
        self.reply_id = reply_id
        self.request_id = request_id
        super().__init__(error.msg)


@dataclass(frozen=True, slots=True)
class Request:
    id: int
    data: dict[str, Any]

    @property
    def reply_id(self) -> int:
        return p.REPLIES[self.id]


@dataclass(frozen=True, slots=True)
class AppEntry:
    app_id: str
    group_list: list[str] | None = None
    from_version: int | None = None


def reply(reply_id: int, code: Code, message: str | None = None, **extra: Any) -> str:
    out: dict[str, Any] = {
        "id": reply_id,
        "result": int(code),
        "message": message or (p.MESSAGES.get(reply_id, "OK") if code is Code.OK else ""),
    }
    out.update(extra)
    return dumps(out)


def parse(raw: str | bytes) -> Request:
    """The request in ``raw``; ``FrameError`` with the reply to send if it is not one."""
    if isinstance(raw, bytes):
        raise FrameError(ParameterInvalid("frame", "must be JSON text, not binary"), p.ERROR)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise FrameError(ParameterInvalid("frame", "malformed JSON"), p.ERROR) from None
    if not isinstance(data, dict):
        raise FrameError(ParameterInvalid("frame", "must be a JSON object"), p.ERROR)
    rid = data.get("id")
    if rid is None:
        raise FrameError(ParameterMissing("id"), p.ERROR)
    if type(rid) is not int or rid not in p.REPLIES:
        known = ", ".join(str(i) for i in p.REPLIES)
        raise FrameError(ParameterInvalid("id", f"not a request ({known})"), p.ERROR, rid)
    business = data.get("business")
    if business is None:
        raise FrameError(ParameterMissing("business"), p.REPLIES[rid])
    if business != p.BUSINESS:
        raise FrameError(ParameterInvalid("business", f"must be {p.BUSINESS}"), p.REPLIES[rid])
    return Request(rid, data)


def text_field(data: dict[str, Any], name: str, label: str = "") -> str:
    """The string ``data[name]``; errors name it ``label`` (default: ``name``)."""
    value = data.get(name)
    if value is None or value == "":
        raise ParameterMissing(label or name)
    if not isinstance(value, str) or len(value) > _ID_MAX:
        raise ParameterInvalid(label or name, f"must be a string of 1..{_ID_MAX} characters")
    return value


def seq_of(data: dict[str, Any]) -> str | int | None:
    """The sync's ``seq``, echoed as it came (the platform sends a string)."""
    seq = data.get("seq")
    if seq is None or (isinstance(seq, str | int) and not isinstance(seq, bool)):
        if isinstance(seq, str) and len(seq) > _ID_MAX:
            raise ParameterInvalid("seq", f"longer than {_ID_MAX} characters")
        return seq
    raise ParameterInvalid("seq", "must be a string or an integer")


def app_entries(data: dict[str, Any], *, required: bool, sync: bool = False) -> list[AppEntry]:
    """``app_list``, checked; [] when absent and not ``required``."""
    apps = data.get("app_list")
    if apps is None:
        if required:
            raise ParameterMissing("app_list")
        return []
    if not isinstance(apps, list) or not apps:
        raise ParameterInvalid("app_list", "must be a non-empty list of {app_id}")
    if len(apps) > MAX_APPS:
        raise ParameterInvalid("app_list", f"at most {MAX_APPS} apps")
    out: list[AppEntry] = []
    seen: set[str] = set()
    for i, entry in enumerate(apps):
        where = f"app_list[{i}]"
        if not isinstance(entry, dict):
            raise ParameterInvalid(where, "must be an object with app_id")
        app_id = text_field(entry, "app_id", f"{where}.app_id")
        if app_id in seen:
            raise ParameterInvalid(f"{where}.app_id", "given twice")
        seen.add(app_id)
        groups = _groups(entry, where) if sync else None
        version = _from_version(entry, where) if sync else None
        out.append(AppEntry(app_id, groups, version))
    return out


def _groups(entry: dict[str, Any], where: str) -> list[str] | None:
    groups = entry.get("group_list")
    if groups is None:
        return None
    if not isinstance(groups, list) or len(groups) > MAX_GROUPS:
        raise ParameterInvalid(f"{where}.group_list", f"must be a list of at most {MAX_GROUPS}")
    for j, g in enumerate(groups):
        # (the rule of every group_id: a NUL or another character could match, or
        # fail, differently in each store)
        if not isinstance(g, str) or not is_user_id(g):
            raise ParameterInvalid(
                f"{where}.group_list[{j}]", "must be a group_id: 1-128 of [A-Za-z0-9_-]"
            )
    return groups


def _from_version(entry: dict[str, Any], where: str) -> int | None:
    version = entry.get("from_version")
    if version is None:
        return None
    if type(version) is not int or not 0 <= version < 2**63:
        raise ParameterInvalid(f"{where}.from_version", "must be an integer >= 0")
    return version
