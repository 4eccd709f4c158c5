"""Paged lists as page objects: iterate one for every item of every page."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["AsyncPage", "SyncPage"]

T = TypeVar("T")


@dataclass
class _PageBase(Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int

    def has_next_page(self) -> bool:
        return bool(self.items) and self.page * self.page_size < self.total


@dataclass
class SyncPage(_PageBase[T]):
    _fetch: Callable[[int], SyncPage[T]] = field(repr=False)

    def next_page(self) -> SyncPage[T]:
        return self._fetch(self.page + 1)

    def iter_pages(self) -> Iterator[SyncPage[T]]:
        page: SyncPage[T] = self
        yield page
        while page.has_next_page():
            page = page.next_page()
            yield page

    def __iter__(self) -> Iterator[T]:
        for page in self.iter_pages():
            yield from page.items


@dataclass
class AsyncPage(_PageBase[T]):
    _fetch: Callable[[int], Awaitable[AsyncPage[T]]] = field(repr=False)

    async def next_page(self) -> AsyncPage[T]:
        return await self._fetch(self.page + 1)

    async def iter_pages(self) -> AsyncIterator[AsyncPage[T]]:
        page: AsyncPage[T] = self
        yield page
        while page.has_next_page():
            page = await page.next_page()
            yield page

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.iter_pages():
            for item in page.items:
                yield item
