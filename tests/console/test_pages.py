"""The console's pages over HTTP: the services' rules (ownership, validation) as the API
has them, and what each page shows."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from typing import Any

from tests.cli.test_cli import hstgw
from tests.conftest import Dev, Gateway
from tests.console.conftest import (
    Browser,
    TerminalThread,
    make_app,
    post_usage,
    this_month_ms,
)


def _error(html: str) -> str:
    found = re.search(r'role="alert"[^>]*>([^<]+)<', html)
    assert found is not None, html[:2000]
    return found.group(1).replace("&#39;", "'").replace("&#34;", '"')


def test_another_developers_app_does_not_exist(
    console_gw: Gateway, browser_for: Callable[[Dev], Browser]
) -> None:
    owner, other = browser_for(console_gw.new_dev()), browser_for(console_gw.new_dev())
    app_id = make_app(owner, "mine")
    for path in (
        "/console/app",
        "/console/app/edit",
        "/console/app/delete",
        "/console/online",
        "/console/online/rows",
        "/console/events",
        "/console/events/live",
    ):
        r = other.get(path, params={"app_id": app_id})
        assert r.status_code == 404, path
        assert "app_id: no such app" in r.text
        assert app_id not in r.text.replace(f"app_id={app_id}", "")  # nothing of it shown
    r = other.post("/console/app/delete", {"app_id": app_id})
    assert r.status_code == 404
    r = other.post("/console/online/kick", {"app_id": app_id, "user_id": "u1"})
    assert r.status_code == 404
    r = other.post("/console/app/edit", {"app_id": app_id, "app_name": "stolen", "service_7": "1"})
    assert r.status_code == 404
    assert owner.get("/console/app", params={"app_id": app_id}).status_code == 200
    assert "stolen" not in owner.get("/console/apps").text


def test_app_forms_give_the_apis_validation_messages(
    console_gw: Gateway, browser_for: Callable[[Dev], Browser]
) -> None:
    dev = console_gw.new_dev()
    b = browser_for(dev)
    token = console_gw.access_token(dev)
    make_app(b, "taken")
    cases: list[tuple[dict[str, str], dict[str, Any]]] = [
        ({"app_name": "bad name!"}, {"app_name": "bad name!"}),
        ({"app_name": ""}, {"app_name": ""}),
        ({"app_name": "taken"}, {"app_name": "taken"}),
        ({"consumption_limit": "-1"}, {"consumption_limit": -1}),
        ({"consumption_limit": "lots"}, {"consumption_limit": "lots"}),
        ({"service_7": "", "service_3": ""}, {"service": []}),
        # (the form lists services by id)
        (
            {"service_3": "1", "use_limit_3": "x"},
            {"service": [{"service_id": 3, "use_limit": "x"}, {"service_id": 7}]},
        ),
    ]
    for form, api in cases:
        data = {"app_name": "ok_name", "status": "online", "service_7": "1", **form}
        data = {k: v for k, v in data.items() if not (k.startswith("service_") and not v)}
        r = b.post("/console/apps/new", data, csrf_from="/console/apps/new")
        assert r.status_code == 400, form
        body = {"app_name": "ok_name", "status": "online", "service": [{"service_id": 7}], **api}
        reply = console_gw.call("POST", "/v1/app", token, json=body)
        assert reply["code"] != 0
        assert _error(r.text) == reply["msg"], form


def test_create_show_edit_and_delete_an_app(
    console_gw: Gateway, browser_for: Callable[[Dev], Browser]
) -> None:
    dev = console_gw.new_dev()
    b = browser_for(dev)
    token = console_gw.access_token(dev)
    app_id = make_app(b, "editme", service_3="1", use_limit_3="600", consumption_limit="50")
    api = console_gw.call("GET", "/v1/app", token, params={"app_id": app_id})["result"]
    assert api["consumption_limit"] == 50
    assert {(s["service_id"], s["use_limit"]) for s in api["service"]} == {(3, 600), (7, None)}
    page = b.get("/console/app", params={"app_id": app_id, "msg": "created"}).text
    assert "The app was created." in page and api["app_secret"] in page
    assert re.search(r"<details[^>]*>\s*<summary>", page)  # the secret is behind a reveal
    data = {
        "app_id": app_id,
        "app_name": "edited",
        "status": "offline",
        "service_4": "1",
        "use_limit_4": "9",
        "consumption_limit": "",
    }
    r = b.post("/console/app/edit", data, csrf_from=f"/console/app/edit?app_id={app_id}")
    assert r.status_code == 303 and "msg=saved" in r.headers["location"]
    api = console_gw.call("GET", "/v1/app", token, params={"app_id": app_id})["result"]
    assert (api["app_name"], api["status"], api["consumption_limit"]) == ("edited", "offline", None)
    assert [(s["service_id"], s["use_limit"]) for s in api["service"]] == [(4, 9)]
    confirm = b.get("/console/app/delete", params={"app_id": app_id})
    assert confirm.status_code == 200 and "edited" in confirm.text
    r = b.post("/console/app/delete", {"app_id": app_id}, csrf_from="/console/apps")
    assert r.status_code == 303 and r.headers["location"] == "/console/apps?msg=deleted"
    gone = console_gw.call("GET", "/v1/app", token, params={"app_id": app_id})
    assert gone["msg"] == "app_id: no such app"


def _secret(gw: Gateway, dev: Dev, app_id: str) -> str:
    token = gw.access_token(dev)
    secret: str = gw.call("GET", "/v1/app", token, params={"app_id": app_id})["result"][
        "app_secret"
    ]
    return secret


def test_online_rows_search_kick_and_trans_cmd(
    console_gw: Gateway, browser_for: Callable[[Dev], Browser]
) -> None:
    dev = console_gw.new_dev()
    b = browser_for(dev)
    app_id = make_app(b, "live", service_6="1")
    secret = _secret(console_gw, dev, app_id)
    alice = TerminalThread(console_gw.url, app_id, secret, "alice", company_id="acme")
    bob = TerminalThread(console_gw.url, app_id, secret, "bob", client_guid="bob-guid")
    try:
        rows = b.get("/console/online/rows", params={"app_id": app_id}).text
        assert 'data-user="alice" data-state="1"' in rows and "acme" in rows
        assert 'data-user="bob"' in rows
        alice_row = r'data-user="alice" data-state="1">.*?<td>([0-9: -]{19})</td>'
        assert re.search(alice_row, rows, re.S) is not None, rows  # since when online
        only = b.get("/console/online/rows", params={"app_id": app_id, "user": "ali"}).text
        assert 'data-user="alice"' in only and 'data-user="bob"' not in only
        r = b.post(
            "/console/online/kick",
            {"app_id": app_id, "user_id": "alice", "mutex_type": "web"},
            csrf_from=f"/console/online?app_id={app_id}",
        )
        assert r.status_code == 303
        assert "Kicked 1 terminal(s)." in b.get(r.headers["location"]).text
        rows = b.get("/console/online/rows", params={"app_id": app_id}).text
        assert 'data-user="alice" data-state="0"' in rows
        r = b.post(
            "/console/online/trans-cmd",
            {
                "app_id": app_id,
                "user_id": "bob",
                "mutex_type": "web",
                "trans_mess": '{"cmd": "hi"}',
            },
            csrf_from=f"/console/online?app_id={app_id}",
        )
        assert r.status_code == 303
        assert "bob/bob-guid: 0" in b.get(r.headers["location"]).text
        assert bob.next_push("trans_cmd")["trans_mess"] == {"cmd": "hi"}
        bad = b.post(
            "/console/online/trans-cmd",
            {"app_id": app_id, "user_id": "bob", "mutex_type": "web", "trans_mess": "[1]"},
            csrf_from=f"/console/online?app_id={app_id}",
        )
        assert bad.status_code == 400 and "trans_mess" in bad.text
    finally:
        alice.close()
        bob.close()


def test_billing_filters_totals_csv_and_summary(
    console_gw: Gateway, browser_for: Callable[[Dev], Browser]
) -> None:
    dev = console_gw.new_dev()
    b = browser_for(dev)
    app1, app2 = (
        make_app(b, "bill1", service_3="1", service_4="1"),
        make_app(b, "bill2", service_4="1"),
    )
    now = this_month_ms(console_gw, 600_000)
    key = console_gw.new_node()
    events = [
        {
            "event_id": f"c{i}-{app}",
            "app_id": app,
            "charge_term": term,
            "start_time": now,
            "end_time": now + 60_000 * (i + 1),
            **({"resolution": "1280*720"} if term == 2 else {}),
        }
        for i, (app, term) in enumerate([(app1, 1), (app1, 2), (app2, 1), (app1, 1)])
    ]
    reply = console_gw.call(
        "POST",
        "/internal/v1/usage",
        json={"events": events},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert reply.get("result", {}).get("accepted") == 4, reply
    page = b.get("/console/billing").text
    assert re.search(r'id="records-total">4<', page)
    # 1+3+4 minutes of audio at 0.006, 2 minutes of video at 0.024
    assert re.search(r'id="amount-total">0\.096000<', page), page
    term1 = b.get("/console/billing", params={"charge_term": "1"}).text
    assert re.search(r'id="records-total">3<', term1)
    assert re.search(r'id="amount-total">0\.048000<', term1)
    both = b.get("/console/billing", params={"charge_term": "1", "app_id": app1}).text
    assert re.search(r'id="records-total">2<', both)
    assert b.get("/console/billing", params={"charge_term": "3"}).status_code == 400
    # the CSV is the CLI's (`hstgw records list --csv`, through the API)
    csv_reply = b.get("/console/billing.csv")
    assert csv_reply.headers["content-type"].startswith("text/csv")
    env = {
        "HSTGW_BASE_URL": console_gw.url,
        "HSTGW_DEV_ID": dev.dev_id,
        "HSTGW_DEV_SECRET": dev.dev_secret,
    }
    start, end = re.search(
        r"records-(\d{4}-\d\d-\d\d)-(\d{4}-\d\d-\d\d)\.csv",
        csv_reply.headers["content-disposition"],
    ).groups()  # type: ignore[union-attr]
    cli = hstgw(
        "records",
        "list",
        "--start",
        f"{start}T00:00:00+08:00",
        "--end",
        f"{end}T23:59:59.999+08:00",
        "--csv",
        env=env,
    )
    assert cli.returncode == 0, cli.stderr
    assert csv_reply.text.replace("\r\n", "\n") == cli.stdout.replace("\r\n", "\n")
    assert len(list(csv.DictReader(io.StringIO(csv_reply.text)))) == 4
    summary = b.get("/console/billing/summary").text
    assert re.search(r'id="summary-total">0\.096000<', summary)
    assert b.get("/console/billing/summary", params={"month": "2025-13"}).status_code == 400
    overview = b.get("/console/overview").text
    assert re.search(r'id="month-total">0\.096000<', overview)
    assert "bill1" in overview and "0.078000" in overview  # by app


def test_language_follows_the_browser_and_the_switch(
    console_gw: Gateway, browser_for: Callable[[Dev], Browser]
) -> None:
    b = browser_for(console_gw.new_dev())
    assert (
        "<h1>概览" in b.get("/console/overview", headers={"accept-language": "zh-CN,zh;q=0.9"}).text
    )
    assert "<h1>Overview" in b.get("/console/overview", headers={"accept-language": "en-US"}).text
    assert "<h1>Overview" in b.get("/console/overview", headers={"accept-language": "fr"}).text
    r = b.post("/console/lang", {"lang": "zh", "back": "/console/apps"})
    assert r.status_code == 303 and r.headers["location"] == "/console/apps"
    assert "<h1>应用" in b.get("/console/apps", headers={"accept-language": "en"}).text
    r = b.post("/console/lang", {"lang": "en", "back": "https://evil.example/"})
    assert r.headers["location"] == "/console/signin"  # never a redirect elsewhere


def test_groups_and_event_log(console_gw: Gateway, browser_for: Callable[[Dev], Browser]) -> None:
    dev = console_gw.new_dev()
    b = browser_for(dev)
    app_id = make_app(b, "groups", service_6="1")
    carol = TerminalThread(console_gw.url, app_id, _secret(console_gw, dev, app_id), "carol")
    try:
        version = carol.run(carol.client.join_group("room1"))
        carol.run(carol.client.start_media("room1", "cam1", 2))
        live = b.get("/console/events/live", params={"app_id": app_id}).text
        assert "room1" in live and "carol (cam1/2)" in live
        assert f'<td class="num">{version}</td>' in live  # the join, with its version
        assert "20100" in live and "20102" in live  # joined, media started
    finally:
        carol.close()


def test_an_overview_of_free_use_says_nothing_was_spent(
    console_gw: Gateway, browser_for: Callable[[Dev], Browser]
) -> None:
    """Signaling within the month's free quota is records at 0 yuan: the terms list them,
    and the apps' table says nothing was spent (not that there were no records)."""
    dev = console_gw.new_dev()
    b = browser_for(dev)
    app = make_app(b, "free1", service_6="1")
    now = this_month_ms(console_gw, 60_000)
    event = {"event_id": f"free-{app}", "app_id": app, "charge_term": 6,
             "start_time": now, "end_time": now + 1_000, "total_sig_num": 10}  # fmt: skip
    post_usage(console_gw, [event])
    overview = b.get("/console/overview").text
    by_term = overview.split('id="by-term"')[1].split("</table>")[0]
    by_app = overview.split('id="by-app"')[1].split("</table>")[0]
    assert "0.000000" in by_term and "No records." not in by_term
    assert "Nothing spent." in by_app and "No records." not in by_app
