"""Sign-in, sign-out and the language switch."""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING

from hstgw.console.i18n import LANG_COOKIE, LANGS
from hstgw.console.sessions import COOKIE, PRE_COOKIE
from hstgw.console.web import Reply
from hstgw.errors import AuthenticationFailed, SystemBusy

if TYPE_CHECKING:
    from hstgw.console.app import Console, Ctx

__all__ = ["register"]

_YEAR_S = 365 * 86400
_BACK = re.compile(r"/console(/[A-Za-z0-9._~/-]*)?(\?[A-Za-z0-9._~%&=+-]*)?")


def register(console: Console) -> None:
    @console.page("GET", "", signed_in=False)
    async def root(ctx: Ctx) -> Reply:
        return Reply.redirect("/console/overview" if ctx.session else "/console/signin")

    @console.page("GET", "/signin", signed_in=False)
    async def sign_in_form(ctx: Ctx) -> Reply:
        if ctx.session is not None:
            return Reply.redirect("/console/overview")
        fresh = not ctx.csrf
        if fresh:
            ctx.csrf = secrets.token_urlsafe(24)
        reply = ctx.render("signin.html", dev_id="")
        if fresh:
            reply.cookie(PRE_COOKIE, ctx.csrf, ctx.request)
        return reply

    @console.page("POST", "/signin", signed_in=False)
    async def sign_in(ctx: Ctx) -> Reply:
        form = ctx.request.form
        dev_id = form.get("dev_id", "").strip()
        try:
            dev = await ctx.gw.access_tokens.sign_in(
                dev_id, form.get("dev_secret", ""), ctx.request.address
            )
        except AuthenticationFailed:
            return ctx.render("signin.html", 401, dev_id=dev_id, error=ctx.t("signin_failed"))
        except SystemBusy as exc:
            # past the failures' limit, or the successes' (the access_token's, a sign-in
            # being one more credential made from the secret)
            busy = "signin_busy" if "failed" in exc.msg else "signin_many"
            return ctx.render("signin.html", 429, dev_id=dev_id, error=ctx.t(busy))
        reply = Reply.redirect("/console/overview")
        sessions = ctx.console.sessions
        reply.cookie(COOKIE, await sessions.open(dev), ctx.request, max_age=sessions.ttl_s)
        return reply

    @console.page("POST", "/signout")
    async def sign_out(ctx: Ctx) -> Reply:
        assert ctx.session is not None
        await ctx.console.sessions.close(ctx.session)
        reply = Reply.redirect("/console/signin", msg="signed_out")
        reply.cookie(COOKIE, "", ctx.request, max_age=0)
        return reply

    @console.page("POST", "/lang", signed_in=False)
    async def switch_language(ctx: Ctx) -> Reply:
        lang = ctx.request.form.get("lang", "")
        back = ctx.request.form.get("back", "")
        # Only back to a console page (never a redirect elsewhere), and only what a
        # Location header carries as it is (no control character, nothing outside ASCII).
        if not _BACK.fullmatch(back) or "//" in back or "/.." in back:
            back = "/console/signin"
        reply = Reply(status=303, headers=[("location", back)])
        if lang in LANGS:
            reply.cookie(LANG_COOKIE, lang, ctx.request, max_age=_YEAR_S)
        return reply
