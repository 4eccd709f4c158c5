"""``client.online``: act on the terminals logged in to an app."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hstgw.sdk._constants import DEFAULT_PAGE_SIZE
from hstgw.sdk._models import TerminalState, TransCmdResult
from hstgw.sdk._pagination import AsyncPage, SyncPage

if TYPE_CHECKING:
    from hstgw.sdk._client import AsyncClient, Client

__all__ = ["AsyncOnline", "Online", "TargetParam"]

# A trans-cmd target: (user_id, mutex_type[, client_guid]) or a mapping of those keys.
TargetParam = tuple[str, str] | tuple[str, str, str] | Mapping[str, str]


def _target(t: TargetParam) -> dict[str, str]:
    if isinstance(t, tuple):
        return {"user_id": t[0], "mutex_type": t[1], "client_guid": t[2] if len(t) > 2 else ""}
    return {"client_guid": "", **t}


def _state_params(
    app_id: str,
    msg_id: int,
    company_id: str | None,
    user_ids: Iterable[str] | None,
    page: int,
    page_size: int,
) -> dict[str, Any]:
    return {
        "app_id": app_id,
        "msg_id": msg_id,
        "company_id": company_id,
        "user_ids": None if user_ids is None else ",".join(user_ids),
        "page": page,
        "page_size": page_size,
    }


def _trans_body(
    app_id: str, msg_id: int, trans_mess: Mapping[str, Any], targets: Sequence[TargetParam]
) -> dict[str, Any]:
    return {
        "app_id": app_id,
        "msg_id": msg_id,
        "trans_mess": dict(trans_mess),
        "user_list": [_target(t) for t in targets],
    }


def _invite_body(
    app_id: str, group_id: str, user_ids: Iterable[str], seq_id: int, extend_info: Any
) -> dict[str, Any]:
    body = {
        "app_id": app_id,
        "group_id": group_id,
        "user_id_list": list(user_ids),
        "seq_id": seq_id,
    }
    if extend_info is not None:
        body["extend_info"] = extend_info
    return body


def _kick_body(app_id: str, user_id: str, mutex_type: str | None) -> dict[str, Any]:
    body = {"app_id": app_id, "user_id": user_id}
    if mutex_type is not None:
        body["mutex_type"] = mutex_type
    return body


def _states(result: dict[str, Any]) -> list[TerminalState]:
    return [TerminalState(**u) for u in result["user_list"]]


class Online:
    def __init__(self, client: Client) -> None:
        self._client = client

    def kickout(self, app_id: str, user_id: str, mutex_type: str | None = None) -> int:
        """Close the user's terminals (of ``mutex_type`` only, if given); how many."""
        body = _kick_body(app_id, user_id, mutex_type)
        return int(self._client.request("POST", "/v1/kickout", json=body)["kicked"])

    def user_state(
        self,
        app_id: str,
        *,
        msg_id: int = 0,
        company_id: str | None = None,
        user_ids: Iterable[str] | None = None,
        page: int = 1,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> SyncPage[TerminalState]:
        ids = None if user_ids is None else list(user_ids)
        params = _state_params(app_id, msg_id, company_id, ids, page, page_size)
        result = self._client.request("GET", "/v1/online/user/state", params=params)
        return SyncPage(
            _states(result),
            result["total"],
            result["page"],
            result["page_size"],
            lambda p: self.user_state(
                app_id,
                msg_id=msg_id,
                company_id=company_id,
                user_ids=ids,
                page=p,
                page_size=page_size,
            ),
        )

    def trans_cmd(
        self,
        app_id: str,
        trans_mess: Mapping[str, Any],
        targets: Sequence[TargetParam],
        *,
        msg_id: int = 0,
    ) -> list[TransCmdResult]:
        body = _trans_body(app_id, msg_id, trans_mess, targets)
        result = self._client.request("POST", "/v1/online/trans-cmd", json=body)
        return [TransCmdResult(**r) for r in result["user_list"]]

    def invite(
        self,
        app_id: str,
        group_id: str,
        user_ids: Iterable[str],
        seq_id: int,
        extend_info: Mapping[str, Any] | None = None,
    ) -> list[str]:
        """Invite users into a group; the users none of whose terminals was reached."""
        body = _invite_body(app_id, group_id, user_ids, seq_id, extend_info)
        return list(self._client.request("POST", "/v1/online/invite", json=body)["user_id_list"])


class AsyncOnline:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def kickout(self, app_id: str, user_id: str, mutex_type: str | None = None) -> int:
        body = _kick_body(app_id, user_id, mutex_type)
        return int((await self._client.request("POST", "/v1/kickout", json=body))["kicked"])

    async def user_state(
        self,
        app_id: str,
        *,
        msg_id: int = 0,
        company_id: str | None = None,
        user_ids: Iterable[str] | None = None,
        page: int = 1,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncPage[TerminalState]:
        ids = None if user_ids is None else list(user_ids)
        params = _state_params(app_id, msg_id, company_id, ids, page, page_size)
        result = await self._client.request("GET", "/v1/online/user/state", params=params)
        return AsyncPage(
            _states(result),
            result["total"],
            result["page"],
            result["page_size"],
            lambda p: self.user_state(
                app_id,
                msg_id=msg_id,
                company_id=company_id,
                user_ids=ids,
                page=p,
                page_size=page_size,
            ),
        )

    async def trans_cmd(
        self,
        app_id: str,
        trans_mess: Mapping[str, Any],
        targets: Sequence[TargetParam],
        *,
        msg_id: int = 0,
    ) -> list[TransCmdResult]:
        body = _trans_body(app_id, msg_id, trans_mess, targets)
        result = await self._client.request("POST", "/v1/online/trans-cmd", json=body)
        return [TransCmdResult(**r) for r in result["user_list"]]

    async def invite(
        self,
        app_id: str,
        group_id: str,
        user_ids: Iterable[str],
        seq_id: int,
        extend_info: Mapping[str, Any] | None = None,
    ) -> list[str]:
        body = _invite_body(app_id, group_id, user_ids, seq_id, extend_info)
        result = await self._client.request("POST", "/v1/online/invite", json=body)
        return list(result["user_id_list"])
