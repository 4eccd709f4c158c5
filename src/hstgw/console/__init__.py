"""The developer console: pages for a developer, served under /console (docs/console.md)."""

from hstgw.console.app import PREFIX, Console

__all__ = ["PREFIX", "Console"]
