"""The console in a real browser: Playwright driving Debian's Chromium.

One browser for the module, one signed-in page walked through the console as a
developer would: sign in, create an app, watch a real terminal come online live and
kick it, see a node's usage in the overview and the records, download the CSV and
compare it with the CLI's, switch the language, sign out. With ``HSTGW_SCREENSHOTS``
set to a folder (scripts/console-screenshots), each page is saved there as a PNG.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import CHROMIUM, launched
from tests.cli.test_cli import hstgw
from tests.conftest import Dev, Gateway
from tests.console.conftest import TerminalThread, this_month_ms

SHOTS = os.environ.get("HSTGW_SCREENSHOTS", "")

if not Path(CHROMIUM).exists():
    if os.environ.get("HSTGW_REQUIRE_BROWSER") == "1":
        pytest.fail(f"HSTGW_REQUIRE_BROWSER=1 but there is no Chromium at {CHROMIUM}")
    pytest.skip(
        f"no Chromium at {CHROMIUM} (apt-get install chromium, or set HSTGW_CHROMIUM)",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, Page, expect  # noqa: E402


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with launched() as browser:
        yield browser


@pytest.fixture(scope="module")
def dev(console_gw: Gateway) -> Dev:
    return console_gw.new_dev("Browser Co")


@pytest.fixture(scope="module")
def page(chromium: Browser, console_gw: Gateway) -> Iterator[Page]:
    # (a page of each gateway: cookies are the host's, whatever the port)
    context = chromium.new_context(
        locale="en-US", viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems: list[str] = []
    # A CSP violation (an inline script or style that slipped in) shows as a console
    # error; a page answered 400 or 401 on purpose (a form's error) shows as one too.
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    yield page
    context.close()
    assert problems == [], problems


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


class State:
    app_id = ""
    app_secret = ""


def test_sign_in(console_gw: Gateway, page: Page, dev: Dev) -> None:
    page.goto(f"{console_gw.url}/console/")
    expect(page).to_have_url(re.compile(r"/console/signin$"))
    page.get_by_label("dev_id").fill(dev.dev_id)
    page.get_by_label("dev_secret").fill("wrong-secret-123")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-error")).to_contain_text("Sign-in failed")
    shot(page, "signin")
    page.get_by_label("dev_secret").fill(dev.dev_secret)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/console/overview$"))
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["hstgw_console"]
    assert session["httpOnly"] and session["sameSite"] == "Strict" and not session["secure"]
    # a form POST without the page's CSRF token is refused, even from the signed-in browser
    refused = page.context.request.post(
        f"{console_gw.url}/console/apps/new", form={"app_name": "x", "service_7": "1"}
    )
    assert refused.status == 403


def test_create_an_app(console_gw: Gateway, page: Page) -> None:
    page.get_by_role("link", name="Apps").click()
    page.get_by_role("link", name="Create an app").click()
    page.get_by_label("App name (app_name)").fill("browser_app")
    page.get_by_label("6 信令通道服务").check()
    page.get_by_label("Consumption limit (yuan/month) (consumption_limit)").fill("x")
    page.get_by_role("button", name="Create").click()
    # the API's message for the field, and what was entered is kept
    expect(page.locator("#form-error")).to_have_text("consumption_limit: must be an integer")
    expect(page.get_by_label("6 信令通道服务")).to_be_checked()
    shot(page, "app-form")
    page.get_by_label("Consumption limit (yuan/month) (consumption_limit)").fill("100")
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".flash")).to_have_text("The app was created.")
    State.app_id = page.locator("#app-id").inner_text()
    secret = page.locator("#app-secret")
    expect(secret).not_to_be_visible()
    page.get_by_text("Reveal the secret").click()  # <details>: keyboard and mouse alike
    expect(secret).to_be_visible()
    State.app_secret = secret.inner_text()
    assert len(State.app_secret) == 16
    shot(page, "app")
    page.get_by_role("link", name="Apps").click()
    expect(page.locator("#apps")).to_contain_text("browser_app")
    shot(page, "apps")


def test_a_terminal_appears_live_and_is_kicked(console_gw: Gateway, page: Page) -> None:
    page.goto(f"{console_gw.url}/console/online?app_id={State.app_id}")
    page.evaluate("window.hstgwMarker = 'same page'")  # gone if the page were reloaded
    row = page.locator('#terminal-rows tr[data-user="alice"][data-state="1"]')
    expect(row).to_have_count(0)
    alice = TerminalThread(
        console_gw.url, State.app_id, State.app_secret, "alice", company_id="acme"
    )
    try:
        expect(row).to_have_count(1)  # htmx's poll brought it, no reload
        assert page.evaluate("window.hstgwMarker") == "same page"
        expect(row).to_contain_text("acme")
        shot(page, "online")
        row.get_by_role("button", name="Kick alice web").click()
        expect(page.locator(".flash")).to_have_text("Kicked 1 terminal(s).")
        expect(row).to_have_count(0)
        expect(page.locator('#terminal-rows tr[data-user="alice"][data-state="0"]')).to_have_count(
            1
        )
        assert alice.next_push("kicked")["type"] == "kicked"
    finally:
        alice.close()


def _usage(gw: Gateway) -> None:
    now = this_month_ms(gw, 900_000)
    events: list[dict[str, Any]] = [
        {
            "event_id": f"b{i}-{State.app_id}",
            "app_id": State.app_id,
            "charge_term": 1,
            "start_time": now,
            "end_time": now + 60_000 * (i + 1),
        }
        for i in range(3)
    ]
    key = gw.new_node()
    reply = gw.call(
        "POST",
        "/internal/v1/usage",
        json={"events": events},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert reply["result"]["accepted"] == 3, reply


def test_usage_shows_in_overview_and_records(console_gw: Gateway, page: Page) -> None:
    _usage(console_gw)  # 1 + 2 + 3 minutes of audio at 6 / 1000 min
    page.get_by_role("link", name="Overview").click()
    expect(page.locator("#month-total")).to_have_text("0.036000")
    expect(page.locator("#by-app")).to_contain_text("browser_app")
    expect(page.locator("#by-term")).to_contain_text("1 audio")
    expect(page.locator("#daily-chart canvas")).to_have_count(1)  # uPlot drew it
    shot(page, "overview")
    page.get_by_role("link", name="Billing").click()
    expect(page.locator("#records-total")).to_have_text("3")
    expect(page.locator("#amount-total")).to_have_text("0.036000")
    page.get_by_label("Charge term").select_option("2")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#records-total")).to_have_text("0")
    page.get_by_label("Charge term").select_option("")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#records tbody tr")).to_have_count(3)
    shot(page, "billing")


def test_csv_download_equals_the_clis(
    console_gw: Gateway, page: Page, dev: Dev, tmp_path: Path
) -> None:
    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    path = tmp_path / "records.csv"
    info.value.save_as(path)
    downloaded = path.read_text(encoding="utf-8")
    found = re.search(r"records-(\S{10})-(\S{10})\.csv", info.value.suggested_filename)
    assert found is not None
    env = {
        "HSTGW_BASE_URL": console_gw.url,
        "HSTGW_DEV_ID": dev.dev_id,
        "HSTGW_DEV_SECRET": dev.dev_secret,
    }
    cli = hstgw(
        "records",
        "list",
        "--start",
        f"{found.group(1)}T00:00:00+08:00",
        "--end",
        f"{found.group(2)}T23:59:59.999+08:00",
        "--csv",
        env=env,
    )
    assert cli.returncode == 0, cli.stderr
    assert downloaded.replace("\r\n", "\n") == cli.stdout.replace("\r\n", "\n")
    assert [r["amount"] for r in csv.DictReader(io.StringIO(downloaded))] == [
        "0.006000",
        "0.012000",
        "0.018000",
    ]


def test_other_pages(console_gw: Gateway, page: Page) -> None:
    page.get_by_role("link", name="Monthly summary").click()
    expect(page.locator("#summary-total")).to_have_text("0.036000")
    shot(page, "summary")
    page.get_by_role("link", name="Groups and events").click()
    expect(page.locator("#event-log")).to_be_visible()
    dave = TerminalThread(console_gw.url, State.app_id, State.app_secret, "dave")
    try:
        dave.run(dave.client.join_group("standup"))
        dave.run(dave.client.start_media("standup", "cam-1", 2))
        # the group, its user and media arrive with the next poll, without a reload
        expect(page.locator("#groups")).to_contain_text("dave (cam-1/2)")
        expect(page.locator("#event-log tbody tr").first).to_contain_text("20102")
        shot(page, "events")
    finally:
        dave.close()
    page.get_by_role("link", name="Webhooks").click()
    expect(page.locator("h1")).to_have_text("Webhooks")
    shot(page, "webhooks")


def test_switch_language_and_sign_out(console_gw: Gateway, page: Page) -> None:
    page.get_by_role("link", name="Overview").click()
    page.get_by_label("Language").select_option("zh")
    page.get_by_role("button", name="Switch").click()
    expect(page.locator("h1")).to_contain_text("概览")
    expect(page.get_by_role("link", name="账单")).to_be_visible()
    shot(page, "overview-zh")
    page.get_by_role("button", name="退出").click()
    expect(page).to_have_url(re.compile(r"/console/signin\?msg=signed_out$"))
    expect(page.locator(".flash")).to_have_text("已退出。")
    page.goto(f"{console_gw.url}/console/overview")
    expect(page).to_have_url(re.compile(r"/console/signin"))
