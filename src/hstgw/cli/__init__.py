"""``hstgw``: the operator's and the developer's command line.

``serve``, ``dev`` and ``node`` act on a data directory and need the server
extra; ``app`` and ``token`` need only the SDK. Output is JSON on stdout where a
program reads it, tables where a person does; an error is one line on stderr
(``_output``) with exit status 2 for a usage error, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from hstgw import __version__
from hstgw.cli import (
    _apps,
    _completion,
    _events,
    _operator,
    _records,
    _terminal,
    _token,
    _webhooks,
)
from hstgw.cli._errors import explain
from hstgw.cli._output import print_error
from hstgw.cli._parser import Parser, check_words, leaves, subcommands

__all__ = ["build_parser", "main", "subcommands"]

_DEBUG_HELP = "on an unexpected error, print its traceback (or HSTGW_LOG_LEVEL=debug)"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="hstgw", description=__doc__.splitlines()[0].replace("``", ""))
    parser.add_argument("--version", action="version", version=f"hstgw {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _operator.register(sub)
    _token.register(sub)
    _apps.register(sub)
    _records.register(sub)
    _terminal.register(sub)
    _events.register(sub)
    _webhooks.register(sub)
    _completion.register(sub, parser)
    for _path, p in leaves(parser):
        if not subcommands(p):
            p.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    return parser


def _debug(argv: Sequence[str]) -> bool:
    return "--debug" in argv or os.environ.get("HSTGW_LOG_LEVEL", "").lower() == "debug"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    words = argv[: argv.index("--")] if "--" in argv else argv
    json_asked = "--json" in words
    try:
        parser = build_parser()
        check_words(parser, words)
        args = parser.parse_args(argv)
        code: int = args.run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the one boundary: every error becomes one line
        if _debug(words):
            traceback.print_exc()
        return print_error(explain(exc), json_asked=json_asked)
    return code


if __name__ == "__main__":
    sys.exit(main())
