"""``hstgw token build``: make a 001 token, as the platform's TokenGenerator does."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hstgw.cli._errors import UsageError
from hstgw.tokens import fsp  # fsp.build looked up per call: a test replaces it


def register(sub: Any) -> None:
    token = sub.add_parser("token", help="build 001 tokens").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    p = token.add_parser("build", help="print a 001 token")
    p.add_argument("--id", required=True, help="dev_id (for /access/token) or app_id")
    p.add_argument("--secret", required=True, help="the 16-character secret of that id")
    p.add_argument("--uid", help="user id (terminal tokens)")
    p.add_argument("--gid", help="group id")
    p.add_argument("--expire", type=int, help="expiry, epoch seconds")
    p.set_defaults(run=_build)


def _build(args: argparse.Namespace) -> int:
    try:
        token = fsp.build(args.id, args.secret, gid=args.gid, uid=args.uid, expire=args.expire)
    except fsp.TokenError as exc:
        raise UsageError(f"--secret: {exc.reason}") from None
    sys.stdout.write(token + "\n")
    return 0
