"""``hstgw``: the operator's and the developer's command line.

``serve``, ``dev`` and ``node`` act on a data directory and need the server
extra; ``app`` and ``token`` need only the SDK. Output is JSON on stdout where a
program reads it; errors go to stderr with a non-zero exit.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hstgw import __version__
from hstgw.cli import _apps, _operator, _records, _terminal, _token

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hstgw", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"hstgw {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _operator.register(sub)
    _token.register(sub)
    _apps.register(sub)
    _records.register(sub)
    _terminal.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
