"""Apps: what a developer's terminals log in to (seed: 创建/修改/删除应用).

Request and result models live here because they are the contract; the API
layer only parses with them and renders what these functions return.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from hstgw.errors import OperationFailed, ParameterInvalid
from hstgw.ids import new_id, new_secret
from hstgw.services import SERVICES
from hstgw.store import App, AppPatch, AppService, Conflict, LimitReached, Store
from hstgw.validation import INT32_MAX, QUERY_CONFIG, AppId, AppName, Page, PageSize, Range

__all__ = [
    "AppIdQuery",
    "AppListQuery",
    "AppOut",
    "AppPage",
    "Apps",
    "CreateApp",
    "PatchApp",
    "ServiceIn",
    "ServiceOut",
    "app_to_wire",
    "owned_app",
]

INT64_MAX = 2**63 - 1
ServiceIdIn = Annotated[int, Range(min(SERVICES), max(SERVICES))]
UseLimit = Annotated[int, Range(0, INT64_MAX)]
ConsumptionLimit = Annotated[int, Range(0, INT32_MAX)]
Status = Literal["online", "offline"]


class ServiceIn(BaseModel):
    service_id: ServiceIdIn = Field(
        description="3 video, 4 audio, 5 screen share, "
        "6 signaling, 7 online, 8 recording, 9 WeChat mini program"
    )
    use_limit: UseLimit | None = Field(
        default=None, description="Usage limit of the service; null: none"
    )


class CreateApp(BaseModel):
    app_name: AppName
    status: Status = "offline"
    consumption_limit: ConsumptionLimit | None = Field(
        default=None, description="Yuan per calendar month; null: no limit"
    )
    service: list[ServiceIn] = Field(min_length=1, max_length=len(SERVICES))


class PatchApp(BaseModel):
    app_id: AppId
    app_name: AppName | None = None
    status: Status | None = None
    consumption_limit: ConsumptionLimit | None = None
    service: list[ServiceIn] | None = Field(default=None, min_length=1, max_length=len(SERVICES))


class AppIdQuery(BaseModel):
    model_config = QUERY_CONFIG
    app_id: AppId


class AppListQuery(BaseModel):
    model_config = QUERY_CONFIG
    page: Page = 1
    page_size: PageSize = 20


class ServiceOut(BaseModel):
    service_id: int
    service_name: str
    use_limit: int | None


class AppOut(BaseModel):
    app_id: str
    app_secret: str
    app_name: str
    status: Status
    consumption_limit: int | None
    service: list[ServiceOut]


class AppPage(BaseModel):
    total: int
    page: int
    page_size: int
    apps: list[AppOut]


def app_to_wire(app: App) -> dict[str, Any]:
    return {
        "app_id": app.app_id,
        "app_secret": app.app_secret,
        "app_name": app.app_name,
        "status": app.status,
        "consumption_limit": app.consumption_limit,
        "service": [
            {
                "service_id": s.service_id,
                "service_name": SERVICES[s.service_id],
                "use_limit": s.use_limit,
            }
            for s in app.services
        ],
    }


def _services(given: Sequence[ServiceIn]) -> tuple[AppService, ...]:
    seen: set[int] = set()
    for i, s in enumerate(given):
        if s.service_id in seen:
            raise ParameterInvalid(f"service[{i}].service_id", f"duplicate {s.service_id}")
        seen.add(s.service_id)
    return tuple(AppService(s.service_id, s.use_limit) for s in given)


def _no_such_app() -> ParameterInvalid:
    # Another developer's app is indistinguishable from one that never existed.
    return ParameterInvalid("app_id", "no such app")


async def owned_app(store: Store, dev_id: str, app_id: str) -> App:
    """``dev_id``'s app ``app_id``: what every service acting on an app checks first."""
    app = await store.get_app(dev_id, app_id)
    if app is None:
        raise _no_such_app()
    return app


# Told of every change: the app after it (None once deleted) and its id.
AppListener = Callable[[App | None, str], None]


class Apps:
    def __init__(
        self,
        store: Store,
        clock: Callable[[], int],
        listeners: Sequence[AppListener] = (),
        max_apps: int = 0,
    ) -> None:
        """``max_apps``: the apps a developer may hold at once (0: no limit)."""
        self._store = store
        self._clock = clock
        self._listeners = list(listeners)
        self._max_apps = max_apps

    def _changed(self, app: App | None, app_id: str) -> None:
        for listener in self._listeners:
            listener(app, app_id)

    async def create(self, dev_id: str, req: CreateApp) -> App:
        now = self._clock()
        app = App(
            app_id=new_id(),
            dev_id=dev_id,
            app_name=req.app_name,
            app_secret=new_secret(),
            status=req.status,
            consumption_limit=req.consumption_limit,
            services=_services(req.service),
            created_at=now,
            updated_at=now,
        )
        try:
            await self._store.create_app(app, self._max_apps)
        except Conflict as exc:
            raise ParameterInvalid(exc.field, "already used by another app") from None
        except LimitReached as exc:
            raise OperationFailed(
                f"a developer may hold at most {exc.limit} apps; delete one first"
            ) from None
        return app

    async def update(self, dev_id: str, req: PatchApp) -> App:
        given = req.model_fields_set
        patch = AppPatch(
            app_name=req.app_name,
            status=req.status,
            set_consumption_limit="consumption_limit" in given,
            consumption_limit=req.consumption_limit,
            services=None if req.service is None else _services(req.service),
        )
        try:
            app = await self._store.update_app(dev_id, req.app_id, patch, self._clock())
        except Conflict as exc:
            raise ParameterInvalid(exc.field, "already used by another app") from None
        if app is None:
            raise _no_such_app()
        self._changed(app, app.app_id)
        return app

    async def delete(self, dev_id: str, app_id: str) -> None:
        if not await self._store.delete_app(dev_id, app_id, self._clock()):
            raise _no_such_app()
        self._changed(None, app_id)

    async def get(self, dev_id: str, app_id: str) -> App:
        return await owned_app(self._store, dev_id, app_id)

    async def list(self, dev_id: str, page: int, page_size: int) -> tuple[int, list[App]]:
        return await self._store.list_apps(dev_id, (page - 1) * page_size, page_size)
