"""What terminals and the REST API send to the online service, and what they get.

These models validate and document; the service works on their fields.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from hstgw.apps import INT64_MAX
from hstgw.online.protocol import BODY_LIMIT
from hstgw.validation import (
    ID_RE,
    QUERY_CONFIG,
    AppId,
    ClientGuid,
    CompanyId,
    GroupId,
    MutexType,
    OneOf,
    Page,
    PageSize,
    Range,
    Text,
    UserId,
)

__all__ = [
    "AddressOut",
    "InviteIn",
    "InviteOut",
    "KickoutIn",
    "KickoutOut",
    "TransCmdIn",
    "TransCmdOut",
    "UserStateOut",
    "UserStateQuery",
]

MAX_TARGETS = 500
Int64 = Annotated[int, Range(-(2**63), INT64_MAX)]
CustomState = Annotated[str, Text(r"[^\x00]*", "must not contain NUL", 0, 1024)]


# terminal requests


class LoginReq(BaseModel):
    app_id: AppId
    # A 001 token, or the resume credential of an earlier login of this user (a
    # reconnect): one of the two.
    token: str = ""
    resume: Annotated[str, Text("[0-9a-f]*", "must be the credential of a login", 0, 64)] = ""
    user_id: str  # checked by the service: an invalid one has its own login code
    company_id: CompanyId = ""
    mutex_type: MutexType = "web"
    client_guid: ClientGuid = ""
    force_login: bool = False
    custom_state: CustomState = ""
    extend_info: Annotated[str, Text(r"[^\x00]*", "must not contain NUL", 0, 4096)] = ""


class ListOnlineReq(BaseModel):
    page: Page = 1
    page_size: PageSize = 20


class SetStateReq(BaseModel):
    custom_state: CustomState


class InviteReq(BaseModel):
    group_id: GroupId
    user_ids: list[UserId] = Field(min_length=1, max_length=MAX_TARGETS)
    seq_id: Int64
    extend_info: dict[str, Any] | None = None


class GroupReq(BaseModel):
    """join_group, leave_group: ``group_id`` is checked by the service (its own code)."""

    group_id: str


class MediaReq(BaseModel):
    group_id: str
    media_id: Annotated[str, Text(ID_RE, "only letters, digits, _ and - are allowed", 1, 128)]
    media_type: Annotated[int, OneOf((0, 1, 2, 4))]  # strictly: `true` is no media_type


class InviteReplyReq(BaseModel):
    group_id: GroupId
    seq_id: Int64
    accept: bool
    extend_info: dict[str, Any] | None = None


class MessageReq(BaseModel):
    to_user_id: UserId
    body: dict[str, Any] | str


# REST


class KickoutIn(BaseModel):
    app_id: AppId
    user_id: UserId
    mutex_type: MutexType | None = None


class KickoutOut(BaseModel):
    kicked: int


class UserStateQuery(BaseModel):
    model_config = QUERY_CONFIG
    app_id: AppId
    msg_id: Int64
    company_id: CompanyId | None = None
    user_ids: (
        Annotated[str, Text(r"[A-Za-z0-9_,-]*", "must be a comma list of user ids", 0, 65000)]
        | None
    ) = None
    page: Page = 1
    page_size: PageSize = 100


class UserStateEntry(BaseModel):
    state: int = Field(description="1 online, 0 offline (kept for the retention window)")
    user_id: str
    terminal_seq_num: str = Field(description="the terminal's client_guid")
    mutex_type: str


class UserStateOut(BaseModel):
    msg_id: int
    total: int
    page: int
    page_size: int
    user_list: list[UserStateEntry]


class TransTarget(BaseModel):
    user_id: UserId
    mutex_type: MutexType
    client_guid: ClientGuid = Field(description="empty: every terminal of the user and mutex_type")


class TransCmdIn(BaseModel):
    app_id: AppId
    msg_id: Int64
    trans_mess: dict[str, Any] = Field(description=f"any JSON object, at most {BODY_LIMIT} bytes")
    user_list: list[TransTarget] = Field(min_length=1, max_length=MAX_TARGETS)


class TransCmdResult(BaseModel):
    result: int = Field(description="0 delivered, 1 failed, 2 not online")
    user_id: str
    terminal_seq_num: str
    mutex_type: str


class TransCmdOut(BaseModel):
    msg_id: int
    user_list: list[TransCmdResult]


class InviteIn(BaseModel):
    app_id: AppId
    group_id: GroupId
    user_id_list: list[UserId] = Field(min_length=1, max_length=MAX_TARGETS)
    seq_id: Int64
    extend_info: dict[str, Any] | None = None


class InviteOut(BaseModel):
    seq_id: int
    user_id_list: list[str] = Field(description="the users no terminal of whom was reached")


class AddressOut(BaseModel):
    ws_url: str = Field(description="where terminals connect (WebSocket)")
    protocol: int
