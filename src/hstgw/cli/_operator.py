"""``hstgw serve`` and ``hstgw dev ...``: the operator's commands on a data directory."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hstgw.cli._errors import CliError
from hstgw.cli._output import LIST_JSON_HELP, for_a_person, note, print_json, print_table

if TYPE_CHECKING:
    from hstgw.settings import Settings

_NEEDS_SERVER = "this command needs the server extra: pip install 'hst-gateway[server]'"


def register(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run the gateway (embedded default: SQLite)")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1, HSTGW_HOST)")
    serve.add_argument("--port", type=int, help="port (default 28000, HSTGW_PORT)")
    serve.add_argument(
        "--terminal-port",
        type=int,
        help="terminals' WebSocket port (default 28001, HSTGW_TERMINAL_PORT)",
    )
    serve.add_argument(
        "--event-port",
        type=int,
        help="the event gateway's WebSocket port (default 29200, HSTGW_EVENT_PORT)",
    )
    serve.add_argument(
        "--http-server",
        choices=("hstgw", "granian"),
        help="the REST port's server (default hstgw, HSTGW_HTTP_SERVER); granian only "
        "behind a proxy named in HSTGW_TRUSTED_PROXIES",
    )
    _data_dir(serve)
    serve.set_defaults(run=_serve)

    dev = sub.add_parser("dev", help="manage developers").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    p = dev.add_parser("create", help="create a developer; prints dev_id and dev_secret")
    p.add_argument("--name", default="", help="a label for the operator")
    _data_dir(p)
    _json_flag(p)
    p.set_defaults(run=_dev_create)

    p = dev.add_parser("list", help="list developers (no secrets)")
    _data_dir(p)
    _json_flag(p, LIST_JSON_HELP)
    p.set_defaults(run=_dev_list)

    p = dev.add_parser("reset-secret", help="new dev_secret; revokes the live access_token")
    p.add_argument("dev_id")
    _data_dir(p)
    _json_flag(p)
    p.set_defaults(run=_dev_reset)

    for action, active in (("disable", False), ("enable", True)):
        p = dev.add_parser(action, help=f"{action} a developer")
        p.add_argument("dev_id")
        _data_dir(p)
        p.set_defaults(run=_dev_set_active, active=active)

    node = sub.add_parser("node", help="manage the credentials of usage-reporting nodes")
    node_actions = node.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = node_actions.add_parser("create", help="a new node; prints node_id and node_key (once)")
    p.add_argument("--name", default="", help="a label for the operator")
    _data_dir(p)
    _json_flag(p)
    p.set_defaults(run=_node_create)
    p = node_actions.add_parser("list", help="list nodes (no keys)")
    _data_dir(p)
    _json_flag(p, LIST_JSON_HELP)
    p.set_defaults(run=_node_list)
    p = node_actions.add_parser("revoke", help="revoke a node's key")
    p.add_argument("node_id")
    _data_dir(p)
    p.set_defaults(run=_node_revoke)


def _data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="data directory (default ./hstgw-data, HSTGW_DATA_DIR)")


def _json_flag(p: argparse.ArgumentParser, help: str = "print exactly one JSON value") -> None:
    p.add_argument("--json", action="store_true", help=help)


def _settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    from pydantic import ValidationError

    from hstgw.settings import Settings

    if getattr(args, "data_dir", None):
        overrides["data_dir"] = args.data_dir
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        msg = err["msg"].removeprefix("Value error, ")
        if err["loc"]:
            field = str(err["loc"][0])
            msg = f"{field} (HSTGW_{field.upper()}): {msg}"
        raise CliError(msg) from None


def _server_available() -> bool:
    try:
        import httptools  # noqa: F401
        import pydantic_settings  # noqa: F401
    except ImportError:
        return False
    return True


def _serve(args: argparse.Namespace) -> int:
    if not _server_available():
        raise CliError(_NEEDS_SERVER)
    from hstgw.server import serve

    settings = _settings(
        args,
        host=args.host,
        port=args.port,
        terminal_port=args.terminal_port,
        event_port=args.event_port,
        http_server=args.http_server,
    )
    if settings.http_server == "granian" and importlib.util.find_spec("granian") is None:
        from hstgw.serving.granian import MISSING

        raise CliError(MISSING)
    if not serve(settings):
        raise CliError(
            "the gateway did not start, or stopped on an error: the log lines above say why"
        )
    return 0


def _with_store(args: argparse.Namespace, work: Any, *, create: bool = False) -> Any:
    """Run ``work(store)`` on the data directory's store, beside a running server.

    The embedded store must exist (a mistyped --data-dir is not a new, empty
    gateway) unless ``create``: then a new one is made, and the operator told.
    """
    if not _server_available():
        raise CliError(_NEEDS_SERVER)
    from hstgw.store import open_store

    settings = _settings(args)
    fresh = not settings.database_url and not settings.sqlite_path.exists()
    if fresh and not create:
        raise CliError(
            f"{settings.data_dir}: no gateway data here ({settings.sqlite_path.name} not found): "
            "give the gateway's data directory with --data-dir or HSTGW_DATA_DIR "
            "(hstgw dev create makes a new one)"
        )

    async def run() -> Any:
        store = open_store(settings)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    result = asyncio.run(run())
    if fresh:
        note(f"made a new, empty gateway data directory: {settings.data_dir.resolve()}")
    return result


def _with_developers(args: argparse.Namespace, work: Any, *, create: bool = False) -> Any:
    if not _server_available():  # before importing what needs it
        raise CliError(_NEEDS_SERVER)
    from hstgw.developers import Developers

    return _with_store(args, lambda store: work(Developers(store)), create=create)


def _with_nodes(args: argparse.Namespace, work: Any, *, create: bool = False) -> Any:
    if not _server_available():  # before importing what needs it
        raise CliError(_NEEDS_SERVER)
    from hstgw.billing.nodes import Nodes
    from hstgw.ids import now_ms

    return _with_store(args, lambda store: work(Nodes(store, now_ms)), create=create)


def _show(args: argparse.Namespace, fields: dict[str, str]) -> None:
    """New credentials: one JSON object, or aligned ``key: value`` lines."""
    if args.json:
        print_json(fields)
        return
    width = max(len(k) for k in fields) + 2
    for key, value in fields.items():
        sys.stdout.write(f"{key + ':':<{width}}{value}\n")


def _show_rows(args: argparse.Namespace, id_key: str, items: list[Any], noun: str) -> None:
    """Developers or nodes, without their secrets: a table, or JSON."""
    rows = [
        {id_key: getattr(i, id_key), "name": i.name, "status": i.status,
         "created_at": _time(i.created_at)}
        for i in items
    ]  # fmt: skip
    if not for_a_person(args):
        print_json(rows)
        return
    columns = [id_key, "status", "created_at", "name"]
    print_table(columns, [[r[c] for c in columns] for r in rows], f"{noun}: {len(rows)}")


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _node_create(args: argparse.Namespace) -> int:
    node, key = _with_nodes(args, lambda nodes: nodes.create(args.name), create=True)
    _show(args, {"node_id": node.node_id, "node_key": key})
    return 0


def _node_list(args: argparse.Namespace) -> int:
    _show_rows(args, "node_id", _with_nodes(args, lambda nodes: nodes.list()), "nodes")
    return 0


def _node_revoke(args: argparse.Namespace) -> int:
    if not _with_nodes(args, lambda nodes: nodes.revoke(args.node_id)):
        raise CliError(f"node_id: no node {args.node_id} (hstgw node list shows them)")
    sys.stdout.write(f"{args.node_id} revoked\n")
    return 0


def _dev_create(args: argparse.Namespace) -> int:
    dev = _with_developers(args, lambda devs: devs.create(args.name), create=True)
    _show(args, {"dev_id": dev.dev_id, "dev_secret": dev.secret})
    return 0


def _dev_list(args: argparse.Namespace) -> int:
    _show_rows(args, "dev_id", _with_developers(args, lambda devs: devs.list()), "developers")
    return 0


def _dev_reset(args: argparse.Namespace) -> int:
    from hstgw.developers import UnknownDeveloper

    try:
        secret = _with_developers(args, lambda devs: devs.reset_secret(args.dev_id))
    except UnknownDeveloper:
        raise CliError(f"dev_id: no developer {args.dev_id} (hstgw dev list shows them)") from None
    _show(args, {"dev_id": args.dev_id, "dev_secret": secret})
    return 0


def _dev_set_active(args: argparse.Namespace) -> int:
    from hstgw.developers import UnknownDeveloper

    try:
        _with_developers(args, lambda devs: devs.set_active(args.dev_id, args.active))
    except UnknownDeveloper:
        raise CliError(f"dev_id: no developer {args.dev_id} (hstgw dev list shows them)") from None
    sys.stdout.write(f"{args.dev_id} {'enabled' if args.active else 'disabled'}\n")
    return 0
