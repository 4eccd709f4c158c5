"""``hstgw events``: follow apps' events from a shell, one JSON object per line."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from hstgw.cli._apps import check_url
from hstgw.cli._errors import CliError, UsageError
from hstgw.sdk._constants import DEFAULT_BASE_URL, ENV_BASE_URL, ENV_DEV_ID, ENV_DEV_SECRET


def register(sub: Any) -> None:
    p = sub.add_parser(
        "events",
        help="follow apps' events from the event gateway, one JSON line each",
        description="Logs in to the event gateway (found through the REST address), "
        "subscribes to the apps and prints every reply and push as one JSON line, the "
        "platform's fields as they are: 20001, 20005, then each app's 20009 (its groups "
        "and version; with --from-version, the events after that version instead), then "
        "the pushes (20100-20104 and ours). It reconnects by itself and resumes from the "
        "last version printed, so no event is missed or printed twice. Ctrl-C ends it.",
    )
    p.add_argument("--app-id", required=True, action="append", help="an app, repeatable")
    p.add_argument(
        "--from-version",
        type=int,
        help="start after this version (replayed from the log) instead of with a snapshot",
    )
    g = p.add_argument_group("credentials")
    g.add_argument(
        "--url", "--base-url", dest="base_url", help=f"the gateway's REST URL (env {ENV_BASE_URL})"
    )
    g.add_argument("--dev-id", help=f"(env {ENV_DEV_ID})")
    g.add_argument("--dev-secret", help=f"(env {ENV_DEV_SECRET})")
    g.add_argument("--events-url", help="the event gateway's ws:// URL (default: asked of --url)")
    p.set_defaults(run=_run)


def _line(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _run(args: argparse.Namespace) -> int:
    url = args.base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL
    check_url("--url" if args.base_url else ENV_BASE_URL, url)
    if args.events_url:
        check_url("--events-url", args.events_url, ("ws", "wss"))
    if args.from_version is not None and args.from_version < 0:
        raise UsageError("--from-version: must be 0 or more")
    return asyncio.run(_follow(args, url))


async def _follow(args: argparse.Namespace, url: str) -> int:
    from hstgw.sdk import APIConnectionError, AsyncClient

    async with AsyncClient(args.base_url, args.dev_id, args.dev_secret) as client:
        try:
            async for message in client.events(
                args.app_id, args.from_version, replies=True, url=args.events_url
            ):
                _line(message)
        except APIConnectionError as exc:
            raise CliError(
                f"cannot reach the gateway at {url} ({exc}): is it running there? "
                f"(--url or {ENV_BASE_URL})"
            ) from exc
    return 0
