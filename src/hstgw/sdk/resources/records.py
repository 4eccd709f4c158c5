"""``client.records``: billing records and monthly summaries."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from hstgw.sdk._constants import DEFAULT_PAGE_SIZE
from hstgw.sdk._models import Record, Summary
from hstgw.sdk._pagination import AsyncPage, SyncPage

if TYPE_CHECKING:
    from hstgw.sdk._client import AsyncClient, Client

__all__ = ["AsyncRecords", "Records", "TimeParam"]

# epoch milliseconds, or an aware datetime
TimeParam = int | datetime


def _ms(t: TimeParam) -> int:
    if isinstance(t, datetime):
        if t.tzinfo is None:
            raise ValueError("give an aware datetime (with a time zone) or epoch milliseconds")
        return int(t.timestamp() * 1000)
    return int(t)


def _params(
    start: TimeParam, end: TimeParam, app_id: str | None, page: int, page_size: int
) -> dict[str, Any]:
    return {
        "start_time": _ms(start),
        "end_time": _ms(end),
        "app_id": app_id,
        "page": page,
        "page_size": page_size,
    }


class Records:
    def __init__(self, client: Client) -> None:
        self._client = client

    def list(
        self,
        start_time: TimeParam,
        end_time: TimeParam,
        *,
        app_id: str | None = None,
        page: int = 1,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> SyncPage[Record]:
        """Records whose start_time lies in [start_time, end_time]; iterate for all pages."""
        result = self._client.request(
            "GET",
            "/v1/consuming/records",
            params=_params(start_time, end_time, app_id, page, page_size),
        )
        return SyncPage(
            [Record.from_wire(r) for r in result["records"]],
            result["total"],
            result["page"],
            result["page_size"],
            lambda p: self.list(start_time, end_time, app_id=app_id, page=p, page_size=page_size),
        )

    def summary(self, month: str, *, app_id: str | None = None) -> Summary:
        """Totals per app and charge term for ``month`` (``YYYY-MM``)."""
        params = {"month": month, "app_id": app_id}
        return Summary.from_wire(
            self._client.request("GET", "/v1/consuming/summary", params=params)
        )


class AsyncRecords:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def list(
        self,
        start_time: TimeParam,
        end_time: TimeParam,
        *,
        app_id: str | None = None,
        page: int = 1,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncPage[Record]:
        result = await self._client.request(
            "GET",
            "/v1/consuming/records",
            params=_params(start_time, end_time, app_id, page, page_size),
        )
        return AsyncPage(
            [Record.from_wire(r) for r in result["records"]],
            result["total"],
            result["page"],
            result["page_size"],
            lambda p: self.list(start_time, end_time, app_id=app_id, page=p, page_size=page_size),
        )

    async def summary(self, month: str, *, app_id: str | None = None) -> Summary:
        params = {"month": month, "app_id": app_id}
        result = await self._client.request("GET", "/v1/consuming/summary", params=params)
        return Summary.from_wire(result)
