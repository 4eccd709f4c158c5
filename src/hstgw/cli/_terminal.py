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
        "invite_reply, message, online_state, and kicked (after which it exits). With --group "
        "it joins that group right after login and announces each --media, a line each "
        "(exits 1 if one is refused). The token is "
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
    p.add_argument("--group", default="", help="join this group right after login")
    p.add_argument(
        "--media",
        action="append",
        default=[],
        metavar="TYPE:ID",
        help="announce a media in --group (repeatable); TYPE 0 or screen, 1 or audio, "
        "2 or video, 4 or whiteboard",
    )
    p.set_defaults(run=_run)


MEDIA_NAMES = {"screen": 0, "audio": 1, "video": 2, "whiteboard": 4}


def parse_media(value: str) -> tuple[int, str]:
    """``TYPE:ID`` -> (media_type, media_id); UsageError naming --media otherwise."""
    kind, sep, media_id = value.partition(":")
    media_type = MEDIA_NAMES.get(kind, int(kind) if kind in ("0", "1", "2", "4") else None)
    if not sep or media_type is None or not media_id:
        raise UsageError(
            f"--media: {value!r} is not TYPE:ID (TYPE 0 or screen, 1 or audio, 2 or video, "
            "4 or whiteboard)"
        )
    return media_type, media_id


def _line(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _run(args: argparse.Namespace) -> int:
    check_url("--url", args.url, ("http", "https", "ws", "wss"))
    args.media = [parse_media(m) for m in args.media]
    if args.media and not args.group:
        raise UsageError("--media needs --group (the group the media is broadcast in)")
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
        if args.group and not await _join(client, args.group, args.media):
            return 1
        async for event in client.events():
            kind = event.pop("type")
            _line({"event": kind, **event})
            if kind == "kicked":
                return 0
    finally:
        await client.close()
    _line({"event": "closed"})
    return 0


async def _join(client: Any, group_id: str, media: list[tuple[int, str]]) -> bool:
    """Join ``group_id`` and start ``media``, a line for each; False at a refusal."""
    from hstgw.sdk.terminal import TerminalError

    steps: list[tuple[str, dict[str, Any]]] = [("join_group", {"group_id": group_id})]
    steps += [
        ("start_media", {"group_id": group_id, "media_id": m, "media_type": t}) for t, m in media
    ]
    for kind, fields in steps:
        try:
            if kind == "join_group":
                version = await client.join_group(group_id)
            else:
                version = await client.start_media(**fields)
        except TerminalError as exc:
            _line({"event": kind, "code": exc.code, "msg": exc.msg, **fields})
            return False
        _line({"event": kind, "code": 0, **fields, "version": version})
    return True
