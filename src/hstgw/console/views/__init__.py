"""The console's pages, one module per part of it; each registers its handlers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hstgw.console.views import apps, auth, billing, events, online, overview

if TYPE_CHECKING:
    from hstgw.console.app import Console

__all__ = ["register_all"]


def register_all(console: Console) -> None:
    for part in (auth, overview, apps, online, billing, events):
        part.register(console)
