"""Media nodes' reports (``POST /internal/v1/events``): the group facts of a node that
holds groups itself (a real media server), and recording states, into the event log.

A batch is checked whole before anything is appended (a bad field or an unknown app
refuses it all, naming ``events[i].field``); each event is appended once per node
(its ``event_id``, like usage). A report is a fact, taken without the group limits;
one the groups contradict (a leave of a user not in the group through this node, a
second start of one media) is not appended and is named in ``ignored``.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, Field

from hstgw.errors import ParameterInvalid, ParameterMissing
from hstgw.events.model import Entry, Event, EventId, Refusal
from hstgw.store.protocols import AppStore
from hstgw.validation import ID_RE, AppId, OneOf, Text

__all__ = ["MAX_REPORTED", "ReportBatch", "ReportIn", "ReportOut", "Reports"]

MAX_REPORTED = 1000
RECORD_STATES = (1, 2, 3, 4, 5, 6, -1)  # the platform's record_statue values
_Id = Annotated[str, Text(ID_RE, "only letters, digits, _ and - are allowed", 1, 128)]
_REPORTED = tuple(int(i) for i in (EventId.USER_JOINED, EventId.USER_LEFT,
                                   EventId.MEDIA_STARTED, EventId.MEDIA_STOPPED,
                                   EventId.RECORDING))  # fmt: skip
_NEEDS = {
    EventId.USER_JOINED: ("user_id",),
    EventId.USER_LEFT: ("user_id",),
    EventId.MEDIA_STARTED: ("user_id", "media_id", "media_type"),
    EventId.MEDIA_STOPPED: ("user_id", "media_id", "media_type"),
    EventId.RECORDING: ("record_id", "record_statue"),
}


class ReportIn(BaseModel):
    event_id: Annotated[
        str, Text(r"[A-Za-z0-9_.:-]+", "only letters, digits and _.:- are allowed", 1, 64)
    ]
    app_id: AppId
    id: Annotated[int, OneOf(_REPORTED)] = Field(description="20100-20104")
    group_id: _Id
    user_id: _Id | None = None
    media_id: _Id | None = None
    media_type: Annotated[int, OneOf((0, 1, 2, 4))] | None = None
    record_id: _Id | None = None
    record_statue: Annotated[int, OneOf(RECORD_STATES)] | None = None
    record_msg: Annotated[str, Text(r"[^\x00]*", "must not contain NUL", 0, 8192)] = ""


class ReportBatch(BaseModel):
    events: list[ReportIn] = Field(min_length=1, max_length=MAX_REPORTED)


class Ignored(BaseModel):
    index: int
    code: int
    msg: str


class ReportOut(BaseModel):
    accepted: int
    duplicates: int
    ignored: list[Ignored]


class Appender(Protocol):
    """The event log, as the reports use it (``EventLog``)."""

    async def append(self, app_id: str, entries: list[Entry]) -> list[Event | Refusal]: ...


class Reports:
    def __init__(self, apps: AppStore, log: Appender) -> None:
        self._apps = apps
        self._log = log

    async def report(self, node_id: str, batch: ReportBatch) -> dict[str, Any]:
        by_app: dict[str, list[tuple[int, Entry]]] = defaultdict(list)
        for i, e in enumerate(batch.events):
            by_app[e.app_id].append((i, _entry(node_id, i, e)))
        for app_id, items in by_app.items():
            if await self._apps.find_app(app_id) is None:
                raise ParameterInvalid(f"events[{items[0][0]}].app_id", "no such app")
        apps = list(by_app)
        results = await asyncio.gather(
            *(self._log.append(a, [entry for _, entry in by_app[a]]) for a in apps)
        )
        accepted = duplicates = 0
        ignored: list[dict[str, Any]] = []
        for app_id, answers in zip(apps, results, strict=True):
            for (i, _), answer in zip(by_app[app_id], answers, strict=True):
                if isinstance(answer, Event):
                    accepted += 1
                elif answer.duplicate:
                    duplicates += 1
                else:
                    ignored.append({"index": i, "code": answer.code, "msg": answer.msg})
        ignored.sort(key=lambda x: x["index"])
        return {"accepted": accepted, "duplicates": duplicates, "ignored": ignored}


def _entry(node_id: str, i: int, e: ReportIn) -> Entry:
    kind = EventId(e.id)
    body: dict[str, Any] = {"group_id": e.group_id}
    for name in _NEEDS[kind]:
        value = getattr(e, name)
        if value is None:
            raise ParameterMissing(f"events[{i}].{name}", f"required for id {e.id}")
        body[name] = value
    if kind is EventId.RECORDING:
        body["record_msg"] = e.record_msg
    holder = f"media:{node_id}"
    return Entry(kind, body, holder=holder, node=holder, source=node_id, key=e.event_id, fact=True)
