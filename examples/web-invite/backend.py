"""The web-invite example's backend: the smallest app server a developer would copy.

It holds the app secret (the browser never does), mints a 001 token for each page
(``terminal_token``), sends invites and trans-cmds through the REST API, and hears
the invite replies on the event gateway (event 20903). Only the Python standard
library and the hst-gateway SDK.

    HSTGW_BASE_URL=http://127.0.0.1:28000 HSTGW_DEV_ID=... HSTGW_DEV_SECRET=... \\
        python examples/web-invite/backend.py        # then open http://127.0.0.1:8000/?user=alice

Without APP_ID and APP_SECRET it makes an app ("web_invite", online service 7).
A real backend mints tokens only for the user its own login says the page belongs to;
this one trusts the page, to stay short.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import mimetypes
import os
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hstgw.sdk import AsyncClient, Client, HstgwError, terminal_token

HERE = Path(__file__).resolve().parent
SDK_DIR = HERE.parent.parent / "clients" / "js" / "dist"  # `npm run build` in clients/js
PAGES = {"/": HERE / "index.html", "/app.js": HERE / "app.js"}


class Backend:
    def __init__(
        self, credentials: tuple[str, str, str], app_id: str, app_secret: str, public_url: str
    ) -> None:
        self.credentials = credentials  # base_url, dev_id, dev_secret
        self.client = Client(*credentials)
        self.app_id = app_id
        self.app_secret = app_secret
        self.public_url = public_url  # the gateway's REST address, as a browser reaches it
        self.replies: list[dict[str, Any]] = []  # the invite replies heard (20903)
        self.sessions: dict[str, int] = {}  # tokens minted, per user
        self._seq_ids = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._listener = threading.Thread(target=self._run)

    # what the page asks for

    def session(self, user_id: str) -> dict[str, Any]:
        token = terminal_token(self.app_id, self.app_secret, user_id)
        self.sessions[user_id] = self.sessions.get(user_id, 0) + 1
        return {"app_id": self.app_id, "user_id": user_id, "url": self.public_url, "token": token}

    def invite(self, group_id: str, user_ids: list[str]) -> dict[str, Any]:
        seq_id = next(self._seq_ids)
        unreached = self.client.online.invite(self.app_id, group_id, user_ids, seq_id)
        return {"seq_id": seq_id, "unreached": unreached}

    def trans_cmd(self, user_id: str, trans_mess: dict[str, Any]) -> dict[str, Any]:
        results = self.client.online.trans_cmd(self.app_id, trans_mess, [(user_id, "web")])
        return {"delivered": sum(r.result == 0 for r in results)}

    # hearing the replies (the event gateway, with the async client, in a thread)

    def start(self) -> None:
        self._listener.start()

    def stop(self) -> None:
        def cancel() -> None:  # (in the loop's thread)
            for task in asyncio.all_tasks(self._loop):
                task.cancel()

        self._loop.call_soon_threadsafe(cancel)
        self._listener.join(10)

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._hear())
        except asyncio.CancelledError:
            pass  # stop()
        except HstgwError as exc:  # e.g. the app was deleted: say so, the pages stay served
            print(f"events: stopped listening: {exc}", flush=True)
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    async def _hear(self) -> None:
        async with AsyncClient(*self.credentials) as events_client:
            async for event in events_client.events([self.app_id]):
                if event.get("id") == 20903:  # a user replied to the backend's invite
                    print("invite reply:", json.dumps(event), flush=True)
                    self.replies.append(event)


def fields(raw: bytes, *names: str) -> list[Any]:
    """The named fields of a JSON object body; a ValueError naming what is wrong (a 400)."""
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise ValueError("body: not JSON") from None
    if not isinstance(body, dict):
        raise ValueError("body: must be a JSON object")
    missing = [name for name in names if name not in body]
    if missing:
        raise ValueError(f"{missing[0]}: required")
    return [body[name] for name in names]


def inside(root: Path, name: str) -> Path | None:
    """The file ``name`` under ``root``; None if it leads out (``..``, or ``/etc/passwd``,
    which a path join would take as it is)."""
    base = root.resolve()
    path = (base / name).resolve()
    return path if path.is_relative_to(base) else None


def handler_for(backend: Backend, sdk_dir: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/api/session":
                user_id = parse_qs(url.query).get("user_id", [""])[0]
                self._json(lambda: backend.session(user_id))
            elif url.path == "/api/replies":
                self._json(lambda: {"replies": backend.replies})
            elif url.path in PAGES:
                self._file(PAGES[url.path])
            elif url.path.startswith("/sdk/"):
                self._file(inside(sdk_dir, url.path.removeprefix("/sdk/")))
            else:
                self.send_error(HTTPStatus.NOT_FOUND)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", 0)))
            if self.path == "/api/invite":
                self._json(lambda: backend.invite(*fields(raw, "group_id", "user_ids")))
            elif self.path == "/api/trans-cmd":
                self._json(lambda: backend.trans_cmd(*fields(raw, "user_id", "trans_mess")))
            else:
                self.send_error(HTTPStatus.NOT_FOUND)

        def _json(self, make: Any) -> None:
            try:
                out, status = make(), HTTPStatus.OK
            except (HstgwError, ValueError) as exc:
                out, status = {"error": str(exc)}, HTTPStatus.BAD_REQUEST
            self._send(status, json.dumps(out).encode(), "application/json")

        def _file(self, path: Path | None) -> None:
            if path is None or not path.is_file():
                self.send_error(HTTPStatus.NOT_FOUND)
                return
            kind = "text/javascript" if path.suffix == ".js" else mimetypes.guess_type(path)[0]
            self._send(HTTPStatus.OK, path.read_bytes(), kind or "application/octet-stream")

        def _send(self, status: HTTPStatus, data: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet

    return Handler


def make_server(
    backend: Backend, host: str, port: int, sdk_dir: Path = SDK_DIR
) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), handler_for(backend, sdk_dir))


def main() -> None:
    env = os.environ
    credentials = (env["HSTGW_BASE_URL"], env["HSTGW_DEV_ID"], env["HSTGW_DEV_SECRET"])
    app_id, app_secret = env.get("APP_ID"), env.get("APP_SECRET")
    if not (app_id and app_secret):
        with Client(*credentials) as client:
            app = client.apps.create("web_invite", [7], status="online")
        app_id, app_secret = app.app_id, app.app_secret
        print(f"made app {app_id} (APP_ID={app_id} APP_SECRET={app_secret} to reuse it)")
    public_url = env.get("PUBLIC_GATEWAY_URL", credentials[0])
    backend = Backend(credentials, app_id, app_secret, public_url)
    backend.start()
    port = int(os.environ.get("PORT", "8000"))
    print(f"open http://127.0.0.1:{port}/?user=alice and http://127.0.0.1:{port}/?user=bob")
    make_server(backend, "127.0.0.1", port).serve_forever()


if __name__ == "__main__":
    main()
