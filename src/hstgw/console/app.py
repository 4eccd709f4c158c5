"""The console's ASGI application, mounted under ``/console`` on the REST port.

A request is routed by (method, path) like the API's; around every page, in one
place: its session (signed in, still active, secret unchanged), the developer's call
rate (the API's), the CSRF token of every POST, the language, and errors turned into a
page (never a trace). Pages call the gateway's services with the session's dev_id, so
ownership is the services' rule, as for the API.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Environment, PackageLoader

from hstgw.api.route import Receive, Scope, Send
from hstgw.api.wrappers import ClientGone
from hstgw.connections import TrustedProxies
from hstgw.console import static
from hstgw.console.i18n import LANG_COOKIE, LANGS, negotiate, translator
from hstgw.console.sessions import COOKIE, PRE_COOKIE, Session, Sessions
from hstgw.console.web import Reply, Request, query_of, read_request, send_reply
from hstgw.errors import GatewayError, SystemBusy
from hstgw.gateway import Gateway
from hstgw.log import AccessLog
from hstgw.store import Unavailable

__all__ = ["PREFIX", "Console", "Ctx", "Handler"]

PREFIX = "/console"
error_log = logging.getLogger("hstgw.error")


@dataclass(slots=True)
class Ctx:
    """What a page handler gets: the request, its session, and how to answer."""

    console: Console
    request: Request
    lang: str
    session: Session | None
    t: Callable[..., str]
    csrf: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def gw(self) -> Gateway:
        return self.console.gw

    @property
    def dev_id(self) -> str:
        assert self.session is not None
        return self.session.dev_id

    def render(self, template: str, status: int = 200, **values: Any) -> Reply:
        page = self.console.env.get_template(template).render(
            t=self.t,
            lang=self.lang,
            langs=LANGS,
            session=self.session,
            csrf=self.csrf,
            path=self.request.path,
            here=self.request.path
            + ("?" + query_of(self.request.query) if self.request.query else ""),
            flash=self._flash(),
            **values,
        )
        return Reply(page.encode(), status=status)

    def _flash(self) -> str:
        """The note a redirect asked for (``?msg=``): only ours, filled with ``result``
        only if this session's redirect signed it (a link from elsewhere could
        otherwise put its author's words on the console's page)."""
        msg = self.request.arg("msg")
        if msg not in _FLASH:
            return ""
        result = self.request.arg("result")[:2000]
        if result or msg in _WITH_RESULT:
            expected = _sign(self.csrf, msg, result)
            if not expected or not hmac.compare_digest(self.request.arg("sig"), expected):
                return ""
        return self.t(msg, n=result, results=result)

    def redirect(self, location: str, msg: str, result: str = "", **params: str) -> Reply:
        """To ``location`` with the note ``msg`` (filled with ``result``), signed."""
        sig = _sign(self.csrf, msg, result) if result or msg in _WITH_RESULT else ""
        return Reply.redirect(location, **params, msg=msg, result=result, sig=sig)

    async def charge(self, calls: int) -> None:
        """A page doing the work of more API calls than the one every page costs:
        the ``calls`` more, from the developer's rate, as the API would take them."""
        if calls > 0:
            decision = await self.gw.guard.call(self.dev_id, calls)
            if decision is not None and not decision.allowed:
                raise SystemBusy()


Handler = Callable[[Ctx], Awaitable[Reply]]
_FLASH = frozenset(
    {"created", "saved", "deleted", "kicked", "sent", "redelivered", "signed_out", "session_over"}
)
_WITH_RESULT = frozenset({"kicked", "sent"})


