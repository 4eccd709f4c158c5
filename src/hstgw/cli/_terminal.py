"""``hstgw terminal``: be a terminal from a shell, one JSON object per line for each event."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from hstgw.cli._apps import check_url
from hstgw.cli._errors import CliError, UsageError

ENV_TOKEN = "HSTGW_TERMINAL_TOKEN"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "terminal",
        help="connect as a terminal and print every event as a JSON line",
        description='Connects as a terminal. Prints {"event": "login", "code": ...} first '
        "(exits 1 if the login is refused), then one line per event: trans_cmd, invite, "
        "invite_reply, message, online_state, and kicked (after which it exits). The token is "
        f"built from --app-secret unless {ENV_TOKEN} is set.",
    )
    p.add_argument("--url", required=True, help="the gateway's REST address (or a ws:// URL)")
    p.add_argument("--app-id", required=True)
    p.add_argument("--app-secret", default="", help=f"builds the login token (or {ENV_TOKEN})")
    p.add_argument("--user-id", required=True)
    p.add_argument("--mutex-type", default="web")
    p.add_argument("--company-id", default="")
    p.add_argument("--client-guid", default=None, help="default: a random one")
    p.add_argument("--force-login", action="store_true")
    p.add_argument("--reconnect", action="store_true", help="reconnect after a lost connection")
    p.set_defaults(run=_run)


def _line(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _run(args: argparse.Namespace) -> int:
    check_url("--url", args.url, ("http", "https", "ws", "wss"))
    token = os.environ.get(ENV_TOKEN) or None
    if token is None:
        if not args.app_secret:
            raise UsageError(f"--app-secret (the app's app_secret) or {ENV_TOKEN} is required")
        if len(args.app_secret.encode()) != 16:
            raise UsageError(
                f"--app-secret: the app's app_secret has 16 characters, not "
                f"{len(args.app_secret.encode())} (hstgw app get shows it)"
            )
    return asyncio.run(_terminal(args, token))


def _unreachable(url: str, exc: Exception) -> CliError:
    import httpx

    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, httpx.HTTPError | OSError | TimeoutError):
        return CliError(f"cannot reach the gateway at {url} ({what}): is it running there?")
    if isinstance(exc, ValueError | KeyError):  # an answer, but not the gateway's
        return CliError(f"{url} did not answer as an hst-gateway ({what}): is --url its address?")
    return CliError(f"cannot open a terminal connection through {url} ({what})")


async def _terminal(args: argparse.Namespace, token: str | None) -> int:
    from websockets.exceptions import WebSocketException

    from hstgw.sdk.terminal import TerminalClient, TerminalLoginError

    client = TerminalClient(
        args.url,
        args.app_id,
        args.user_id,
        app_secret=args.app_secret or None,
        token=token,
        company_id=args.company_id,
        mutex_type=args.mutex_type,
        client_guid=args.client_guid,
        force_login=args.force_login,
        reconnect=args.reconnect,
    )
    try:
        reply = await client.connect()
    except TerminalLoginError as exc:
        _line({"event": "login", "code": exc.code, "msg": exc.msg})
        return 1
    except Exception as exc:
        import httpx

        expected = (httpx.HTTPError, OSError, TimeoutError, ValueError, KeyError)
        if isinstance(exc, (*expected, WebSocketException)):
            raise _unreachable(args.url, exc) from exc
        raise
    _line({"event": "login", "code": reply["code"], "client_guid": client.client_guid})
    try:
        async for event in client.events():
            kind = event.pop("type")
            _line({"event": kind, **event})
            if kind == "kicked":
                return 0
    finally:
        await client.close()
    _line({"event": "closed"})
    return 0
