"""The console's security: cookie flags, CSRF, sign-in limits, sessions that end,
the Content-Security-Policy, and the operator's switch."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from hstgw.abuse import LocalBuckets
from tests.clocks import ManualClock
from tests.conftest import Dev, Gateway, start_gateway
from tests.console.conftest import Browser, make_app, operator

PAGES = [
    "/console/overview",
    "/console/apps",
    "/console/apps/new",
    "/console/online",
    "/console/events",
    "/console/webhooks",
    "/console/billing",
    "/console/billing/summary",
]


def _cookie(response_header: str) -> dict[str, str]:
    parts = [p.strip() for p in response_header.split(";")]
    return {p.split("=", 1)[0].lower(): ([*p.split("=", 1), ""])[1] for p in parts}


def test_session_cookie_is_httponly_strict_and_not_secure_over_http(
    console_gw: Gateway,
) -> None:
    with Browser(console_gw) as b:
        r = b.sign_in(console_gw.new_dev())
    assert r.status_code == 303
    flags = _cookie(r.headers["set-cookie"])
    assert "hstgw_console" in flags and "httponly" in flags
    assert flags["samesite"] == "Strict" and flags["path"] == "/console"
    assert "secure" not in flags  # plain HTTP: a Secure cookie would never come back
    assert "dev_secret" not in r.headers["location"]


def _sign_in_as_https(gw: Gateway) -> str:
    """Sign in saying X-Forwarded-Proto: https; the session cookie's header. (The test
    speaks plain HTTP, so it hands the Secure pre-sign-in cookie back itself.)"""
    dev = gw.new_dev()
    with Browser(gw) as b:
        proto = {"x-forwarded-proto": "https"}
        r = b.get("/console/signin", headers=proto)
        pre = r.headers["set-cookie"].split(";")[0]
        csrf = re.search(r'name="csrf" value="([^"]*)"', r.text)
        assert csrf is not None
        data = {"dev_id": dev.dev_id, "dev_secret": dev.dev_secret, "csrf": csrf.group(1)}
        r = b.http.post("/console/signin", data=data, headers={**proto, "cookie": pre})
        assert r.status_code == 303
        return r.headers["set-cookie"]


def test_cookie_is_secure_behind_a_trusted_https_proxy(tmp_path: Path) -> None:
    for gw in start_gateway(tmp_path / "a", trusted_proxies=["127.0.0.1"]):
        assert "secure" in _cookie(_sign_in_as_https(gw))
    for gw in start_gateway(tmp_path / "b"):  # an untrusted peer's header is not believed
        assert "secure" not in _cookie(_sign_in_as_https(gw))


def test_a_post_without_its_csrf_token_is_refused(
    console_gw: Gateway, browser_for: Callable[[Dev], Browser]
) -> None:
    b = browser_for(console_gw.new_dev())
    body = {"app_name": "nocsrf", "status": "online", "service_7": "1"}
    for token in ("", "0" * 32):
        r = b.http.post("/console/apps/new", data={**body, "csrf": token})
        assert r.status_code == 403
        assert "csrf" in r.text
    _, page = b.get("/console/apps").status_code, b.get("/console/apps").text
    assert "nocsrf" not in page
    # sign-in too: without the sign-in page's cookie its token means nothing
    dev = console_gw.new_dev()
    with Browser(console_gw) as stranger:
        r = stranger.http.post(
            "/console/signin",
            data={"dev_id": dev.dev_id, "dev_secret": dev.dev_secret, "csrf": "x"},
        )
    assert r.status_code == 403 and "set-cookie" not in r.headers


def test_every_page_has_the_csp_and_no_inline_script_or_style(
    console_gw: Gateway, browser_for: Callable[[Dev], Browser]
) -> None:
    b = browser_for(console_gw.new_dev())
    app_id = make_app(b, "cspapp")
    pages = [
        *PAGES,
        f"/console/app?app_id={app_id}",
        f"/console/app/edit?app_id={app_id}",
        f"/console/app/delete?app_id={app_id}",
        f"/console/online?app_id={app_id}",
        f"/console/events?app_id={app_id}",
    ]
    for path in pages:
        r = b.get(path)
        assert r.status_code == 200, (path, r.text[:300])
        csp = r.headers["content-security-policy"]
        assert (
            "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
        )
        assert "style-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert r.headers["cache-control"] == "no-store"
        html = r.text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path  # inline script
        assert not re.search(r"\son[a-z]+\s*=", html), path  # on* handlers
        assert not re.search(r"\sstyle\s*=", html) and "<style" not in html, path
        assert "<form" not in html or 'name="csrf"' in html


def test_sign_in_failures_fall_under_the_apis_limits(tmp_path: Path) -> None:
    for gw in start_gateway(tmp_path, limit_auth_failures_per_developer=3):
        gw.app.state["gateway"].guard.buckets = LocalBuckets(ManualClock())
        dev = gw.new_dev()
        b = Browser(gw)
        for _ in range(3):
            r = b.sign_in(dev, secret="wrong-secret-xx!")
            assert r.status_code == 401 and "hstgw_console=" not in r.headers.get("set-cookie", "")
        r = b.sign_in(dev)  # the right secret, but the developer is past its failures
        assert r.status_code == 429
        assert "Too many failed sign-ins" in r.text
        # the API's access_token is refused for the same developer, by the same buckets
        body = gw.call("GET", "/access/token", headers={"Authorization": gw.dev_authorization(dev)})
        assert body["code"] == 606000006
        b.close()


def test_a_session_ends_when_the_secret_is_reset_or_the_developer_disabled(
    console_gw: Gateway, browser_for: Callable[[Dev], Browser]
) -> None:
    dev = console_gw.new_dev()
    b = browser_for(dev)
    assert b.get("/console/overview").status_code == 200
    operator(console_gw, lambda devs: devs.reset_secret(dev.dev_id))
    r = b.get("/console/overview")
    assert r.status_code == 303 and r.headers["location"] == "/console/signin?msg=session_over"

    dev2 = console_gw.new_dev()
    b2 = browser_for(dev2)
    assert b2.get("/console/apps").status_code == 200
    operator(console_gw, lambda devs: devs.set_active(dev2.dev_id, False))
    assert b2.get("/console/apps").status_code == 303
    assert b2.sign_in(dev2).status_code == 401  # and it cannot sign in again
    # a poll from htmx is told to go to the sign-in page
    r = b2.get("/console/online/rows?app_id=x", headers={"hx-request": "true"})
    assert r.headers["hx-redirect"].startswith("/console/signin")


def test_sign_out_ends_the_session_even_for_a_copied_cookie(
    console_gw: Gateway, browser_for: Callable[[Dev], Browser]
) -> None:
    b = browser_for(console_gw.new_dev())
    cookie = b.http.cookies["hstgw_console"]
    r = b.post("/console/signout", {})
    assert r.status_code == 303 and r.headers["location"] == "/console/signin?msg=signed_out"
    assert "Max-Age=0" in r.headers["set-cookie"]
    with Browser(console_gw) as replay:
        replay.http.cookies.set("hstgw_console", cookie, path="/console")
        assert replay.get("/console/overview").status_code == 303


def test_a_forged_or_foreign_cookie_is_no_session(console_gw: Gateway) -> None:
    dev = console_gw.new_dev()
    with Browser(console_gw) as b:
        for value in (f"v1.{dev.dev_id}.9999999999999.nonce.mac", "garbage", "v1.a.b.c.d"):
            b.http.cookies.set("hstgw_console", value, path="/console")
            assert b.get("/console/overview").status_code == 303


def test_console_off_gives_404(tmp_path: Path) -> None:
    for gw in start_gateway(tmp_path, console=False):
        for path in ("/console", "/console/signin", "/console/static/htmx.min.js"):
            r = gw.http.get(f"{gw.url}{path}")
            assert r.status_code == 404


def test_console_setting_reads_on_and_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from hstgw.settings import Settings

    monkeypatch.setenv("HSTGW_CONSOLE", "off")
    assert Settings().console is False
    monkeypatch.setenv("HSTGW_CONSOLE", "on")
    assert Settings().console is True


def test_static_files_are_served_with_their_types(console_gw: Gateway) -> None:
    for name, kind in (
        ("htmx.min.js", "text/javascript"),
        ("console.css", "text/css"),
        ("uPlot.iife.min.js", "text/javascript"),
    ):
        r = console_gw.http.get(f"{console_gw.url}/console/static/{name}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind)
        assert r.headers["x-content-type-options"] == "nosniff"
    assert console_gw.http.get(f"{console_gw.url}/console/static/../app.py").status_code == 404


def test_no_secret_in_the_logs_or_urls(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    for gw in start_gateway(tmp_path, access_log=True, log_format="json"):
        dev = gw.new_dev()
        with Browser(gw) as b:
            assert b.sign_in(dev, secret="wrong-but-long!!").status_code == 401
            r = b.sign_in(dev)
            assert r.status_code == 303 and dev.dev_secret not in r.headers["location"]
            app_id = make_app(b, "logged")
            page = b.get("/console/app", params={"app_id": app_id}).text
            secret = re.search(r'id="app-secret">([^<]+)<', page)
            assert secret is not None
    out, err = capfd.readouterr()
    logged = out + err
    assert "/console/signin" in logged  # the console's requests are logged ...
    for value in (dev.dev_secret, "wrong-but-long!!", secret.group(1)):
        assert value not in logged  # ... and no secret with them