def _sign(csrf: str, msg: str, result: str) -> str:
    """A note's MAC under the session's CSRF token (a secret of the session's)."""
    if not csrf:
        return ""  # (no session: nothing signs, nothing verifies)
    mac = hmac.new(csrf.encode(), f"note\0{msg}\0{result}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class _Page:
    handler: Handler
    signed_in: bool


class Console:
    def __init__(
        self, gw: Gateway, proxies: TrustedProxies, access_log: AccessLog | None = None
    ) -> None:
        from hstgw.console.views import register_all  # (the views import this module)

        self.gw = gw
        self._proxies = proxies
        self._access_log = access_log
        self.sessions = Sessions(
            gw.developers.active, gw.store, gw.clock, gw.settings.console_session_ttl
        )
        self.env = Environment(
            loader=PackageLoader("hstgw.console", "templates"),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["yuan"] = static.yuan
        self.env.filters["when"] = lambda ms: static.when(ms, gw.settings.zone)
        self.env.globals["query"] = query_of
        self._files = static.load()
        self._pages: dict[tuple[str, str], _Page] = {}
        register_all(self)

    def page(self, method: str, path: str, signed_in: bool = True) -> Callable[[Handler], Handler]:
        def add(handler: Handler) -> Handler:
            self._pages[(method, PREFIX + path)] = _Page(handler, signed_in)
            return handler

        return add

    def address(self, scope: Scope) -> str:
        peer = (scope.get("client") or ("",))[0]
        forwarded = ",".join(
            v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"
        )
        return self._proxies.client_address(peer, forwarded) if self._proxies else peer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method, path = scope["method"], scope["path"]
        if path.startswith(PREFIX + "/static/") and method in ("GET", "HEAD"):
            reply = static.serve(self._files, path[len(PREFIX) + 8 :])
            await send_reply(send, reply, method == "HEAD")
            return
        try:
            request = await read_request(scope, receive, self._proxies, self.address(scope))
        except ClientGone:
            return
        except GatewayError as exc:  # a form larger than the console takes
            await send_reply(send, Reply(exc.msg.encode(), 413, "text/plain; charset=utf-8"))
            return
        reply = await self._serve(request)
        await send_reply(send, reply, method == "HEAD")
        if self._access_log is not None:
            self._access_log.write(
                {
                    "method": method,
                    "path": path,  # never the query: it may hold a user's id, no secret
                    "status": reply.status,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                }
            )

    async def _serve(self, request: Request) -> Reply:
        lang = negotiate(
            request.cookies.get(LANG_COOKIE), request.headers.get("accept-language", "")
        )
        t = translator(lang)
        method = "GET" if request.method == "HEAD" else request.method
        page = self._pages.get((method, request.path.rstrip("/") or request.path))
        ctx = Ctx(self, request, lang, None, t, request.cookies.get(PRE_COOKIE, ""))
        if page is None:
            return ctx.render("error.html", 404, message=t("not_found"))
        try:
            session = None
            if page.signed_in or COOKIE in request.cookies:
                session = await self.sessions.check(request.cookies.get(COOKIE))
            if session is not None:
                ctx.session, ctx.csrf = session, session.csrf
            elif page.signed_in:
                return self._to_sign_in(request)
            if page.signed_in and session is not None:
                # a page costs the developer one call of its rate, as an API call does
                decision = await self.gw.guard.call(session.dev_id)
                if decision is not None and not decision.allowed:
                    raise SystemBusy()
            if method == "POST" and not _same(request.form.get("csrf", ""), ctx.csrf):
                return ctx.render("error.html", 403, message="csrf: the form's token is missing "
                                  "or stale; reload the page and try again")  # fmt: skip
            reply = await page.handler(ctx)
        except SystemBusy:
            return ctx.render("error.html", 429, message=t("busy"))
        except GatewayError as exc:
            status = 404 if exc.msg.endswith(("no such app", "no such webhook")) else 400
            return ctx.render("error.html", status, message=exc.msg)
        except Unavailable:
            return ctx.render("error.html", 503, message=t("busy"))
        except Exception:
            request_id = secrets.token_hex(8)
            error_log.error("console error\n%s", traceback.format_exc(),
                            extra={"request_id": request_id})  # fmt: skip
            return ctx.render("error.html", 500, message=f"internal error, request id {request_id}")
        return reply

    def _to_sign_in(self, request: Request) -> Reply:
        msg = "session_over" if COOKIE in request.cookies else ""
        if request.headers.get("hx-request"):
            # htmx follows this header with a full navigation (a poll of a dead session)
            return Reply(status=200, headers=[("hx-redirect", f"{PREFIX}/signin?msg={msg}")])
        reply = Reply.redirect(f"{PREFIX}/signin", msg=msg)
        if msg:
            reply.cookie(COOKIE, "", request, max_age=0)
        return reply


def _same(given: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())
