"""The REST routes: parse (declared on the route), call the gateway, return a result."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from hstgw.api.http import Call, Route
from hstgw.apps import (
    AppIdQuery,
    AppListQuery,
    AppOut,
    AppPage,
    CreateApp,
    PatchApp,
    app_to_wire,
)
from hstgw.gateway import Gateway

__all__ = ["AccessTokenOut", "build_routes"]


class AccessTokenOut(BaseModel):
    access_token: str
    timeout: int


def build_routes(gw: Gateway) -> list[Route]:
    async def access_token(call: Call) -> dict[str, Any]:
        issued = await gw.access_tokens.issue(call.headers.get("authorization"), call.address)
        return {"access_token": issued.access_token, "timeout": issued.timeout}

    async def create_app(call: Call) -> dict[str, Any]:
        return app_to_wire(await gw.apps.create(call.dev_id, call.body))

    async def patch_app(call: Call) -> dict[str, Any]:
        return app_to_wire(await gw.apps.update(call.dev_id, call.body))

    async def delete_app(call: Call) -> None:
        await gw.apps.delete(call.dev_id, call.query.app_id)

    async def get_app(call: Call) -> dict[str, Any]:
        return app_to_wire(await gw.apps.get(call.dev_id, call.query.app_id))

    async def list_apps(call: Call) -> dict[str, Any]:
        q = call.query
        total, apps = await gw.apps.list(call.dev_id, q.page, q.page_size)
        return {
            "total": total,
            "page": q.page,
            "page_size": q.page_size,
            "apps": [app_to_wire(a) for a in apps],
        }

    return [
        Route(
            "GET",
            "/access/token",
            access_token,
            "Get an access_token",
            "auth",
            auth=None,
            result=AccessTokenOut,
            description="Header `Authorization: <dev_id>.<001 token built with dev_id and "
            "dev_secret>`. Issuing a token supersedes the developer's previous one.",
        ),
        Route(
            "POST", "/v1/app", create_app, "Create an app", "apps", body=CreateApp, result=AppOut
        ),
        Route(
            "PATCH",
            "/v1/app",
            patch_app,
            "Change an app",
            "apps",
            body=PatchApp,
            result=AppOut,
            description="Partial: only the fields given change; a `service` list "
            "replaces the app's services.",
        ),
        Route(
            "DELETE",
            "/v1/app",
            delete_app,
            "Delete an app",
            "apps",
            query=AppIdQuery,
            description="The app's billing records are kept.",
        ),
        Route("GET", "/v1/app", get_app, "Get one app", "apps", query=AppIdQuery, result=AppOut),
        Route(
            "GET", "/v1/apps", list_apps, "List apps", "apps", query=AppListQuery, result=AppPage
        ),
    ]
