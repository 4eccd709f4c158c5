"""``hstgw webhooks create|list|delete|rotate-secret|deliveries|redeliver``: webhook
endpoints through the SDK (tables on a terminal, JSON otherwise)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from hstgw.cli._apps import add_credentials, api, check_url
from hstgw.cli._errors import UsageError
from hstgw.cli._output import LIST_JSON_HELP, count, for_a_person, print_table
from hstgw.sdk import Client, Webhook

__all__ = ["register"]


def register(sub: Any) -> None:
    hooks = sub.add_parser(
        "webhooks", help="webhook endpoints and their deliveries"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    p = hooks.add_parser("create", help="register an endpoint (prints its secret once)")
    p.add_argument("--url", required=True, help="http:// or https:// URL to POST events to")
    p.add_argument("--app-id", help="one app's events (default: every app of yours)")
    p.add_argument(
        "--event-id", action="append", type=int, metavar="ID",
        help="only this event id, repeatable (default: every event)",
    )  # fmt: skip
    p.set_defaults(run=api(_create))

    p = hooks.add_parser("list", help="list endpoints")
    p.add_argument("--page", type=int, default=1)
    p.add_argument("--page-size", type=int, default=20)
    p.add_argument("--all", action="store_true", help="every endpoint, over all pages")
    p.set_defaults(run=api(_list))

    for action, fn, what in (
        ("delete", _delete, "delete an endpoint"),
        ("rotate-secret", _rotate, "a new secret (the old one signs too for a while)"),
    ):
        p = hooks.add_parser(action, help=what)
        p.add_argument("--webhook-id", required=True)
        p.set_defaults(run=api(fn))

    p = hooks.add_parser("deliveries", help="an endpoint's delivery log, newest first")
    p.add_argument("--webhook-id", required=True)
    p.add_argument("--app-id")
    p.add_argument("--page", type=int, default=1)
    p.add_argument("--page-size", type=int, default=20)
    p.set_defaults(run=api(_deliveries))

    p = hooks.add_parser("redeliver", help="resume a failing endpoint, or deliver again")
    p.add_argument("--webhook-id", required=True)
    p.add_argument("--app-id")
    p.add_argument("--from-version", type=int, help="deliver again from this version on")
    p.set_defaults(run=api(_redeliver))

    for name, p in hooks.choices.items():
        json_help = LIST_JSON_HELP if name in ("list", "deliveries") else "print JSON"
        p.add_argument("--json", action="store_true", help=json_help)
        add_credentials(p)


def _hook(hook: Webhook) -> dict[str, Any]:
    out = dataclasses.asdict(hook)
    out["event_ids"] = list(hook.event_ids)
    if hook.secret is None:
        del out["secret"]
    return out


def _create(client: Client, args: argparse.Namespace) -> Any:
    if not args.url.startswith(("http://", "https://")):
        check_url("--url", args.url)  # the usage error that says what to write
    if args.event_id is not None and not args.event_id:
        raise UsageError("--event-id: give at least one")
    hook = client.webhooks.create(args.url, app_id=args.app_id, event_ids=args.event_id)
    return _hook(hook)


def _list(client: Client, args: argparse.Namespace) -> Any:
    page = client.webhooks.list(page=args.page, page_size=args.page_size)
    hooks = list(page) if args.all else page.items
    if for_a_person(args):
        rows = [
            [h.webhook_id, h.url, h.app_id or "(every app)", list(h.event_ids) or "all", h.status]
            for h in hooks
        ]
        shown = count(page.total, "webhook")
        if len(rows) < page.total:
            shown = f"{len(rows)} of {shown}; --all lists every page"
        print_table(["webhook_id", "url", "app_id", "event_ids", "status"], rows, shown)
        return None
    if args.all:
        return [_hook(h) for h in hooks]
    return {
        "total": page.total,
        "page": page.page,
        "page_size": page.page_size,
        "webhooks": [_hook(h) for h in hooks],
    }


def _delete(client: Client, args: argparse.Namespace) -> Any:
    client.webhooks.delete(args.webhook_id)
    return {"deleted": args.webhook_id}


def _rotate(client: Client, args: argparse.Namespace) -> Any:
    return _hook(client.webhooks.rotate_secret(args.webhook_id))


def _deliveries(client: Client, args: argparse.Namespace) -> Any:
    page = client.webhooks.deliveries(
        args.webhook_id, app_id=args.app_id, page=args.page, page_size=args.page_size
    )
    if for_a_person(args):
        columns = ["version", "event_id", "status", "attempts", "latency_ms", "response_code",
                   "last_error", "updated_at"]  # fmt: skip
        rows = [[getattr(d, c) for c in columns] for d in page.items]
        print_table(columns, rows, count(page.total, "delivery").replace("ys", "ies"))
        return None
    return {
        "total": page.total,
        "page": page.page,
        "page_size": page.page_size,
        "deliveries": [dataclasses.asdict(d) for d in page.items],
    }


def _redeliver(client: Client, args: argparse.Namespace) -> Any:
    done = client.webhooks.redeliver(
        args.webhook_id, app_id=args.app_id, from_version=args.from_version
    )
    return dataclasses.asdict(done)
