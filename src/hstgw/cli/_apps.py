"""``hstgw app ...``: the app API through the SDK, printing JSON."""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable
from typing import Any

from hstgw.cli._errors import CliError, UsageError
from hstgw.cli._output import LIST_JSON_HELP, count, for_a_person, print_json, print_table
from hstgw.sdk import APIConnectionError, App, Client
from hstgw.sdk._constants import DEFAULT_BASE_URL, ENV_BASE_URL, ENV_DEV_ID, ENV_DEV_SECRET


def register(sub: Any) -> None:
    app = sub.add_parser("app", help="manage apps through the REST API").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )

    p = app.add_parser("create", help="create an app")
    p.add_argument("--name", required=True, help="app_name")
    _fields(p, service_required=True)
    p.set_defaults(run=api(_create))

    p = app.add_parser("update", help="change an app (only the options given)")
    p.add_argument("--app-id", required=True)
    p.add_argument("--name", help="app_name")
    _fields(p, service_required=False)
    p.add_argument("--no-consumption-limit", action="store_true", help="remove the limit")
    p.set_defaults(run=api(_update))

    for action, fn in (("get", _get), ("delete", _delete)):
        p = app.add_parser(action, help=f"{action} an app")
        p.add_argument("--app-id", required=True)
        p.set_defaults(run=api(fn))

    p = app.add_parser("list", help="list apps")
    p.add_argument("--page", type=int, default=1)
    p.add_argument("--page-size", type=int, default=20)
    p.add_argument("--all", action="store_true", help="every app, over all pages")
    p.add_argument("--json", action="store_true", help=LIST_JSON_HELP)
    p.set_defaults(run=api(_list))

    for name, p in app.choices.items():
        if name != "list":
            p.add_argument("--json", action="store_true", help="print JSON (always the case)")
        add_credentials(p)


def add_credentials(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("credentials")
    g.add_argument("--base-url", help=f"gateway URL (env {ENV_BASE_URL})")
    g.add_argument("--dev-id", help=f"(env {ENV_DEV_ID})")
    g.add_argument("--dev-secret", help=f"(env {ENV_DEV_SECRET})")


def _fields(p: argparse.ArgumentParser, service_required: bool) -> None:
    p.add_argument("--status", choices=["online", "offline"])
    p.add_argument("--consumption-limit", type=int, help="yuan per calendar month")
    p.add_argument(
        "--service",
        action="append",
        required=service_required,
        metavar="ID[:USE_LIMIT]",
        help="a service (3..9), repeatable; e.g. --service 3 --service 7:1000",
    )


def _services(values: list[str] | None) -> list[dict[str, Any]] | None:
    if values is None:
        return None
    out = []
    for v in values:
        sid, _, limit = v.partition(":")
        try:
            item: dict[str, Any] = {"service_id": int(sid)}
            if limit:
                item["use_limit"] = int(limit)
        except ValueError:
            raise UsageError(f"--service: {v!r} is not ID or ID:USE_LIMIT, e.g. 7:1000") from None
        out.append(item)
    return out


def _app(app: App) -> dict[str, Any]:
    out = dataclasses.asdict(app)
    out["service"] = [dataclasses.asdict(s) for s in app.service]
    return out


def check_url(option: str, url: str, schemes: tuple[str, ...] = ("http", "https")) -> None:
    """A URL the command will connect to has one of ``schemes``, or a usage error."""
    scheme, sep, rest = url.partition("://")
    if not sep or not rest:
        raise UsageError(f"{option}: {url!r} has no scheme: write {schemes[0]}://{url}")
    if scheme not in schemes:
        wanted = " or ".join(f"{s}://" for s in schemes)
        raise UsageError(f"{option}: {url!r} must start with {wanted}")


def api(fn: Callable[[Client, argparse.Namespace], Any]) -> Callable[[argparse.Namespace], int]:
    """Run ``fn`` with a client; it prints what it returns (None: it printed already)."""

    def run(args: argparse.Namespace) -> int:
        url = args.base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL
        check_url("--base-url" if args.base_url else ENV_BASE_URL, url)
        try:
            with Client(args.base_url, args.dev_id, args.dev_secret) as client:
                result = fn(client, args)
        except APIConnectionError as exc:
            raise CliError(
                f"cannot reach the gateway at {url} ({exc}): is it running there? "
                f"(--base-url or {ENV_BASE_URL})"
            ) from exc
        if result is not None:
            print_json(result)
        return 0

    return run


def _create(client: Client, args: argparse.Namespace) -> Any:
    kwargs: dict[str, Any] = {"status": args.status}
    if args.consumption_limit is not None:
        kwargs["consumption_limit"] = args.consumption_limit
    return _app(client.apps.create(args.name, _services(args.service) or [], **kwargs))


def _update(client: Client, args: argparse.Namespace) -> Any:
    kwargs: dict[str, Any] = {}
    if args.name is not None:
        kwargs["app_name"] = args.name
    if args.status is not None:
        kwargs["status"] = args.status
    if args.no_consumption_limit:
        kwargs["consumption_limit"] = None
    elif args.consumption_limit is not None:
        kwargs["consumption_limit"] = args.consumption_limit
    if args.service is not None:
        kwargs["service"] = _services(args.service)
    return _app(client.apps.update(args.app_id, **kwargs))


def _get(client: Client, args: argparse.Namespace) -> Any:
    return _app(client.apps.get(args.app_id))


def _delete(client: Client, args: argparse.Namespace) -> Any:
    client.apps.delete(args.app_id)
    return {"deleted": args.app_id}


def _list(client: Client, args: argparse.Namespace) -> Any:
    page = client.apps.list(page=args.page, page_size=args.page_size)
    if for_a_person(args):
        apps = list(page) if args.all else page.items
        rows = [
            [a.app_id, a.app_name, a.status, [s.service_id for s in a.service],
             a.consumption_limit]
            for a in apps
        ]  # fmt: skip
        shown = count(page.total, "app")
        if len(rows) < page.total:
            shown = f"{len(rows)} of {shown}; --all lists every page"
        columns = ["app_id", "app_name", "status", "services", "consumption_limit"]
        print_table(columns, rows, shown)
        return None
    if args.all:
        return [_app(a) for a in page]
    return {
        "total": page.total,
        "page": page.page,
        "page_size": page.page_size,
        "apps": [_app(a) for a in page.items],
    }
