"""Schema migrations: numbered SQL files in this folder, applied in order once each.

The files are portable SQL shared by every engine; an engine records what it has
applied in ``schema_migrations``. Kept this small on purpose: a handful of
forward-only DDL files need no migration framework.
"""

from __future__ import annotations

import re
from importlib import resources

__all__ = ["Migration", "migrations"]


class Migration:
    def __init__(self, version: int, name: str, sql: str) -> None:
        self.version = version
        self.name = name
        self.sql = sql

    def statements(self, dialect: str = "sqlite") -> list[str]:
        """The file's statements: ``--`` comments dropped, split at ``;``, in ``dialect``.
        A statement after a line ``-- only: <dialect>`` is that dialect's alone (where
        the engines' layouts differ, as their physical designs do)."""
        lines = []
        for line in self.sql.splitlines():
            only = _ONLY.fullmatch(line.strip())
            lines.append(f"{_MARK}{only[1]} " if only else line.split("--", 1)[0])
        code = "\n".join(lines)
        if dialect == "postgresql":
            for portable, native in _POSTGRESQL.items():
                code = code.replace(portable, native)
        found = []
        for statement in (s.strip() for s in code.split(";")):
            if statement.startswith(_MARK):
                target, _, statement = statement[len(_MARK) :].partition(" ")
                if target != dialect:
                    continue
                statement = statement.strip()
            if statement:
                found.append(statement)
        return found


# Where the files are not portable SQL: SQLite's row id column, and its tables clustered
# by their primary key (PostgreSQL's tables are heaps; the key's index serves).
_POSTGRESQL = {"INTEGER PRIMARY KEY": "BIGINT PRIMARY KEY", ") WITHOUT ROWID;": ");"}


_ONLY = re.compile(r"-- only: (sqlite|postgresql)")
_MARK = "\x00only:"


def migrations() -> list[Migration]:
    found = []
    for entry in resources.files(__package__).iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append(Migration(version, entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    return found
