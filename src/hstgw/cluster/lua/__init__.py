"""The cluster's Lua scripts: one ``.lua`` file in this folder per script.

Each file starts with a comment naming its KEYS and ARGV (``<US>`` there is
``hstgw.online.presence.FIELD_SEPARATOR``). They are read once, at
import, the way the schema migrations are (``hstgw.store.migrations``), and handed to
``SharedRedis.script`` by the module that runs them.
"""

from __future__ import annotations

from importlib import resources

__all__ = ["SCRIPTS", "source"]


def _load() -> dict[str, str]:
    found = {}
    for entry in resources.files(__package__).iterdir():
        if entry.name.endswith(".lua"):
            found[entry.name.removesuffix(".lua")] = entry.read_text(encoding="utf-8")
    return found


SCRIPTS: dict[str, str] = _load()


def source(name: str) -> str:
    """The text of ``<name>.lua``; KeyError if there is no such script."""
    return SCRIPTS[name]
