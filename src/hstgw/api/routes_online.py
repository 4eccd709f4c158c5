"""REST routes that act on terminals (seed: 踢出用户, 从在线获取用户状态, 下发指令给终端,
WEB在线邀请) and the address terminals connect to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hstgw.api.http import Call, Route
from hstgw.gateway import Gateway
from hstgw.online import protocol
from hstgw.online.models import (
    AddressOut,
    InviteIn,
    InviteOut,
    KickoutIn,
    KickoutOut,
    TransCmdIn,
    TransCmdOut,
    UserStateOut,
    UserStateQuery,
)

__all__ = ["build_online_routes"]


def build_online_routes(gw: Gateway, terminal_url: Callable[[str], str]) -> list[Route]:
    """``terminal_url(host header)``: the WebSocket URL to give terminals."""

    async def kickout(call: Call) -> dict[str, Any]:
        req: KickoutIn = call.body
        kicked = await gw.online.kickout(call.dev_id, req.app_id, req.user_id, req.mutex_type)
        return {"kicked": kicked}

    async def user_state(call: Call) -> dict[str, Any]:
        q: UserStateQuery = call.query
        user_ids = set(filter(None, q.user_ids.split(","))) if q.user_ids else None
        total, rows = await gw.online.user_state(
            call.dev_id, q.app_id, q.company_id, user_ids, q.page, q.page_size
        )
        return {
            "msg_id": q.msg_id,
            "total": total,
            "page": q.page,
            "page_size": q.page_size,
            "user_list": rows,
        }

    async def trans_cmd(call: Call) -> dict[str, Any]:
        req: TransCmdIn = call.body
        targets = ((t.user_id, t.mutex_type, t.client_guid) for t in req.user_list)
        results = await gw.online.trans_cmd(
            call.dev_id, req.app_id, req.msg_id, req.trans_mess, targets
        )
        return {"msg_id": req.msg_id, "user_list": results}

    async def invite(call: Call) -> dict[str, Any]:
        req: InviteIn = call.body
        failed = await gw.online.invite(
            call.dev_id, req.app_id, req.group_id, req.user_id_list, req.seq_id, req.extend_info
        )
        return {"seq_id": req.seq_id, "user_id_list": failed}

    async def address(call: Call) -> dict[str, Any]:
        return {
            "ws_url": terminal_url(call.headers.get("host", "")),
            "protocol": protocol.PROTOCOL_VERSION,
        }

    return [
        Route(
            "POST",
            "/v1/kickout",
            kickout,
            "Kick a user's terminals",
            "online",
            body=KickoutIn,
            result=KickoutOut,
            description="Closes every terminal of the user (only those of `mutex_type` when "
            "given), each told why first.",
        ),
        Route(
            "GET",
            "/v1/online/user/state",
            user_state,
            "Terminals' online state",
            "online",
            query=UserStateQuery,
            result=UserStateOut,
            description="One entry per terminal; terminals that went offline stay listed with "
            "state 0 for the retention window. `user_ids`: an optional comma list.",
        ),
        Route(
            "POST",
            "/v1/online/trans-cmd",
            trans_cmd,
            "Send a command to terminals",
            "online",
            body=TransCmdIn,
            result=TransCmdOut,
            description="Per target `result`: 0 delivered to the terminal's connection, "
            "1 failed, 2 not online. An empty `client_guid` matches any terminal of the "
            "user and mutex_type.",
        ),
        Route(
            "POST",
            "/v1/online/invite",
            invite,
            "Invite users to a group",
            "online",
            body=InviteIn,
            result=InviteOut,
            description="Delivered to every online terminal of each user as an `invite` whose "
            "inviter is the app's backend; `user_id_list` lists the users none reached.",
        ),
        Route(
            "GET",
            "/v1/online/address",
            address,
            "Where terminals connect",
            "online",
            auth=None,
            result=AddressOut,
            cors=True,
            description="Public; readable by a web page of any origin (CORS), as the "
            "browser SDK asks it before it connects.",
        ),
    ]
