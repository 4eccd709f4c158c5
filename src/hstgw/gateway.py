"""The composition root: one object holding the store and the business services.

It imports no web framework; ``hstgw.api`` wraps it for HTTP.
"""

from __future__ import annotations

from collections.abc import Callable

from hstgw.apps import Apps
from hstgw.developers import Developers
from hstgw.ids import now_ms
from hstgw.settings import Settings
from hstgw.store import Store, open_store
from hstgw.tokens.access import AccessTokens

__all__ = ["Gateway"]


class Gateway:
    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.settings = settings
        self.store = store or open_store(settings, serving=True)
        self.clock = clock
        self.access_tokens = AccessTokens(
            self.store,
            ttl_s=settings.access_token_ttl,
            token_max_age_s=settings.token_max_age,
            token_future_skew_s=settings.token_future_skew,
            clock=clock,
            cache_ttl_s=settings.auth_cache_ttl,
        )
        self.apps = Apps(self.store, clock)
        self.developers = Developers(self.store, clock)

    async def start(self) -> None:
        await self.store.open()

    async def stop(self) -> None:
        await self.store.close()
