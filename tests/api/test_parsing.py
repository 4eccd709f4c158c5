"""Strict parsing: what is not written as documented is refused, naming the field."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hstgw.api.route import Call, Route
from hstgw.api.wrappers import Exchange, query_params, serve
from hstgw.apps import AppListQuery
from tests.conftest import Gateway


@given(st.lists(st.sampled_from(["a", "b", "=", "&", "%20", "%", "+", ";", "é", ""]), max_size=12))
def test_query_parameters_are_parse_qsl_s(pieces: list[str]) -> None:
    """The split done by hand for plain queries gives what parse_qsl gives."""
    query = "".join(pieces).encode("utf-8")
    expected = dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True))
    assert query_params(query) == expected


@pytest.mark.parametrize("page", ["1.0", " 1", "1 ", "1_0", "+1", "١", "0x1", ""])
def test_query_integers_are_plain_decimal(gateway: Gateway, token: str, page: str) -> None:
    reply = gateway.call("GET", "/v1/apps", token, params={"page": page})
    assert reply == {"code": 606000003, "msg": "page: must be an integer"}


def test_query_integers_still_work(gateway: Gateway, token: str) -> None:
    assert gateway.call("GET", "/v1/apps", token, params={"page": "2"})["code"] == 0


@pytest.mark.parametrize("term", [True, False, 1.0, "1"])
def test_a_charge_term_is_an_integer(gateway: Gateway, term: object) -> None:
    key = gateway.new_node()
    event = {
        "event_id": "strict-1",
        "app_id": "a" * 32,
        "charge_term": term,
        "start_time": 1_764_300_000_000,
        "end_time": 1_764_300_060_000,
    }
    reply = gateway.call("POST", "/internal/v1/usage", f"Bearer {key}", json={"events": [event]})
    assert reply["code"] == 606000003
    assert reply["msg"].startswith("events[0].charge_term: ")


def test_transfer_type_is_an_integer(gateway: Gateway) -> None:
    key = gateway.new_node()
    event = {
        "event_id": "strict-2",
        "app_id": "a" * 32,
        "charge_term": 1,
        "transfer_type": True,
        "start_time": 1_764_300_000_000,
        "end_time": 1_764_300_060_000,
    }
    reply = gateway.call("POST", "/internal/v1/usage", f"Bearer {key}", json={"events": [event]})
    assert reply["code"] == 606000003
    assert reply["msg"].startswith("events[0].transfer_type: ")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("evil.example/x?y=", "127.0.0.1"),
        ('a"b', "127.0.0.1"),
        ("user@evil.example", "127.0.0.1"),
        ("gw.example.com:8080", "gw.example.com"),
        ("[::1]:28000", "[::1]"),
    ],
)
def test_the_terminal_address_takes_only_a_well_formed_host(
    gateway: Gateway, host: str, expected: str
) -> None:
    reply = gateway.call("GET", "/v1/online/address", headers={"Host": host})
    port = gateway.settings.terminal_port
    assert reply["result"]["ws_url"] == f"ws://{expected}:{port}/"


def test_authorization_given_twice_is_refused(gateway: Gateway, token: str) -> None:
    r = gateway.http.get(
        f"{gateway.url}/v1/apps", headers=[("Authorization", token), ("Authorization", token)]
    )
    assert r.json() == {"code": 606000003, "msg": "authorization: must be given once"}


def test_head_answers_like_get_without_a_body(gateway: Gateway, token: str) -> None:
    for path in ("/healthz", "/v1/apps"):
        got = gateway.http.get(f"{gateway.url}{path}", headers={"Authorization": token})
        head = gateway.http.head(f"{gateway.url}{path}", headers={"Authorization": token})
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
        assert head.headers["content-length"] == str(len(got.content))
    r = gateway.http.head(f"{gateway.url}/v1/kickout")  # POST only
    assert r.status_code == 405


def test_a_page_of_any_origin_may_read_the_terminal_address_and_nothing_else(
    gateway: Gateway, token: str
) -> None:
    # The browser SDK asks where terminals connect from a page of the app's own origin.
    origin = {"Origin": "https://app.example"}
    address = gateway.http.get(f"{gateway.url}/v1/online/address", headers=origin)
    assert address.headers["access-control-allow-origin"] == "*"
    apps = gateway.http.get(f"{gateway.url}/v1/apps", headers={**origin, "Authorization": token})
    assert "access-control-allow-origin" not in apps.headers


def test_a_kept_query_answers_as_a_fresh_parse_would(gateway: Gateway, token: str) -> None:
    """A query string's parse is kept for its repeats (wrappers.serve): a repeat answers
    the same, and a refused query is refused again, never kept."""
    for _ in range(3):
        refused = gateway.call("GET", "/v1/apps", token, params={"page": "x"})
        assert refused == {"code": 606000003, "msg": "page: must be an integer"}
        reply = gateway.call("GET", "/v1/apps", token, params={"page": "2", "page_size": "5"})
        assert (reply["result"]["page"], reply["result"]["page_size"]) == (2, 5)


def test_every_query_model_is_frozen(gateway: Gateway) -> None:
    """A kept parse is shared by the requests that repeat its query: no endpoint may
    change it."""
    queries = {route.query for route in gateway.app.routes if route.query is not None}
    assert queries
    for model in queries:
        assert model.model_config.get("frozen") is True, model


@pytest.mark.anyio
async def test_the_kept_queries_stay_bounded() -> None:
    async def endpoint(call: Call) -> None:
        assert call.query.page == seen

    route = Route("GET", "/x", endpoint, "x", "x", auth=None, query=AppListQuery)
    handle = serve(route, max_body=1024)
    cells = handle.__closure__ or ()
    kept = cells[handle.__code__.co_freevars.index("kept")].cell_contents
    for seen in range(1, 3000):
        scope = {"query_string": b"page=%d" % seen}
        await handle(Exchange(scope, receive=None, call=Call({}), reply_headers=[]))  # type: ignore[arg-type]
        assert 0 < len(kept) <= 1024
    long = b"page=1&pad=" + b"x" * 300  # (longer than is kept)
    scope = {"query_string": long}
    seen = 1
    await handle(Exchange(scope, receive=None, call=Call({}), reply_headers=[]))  # type: ignore[arg-type]
    assert long not in kept
