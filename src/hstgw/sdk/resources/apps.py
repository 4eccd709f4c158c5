"""``client.apps``: create, update, delete, get and list apps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hstgw.sdk._constants import DEFAULT_APPS_PAGE_SIZE
from hstgw.sdk._models import App
from hstgw.sdk._pagination import AsyncPage, SyncPage

if TYPE_CHECKING:
    from hstgw.sdk._client import AsyncClient, Client

__all__ = ["Apps", "AsyncApps", "ServiceParam"]

# A service as a caller may give it: an id, ``(id, use_limit)`` or a mapping.
ServiceParam = int | tuple[int, int | None] | Mapping[str, Any]


class _NotGiven:
    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Any = _NotGiven()


def _service(param: ServiceParam) -> dict[str, Any]:
    if isinstance(param, int):
        return {"service_id": param}
    if isinstance(param, tuple):
        sid, limit = param
        return {"service_id": sid, "use_limit": limit}
    return dict(param)


def _create_body(
    app_name: str, service: Sequence[ServiceParam], status: str | None, limit: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"app_name": app_name, "service": [_service(s) for s in service]}
    if status is not None:
        body["status"] = status
    if limit is not NOT_GIVEN:
        body["consumption_limit"] = limit
    return body


def _update_body(app_id: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"app_id": app_id}
    for key, value in fields.items():
        if value is NOT_GIVEN:
            continue
        body[key] = [_service(s) for s in value] if key == "service" else value
    return body


def _page_params(page: int, page_size: int) -> dict[str, Any]:
    return {"page": page, "page_size": page_size}


class Apps:
    def __init__(self, client: Client) -> None:
        self._client = client

    def create(
        self,
        app_name: str,
        service: Sequence[ServiceParam],
        *,
        status: str | None = None,
        consumption_limit: int | None = NOT_GIVEN,
    ) -> App:
        body = _create_body(app_name, service, status, consumption_limit)
        return App.from_wire(self._client.request("POST", "/v1/app", json=body))

    def update(
        self,
        app_id: str,
        *,
        app_name: str = NOT_GIVEN,
        status: str = NOT_GIVEN,
        consumption_limit: int | None = NOT_GIVEN,
        service: Sequence[ServiceParam] = NOT_GIVEN,
    ) -> App:
        body = _update_body(
            app_id,
            app_name=app_name,
            status=status,
            consumption_limit=consumption_limit,
            service=service,
        )
        return App.from_wire(self._client.request("PATCH", "/v1/app", json=body))

    def delete(self, app_id: str) -> None:
        self._client.request("DELETE", "/v1/app", params={"app_id": app_id})

    def get(self, app_id: str) -> App:
        return App.from_wire(self._client.request("GET", "/v1/app", params={"app_id": app_id}))

    def list(self, *, page: int = 1, page_size: int = DEFAULT_APPS_PAGE_SIZE) -> SyncPage[App]:
        """One page of apps; iterate it for every app of every page."""
        result = self._client.request("GET", "/v1/apps", params=_page_params(page, page_size))
        return SyncPage(
            [App.from_wire(a) for a in result["apps"]],
            result["total"],
            result["page"],
            result["page_size"],
            lambda p: self.list(page=p, page_size=page_size),
        )


class AsyncApps:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(
        self,
        app_name: str,
        service: Sequence[ServiceParam],
        *,
        status: str | None = None,
        consumption_limit: int | None = NOT_GIVEN,
    ) -> App:
        body = _create_body(app_name, service, status, consumption_limit)
        return App.from_wire(await self._client.request("POST", "/v1/app", json=body))

    async def update(
        self,
        app_id: str,
        *,
        app_name: str = NOT_GIVEN,
        status: str = NOT_GIVEN,
        consumption_limit: int | None = NOT_GIVEN,
        service: Sequence[ServiceParam] = NOT_GIVEN,
    ) -> App:
        body = _update_body(
            app_id,
            app_name=app_name,
            status=status,
            consumption_limit=consumption_limit,
            service=service,
        )
        return App.from_wire(await self._client.request("PATCH", "/v1/app", json=body))

    async def delete(self, app_id: str) -> None:
        await self._client.request("DELETE", "/v1/app", params={"app_id": app_id})

    async def get(self, app_id: str) -> App:
        result = await self._client.request("GET", "/v1/app", params={"app_id": app_id})
        return App.from_wire(result)

    async def list(
        self, *, page: int = 1, page_size: int = DEFAULT_APPS_PAGE_SIZE
    ) -> AsyncPage[App]:
        result = await self._client.request("GET", "/v1/apps", params=_page_params(page, page_size))
        return AsyncPage(
            [App.from_wire(a) for a in result["apps"]],
            result["total"],
            result["page"],
            result["page_size"],
            lambda p: self.list(page=p, page_size=page_size),
        )
