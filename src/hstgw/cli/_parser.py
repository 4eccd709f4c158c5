"""The argument parser: usage errors as ``UsageError``, and mistyped words named.

argparse prints several lines of usage and exits; ``Parser.error`` raises instead,
so that ``main`` prints one line. ``check_words`` runs before parsing and names an
unknown option or command with its nearest known one (argparse itself suggests
only from Python 3.14, and reports a missing required option first).
"""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Iterator, Sequence

from hstgw.cli._errors import UsageError

__all__ = ["Parser", "check_words", "leaves", "subcommands"]

_NUMBER = re.compile(r"-\d")


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parser's subcommands by name (empty for a leaf)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every parser of the tree with its command path, the root first."""
    yield path, parser
    for name, sub in subcommands(parser).items():
        yield from leaves(sub, (*path, name))


def options(parser: argparse.ArgumentParser) -> list[str]:
    return [o for a in parser._actions for o in a.option_strings]


def _suggest(word: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def check_words(root: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """Raise ``UsageError`` for the first unknown command or option in ``argv``."""
    parser = root
    for word in argv:
        if word == "--":
            return
        subs = subcommands(parser)
        if word.startswith("-") and not _NUMBER.match(word):
            flag = word.split("=", 1)[0]
            known = options(parser)
            if flag in known or (flag.startswith("--") and any(k.startswith(flag) for k in known)):
                continue
            raise UsageError(
                f"{parser.prog}: {flag}: unknown option{_suggest(flag, known)} "
                f"(see {parser.prog} --help)"
            )
        if subs:
            if word not in subs:
                raise UsageError(
                    f"{parser.prog}: {word}: unknown command{_suggest(word, list(subs))} "
                    f"(see {parser.prog} --help)"
                )
            parser = subs[word]
