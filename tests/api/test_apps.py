"""Apps: POST, PATCH, DELETE, GET /v1/app and GET /v1/apps (seed; design 4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Gateway, start_gateway

VIDEO, AUDIO, ONLINE = 3, 4, 7


def create(gateway: Gateway, token: str, **fields: Any) -> dict[str, Any]:
    body = {"app_name": "demo", "service": [{"service_id": VIDEO}], **fields}
    reply = gateway.call("POST", "/v1/app", token, json=body)
    assert reply["code"] == 0, reply
    result: dict[str, Any] = reply["result"]
    return result


def test_create_returns_every_field_of_the_seed(gateway: Gateway, token: str) -> None:
    app = create(
        gateway,
        token,
        app_name="test123",
        status="online",
        consumption_limit=100,
        service=[{"service_id": ONLINE, "use_limit": 5000}, {"service_id": AUDIO}],
    )
    assert len(app["app_id"]) == 32 and app["app_id"] == app["app_id"].lower()
    assert len(app["app_secret"]) == 16 and app["app_secret"].isalnum()
    assert app["app_name"] == "test123"
    assert app["status"] == "online"
    assert app["consumption_limit"] == 100
    assert sorted(app["service"], key=lambda s: s["service_id"]) == [
        {"service_id": AUDIO, "service_name": "音频服务", "use_limit": None},
        {"service_id": ONLINE, "service_name": "在线服务", "use_limit": 5000},
    ]
    assert gateway.call("GET", "/v1/app", token, params={"app_id": app["app_id"]}) == {
        "code": 0,
        "msg": "OK",
        "result": app,
    }


def test_defaults_are_offline_and_no_limit(gateway: Gateway, token: str) -> None:
    app = create(gateway, token, app_name="defaults")
    assert app["status"] == "offline" and app["consumption_limit"] is None


@pytest.mark.parametrize("name", ["a", "A_b_9", "视频会议_1", "x" * 64, "𠀀ext_b"])
def test_app_names_of_letters_digits_cjk_and_underscore(
    gateway: Gateway, token: str, name: str
) -> None:
    assert create(gateway, token, app_name=name)["app_name"] == name


def test_patch_changes_only_what_it_is_given(gateway: Gateway, token: str) -> None:
    app = create(gateway, token, app_name="before", consumption_limit=10, status="online")
    reply = gateway.call(
        "PATCH", "/v1/app", token, json={"app_id": app["app_id"], "app_name": "after"}
    )
    assert reply["code"] == 0
    assert reply["result"] == {**app, "app_name": "after"}

    reply = gateway.call(
        "PATCH",
        "/v1/app",
        token,
        json={"app_id": app["app_id"], "service": [{"service_id": AUDIO, "use_limit": 7}]},
    )
    assert reply["result"]["service"] == [
        {"service_id": AUDIO, "service_name": "音频服务", "use_limit": 7}
    ]
    assert reply["result"]["consumption_limit"] == 10

    reply = gateway.call(
        "PATCH", "/v1/app", token, json={"app_id": app["app_id"], "consumption_limit": None}
    )
    assert reply["result"]["consumption_limit"] is None
    assert reply["result"]["status"] == "online"
    got = gateway.call("GET", "/v1/app", token, params={"app_id": app["app_id"]})["result"]
    assert got == reply["result"]


def test_delete_removes_the_app_and_frees_its_name(gateway: Gateway, token: str) -> None:
    app = create(gateway, token, app_name="doomed")
    assert gateway.call("DELETE", "/v1/app", token, params={"app_id": app["app_id"]}) == {
        "code": 0,
        "msg": "OK",
    }
    gone = {"code": 606000003, "msg": "app_id: no such app"}
    assert gateway.call("GET", "/v1/app", token, params={"app_id": app["app_id"]}) == gone
    assert gateway.call("DELETE", "/v1/app", token, params={"app_id": app["app_id"]}) == gone
    assert gateway.call("PATCH", "/v1/app", token, json={"app_id": app["app_id"]}) == gone
    assert create(gateway, token, app_name="doomed")["app_id"] != app["app_id"]


def test_names_are_unique_per_developer(gateway: Gateway, token: str) -> None:
    first = create(gateway, token, app_name="unique")
    second = create(gateway, token, app_name="unique2")
    taken = {"code": 606000003, "msg": "app_name: already used by another app"}
    reply = gateway.call(
        "POST", "/v1/app", token, json={"app_name": "unique", "service": [{"service_id": 3}]}
    )
    assert reply == taken
    reply = gateway.call(
        "PATCH", "/v1/app", token, json={"app_id": second["app_id"], "app_name": "unique"}
    )
    assert reply == taken
    # renaming an app to its own name is no conflict
    reply = gateway.call(
        "PATCH", "/v1/app", token, json={"app_id": first["app_id"], "app_name": "unique"}
    )
    assert reply["code"] == 0
    other_token = gateway.access_token(gateway.new_dev())
    assert create(gateway, other_token, app_name="unique")["app_name"] == "unique"


def test_list_pages_in_creation_order(gateway: Gateway) -> None:
    token = gateway.access_token(gateway.new_dev())
    ids = [create(gateway, token, app_name=f"app{i}")["app_id"] for i in range(5)]
    seen = []
    for page in (1, 2, 3):
        reply = gateway.call("GET", "/v1/apps", token, params={"page": page, "page_size": 2})
        result = reply["result"]
        assert (result["total"], result["page"], result["page_size"]) == (5, page, 2)
        seen += [a["app_id"] for a in result["apps"]]
    assert seen == ids
    empty = gateway.call("GET", "/v1/apps", token, params={"page": 4, "page_size": 2})["result"]
    assert empty["apps"] == [] and empty["total"] == 5
    defaults = gateway.call("GET", "/v1/apps", token)["result"]
    assert (defaults["page"], defaults["page_size"], len(defaults["apps"])) == (1, 20, 5)


def test_isolation_between_developers(gateway: Gateway) -> None:
    mine, theirs = gateway.access_token(gateway.new_dev()), gateway.access_token(gateway.new_dev())
    app = create(gateway, mine, app_name="private", consumption_limit=5)
    gone = {"code": 606000003, "msg": "app_id: no such app"}
    assert gateway.call("GET", "/v1/app", theirs, params={"app_id": app["app_id"]}) == gone
    assert (
        gateway.call(
            "PATCH", "/v1/app", theirs, json={"app_id": app["app_id"], "app_name": "stolen"}
        )
        == gone
    )
    assert gateway.call("DELETE", "/v1/app", theirs, params={"app_id": app["app_id"]}) == gone
    assert gateway.call("GET", "/v1/apps", theirs)["result"] == {
        "total": 0,
        "page": 1,
        "page_size": 20,
        "apps": [],
    }
    # and nothing of the first developer's app changed
    assert gateway.call("GET", "/v1/app", mine, params={"app_id": app["app_id"]})["result"] == app


SERVICE = [{"service_id": 3}]
APP_ID = "0" * 32
CREATE_CASES: list[tuple[str, Any, int, str]] = [
    ("app_name missing", {"service": SERVICE}, 606000002, "app_name: required"),
    ("service missing", {"app_name": "a"}, 606000002, "service: required"),
    (
        "app_name not a string",
        {"app_name": 5, "service": SERVICE},
        606000003,
        "app_name: must be a string",
    ),
    (
        "app_name null",
        {"app_name": None, "service": SERVICE},
        606000003,
        "app_name: must be a string",
    ),
    (
        "app_name empty",
        {"app_name": "", "service": SERVICE},
        606000003,
        "app_name: must be 1..64 characters",
    ),
    (
        "app_name too long",
        {"app_name": "a" * 65, "service": SERVICE},
        606000003,
        "app_name: must be 1..64 characters",
    ),
    (
        "app_name with space",
        {"app_name": "a b", "service": SERVICE},
        606000003,
        "app_name: only letters, digits, CJK ideographs and _ are allowed",
    ),
    (
        "app_name with dash",
        {"app_name": "a-b", "service": SERVICE},
        606000003,
        "app_name: only letters, digits, CJK ideographs and _ are allowed",
    ),
    (
        "app_name with kana",
        {"app_name": "アプリ", "service": SERVICE},
        606000003,
        "app_name: only letters, digits, CJK ideographs and _ are allowed",
    ),
    (
        "status unknown",
        {"app_name": "a", "service": SERVICE, "status": "up"},
        606000003,
        "status: must be one of 'online' or 'offline'",
    ),
    (
        "status not a string",
        {"app_name": "a", "service": SERVICE, "status": 1},
        606000003,
        "status: must be one of 'online' or 'offline'",
    ),
    (
        "consumption_limit string",
        {"app_name": "a", "service": SERVICE, "consumption_limit": "5"},
        606000003,
        "consumption_limit: must be an integer",
    ),
    (
        "consumption_limit float",
        {"app_name": "a", "service": SERVICE, "consumption_limit": 1.5},
        606000003,
        "consumption_limit: must be an integer",
    ),
    (
        "consumption_limit bool",
        {"app_name": "a", "service": SERVICE, "consumption_limit": True},
        606000003,
        "consumption_limit: must be an integer",
    ),
    (
        "consumption_limit negative",
        {"app_name": "a", "service": SERVICE, "consumption_limit": -1},
        606000003,
        "consumption_limit: must be 0..2147483647",
    ),
    (
        "consumption_limit too big",
        {"app_name": "a", "service": SERVICE, "consumption_limit": 2**31},
        606000003,
        "consumption_limit: must be 0..2147483647",
    ),
    ("service not a list", {"app_name": "a", "service": 3}, 606000003, "service: must be a list"),
    (
        "service empty",
        {"app_name": "a", "service": []},
        606000003,
        "service: must have at least 1 items",
    ),
    (
        "service item not an object",
        {"app_name": "a", "service": [3]},
        606000003,
        "service[0]: must be an object",
    ),
    (
        "service_id missing",
        {"app_name": "a", "service": [{"use_limit": 1}]},
        606000002,
        "service[0].service_id: required",
    ),
    (
        "service_id string",
        {"app_name": "a", "service": [{"service_id": "3"}]},
        606000003,
        "service[0].service_id: must be an integer",
    ),
    (
        "service_id too small",
        {"app_name": "a", "service": [{"service_id": 2}]},
        606000003,
        "service[0].service_id: must be 3..9",
    ),
    (
        "service_id too big",
        {"app_name": "a", "service": [{"service_id": 3}, {"service_id": 10}]},
        606000003,
        "service[1].service_id: must be 3..9",
    ),
    (
        "service_id duplicate",
        {"app_name": "a", "service": [{"service_id": 3}, {"service_id": 3}]},
        606000003,
        "service[1].service_id: duplicate 3",
    ),
    (
        "use_limit negative",
        {"app_name": "a", "service": [{"service_id": 3, "use_limit": -1}]},
        606000003,
        "service[0].use_limit: must be 0..9223372036854775807",
    ),
    (
        "use_limit string",
        {"app_name": "a", "service": [{"service_id": 3, "use_limit": "1"}]},
        606000003,
        "service[0].use_limit: must be an integer",
    ),
    ("body an array", [], 606000003, "body: must be a JSON object"),
    ("body a string", "app", 606000003, "body: must be a JSON object"),
]
PATCH_CASES: list[tuple[str, Any, int, str]] = [
    ("app_id missing", {"app_name": "a"}, 606000002, "app_id: required"),
    (
        "app_id not hex",
        {"app_id": "Z" * 32},
        606000003,
        "app_id: must be 32 lowercase hex characters",
    ),
    (
        "app_id upper-case",
        {"app_id": "A" * 32},
        606000003,
        "app_id: must be 32 lowercase hex characters",
    ),
    ("app_id short", {"app_id": "0" * 31}, 606000003, "app_id: must be 32..32 characters"),
    ("app_id number", {"app_id": 5}, 606000003, "app_id: must be a string"),
    ("app_id unknown", {"app_id": APP_ID}, 606000003, "app_id: no such app"),
    (
        "app_name bad",
        {"app_id": APP_ID, "app_name": "a b"},
        606000003,
        "app_name: only letters, digits, CJK ideographs and _ are allowed",
    ),
    (
        "status bad",
        {"app_id": APP_ID, "status": "ONLINE"},
        606000003,
        "status: must be one of 'online' or 'offline'",
    ),
    (
        "consumption_limit bad",
        {"app_id": APP_ID, "consumption_limit": -5},
        606000003,
        "consumption_limit: must be 0..2147483647",
    ),
    (
        "service empty",
        {"app_id": APP_ID, "service": []},
        606000003,
        "service: must have at least 1 items",
    ),
    (
        "service_id bad",
        {"app_id": APP_ID, "service": [{"service_id": 1}]},
        606000003,
        "service[0].service_id: must be 3..9",
    ),
]
QUERY_CASES: list[tuple[str, str, str, dict[str, Any], int, str]] = [
    ("get app_id missing", "GET", "/v1/app", {}, 606000002, "app_id: required"),
    (
        "get app_id bad",
        "GET",
        "/v1/app",
        {"app_id": "xyz"},
        606000003,
        "app_id: must be 32..32 characters",
    ),
    ("delete app_id missing", "DELETE", "/v1/app", {}, 606000002, "app_id: required"),
    (
        "delete app_id bad",
        "DELETE",
        "/v1/app",
        {"app_id": "G" * 32},
        606000003,
        "app_id: must be 32 lowercase hex characters",
    ),
    ("page zero", "GET", "/v1/apps", {"page": 0}, 606000003, "page: must be 1..2147483647"),
    ("page text", "GET", "/v1/apps", {"page": "one"}, 606000003, "page: must be an integer"),
    ("page_size zero", "GET", "/v1/apps", {"page_size": 0}, 606000003, "page_size: must be 1..100"),
    (
        "page_size 101",
        "GET",
        "/v1/apps",
        {"page_size": 101},
        606000003,
        "page_size: must be 1..100",
    ),
    (
        "page_size empty",
        "GET",
        "/v1/apps",
        {"page_size": ""},
        606000003,
        "page_size: must be an integer",
    ),
]


@pytest.mark.parametrize(
    ("case", "body", "code", "msg"), CREATE_CASES, ids=[c[0] for c in CREATE_CASES]
)
def test_create_validation(
    gateway: Gateway, token: str, case: str, body: Any, code: int, msg: str
) -> None:
    before = gateway.call("GET", "/v1/apps", token)["result"]["total"]
    assert gateway.call("POST", "/v1/app", token, json=body) == {"code": code, "msg": msg}
    assert gateway.call("GET", "/v1/apps", token)["result"]["total"] == before  # nothing written


@pytest.mark.parametrize(
    ("case", "body", "code", "msg"), PATCH_CASES, ids=[c[0] for c in PATCH_CASES]
)
def test_patch_validation(
    gateway: Gateway, token: str, case: str, body: Any, code: int, msg: str
) -> None:
    app = create(gateway, token, app_name="target")
    if body.get("app_id") == APP_ID and case != "app_id unknown":
        body = {**body, "app_id": app["app_id"]}
    assert gateway.call("PATCH", "/v1/app", token, json=body) == {"code": code, "msg": msg}
    unchanged = gateway.call("GET", "/v1/app", token, params={"app_id": app["app_id"]})["result"]
    assert unchanged == app


@pytest.mark.parametrize(
    ("case", "method", "path", "params", "code", "msg"),
    QUERY_CASES,
    ids=[c[0] for c in QUERY_CASES],
)
def test_query_validation(
    gateway: Gateway,
    token: str,
    case: str,
    method: str,
    path: str,
    params: dict[str, Any],
    code: int,
    msg: str,
) -> None:
    assert gateway.call(method, path, token, params=params) == {"code": code, "msg": msg}


@pytest.mark.parametrize("raw", [b"{", b"{'app_name': 'a'}", b"", b"nul", b"\xff\xfe"])
def test_malformed_json_is_606000003(gateway: Gateway, token: str, raw: bytes) -> None:
    reply = gateway.call(
        "POST", "/v1/app", token, content=raw, headers={"Content-Type": "application/json"}
    )
    assert reply["code"] == 606000003
    assert reply["msg"] in ("body: malformed JSON", "body: must be a JSON object")


def test_oversized_body_is_refused_without_reading_it_all(gateway: Gateway, token: str) -> None:
    big = b'{"app_name": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    reply = gateway.call("POST", "/v1/app", token, content=big)
    assert reply == {"code": 606000003, "msg": "body: larger than 1048576 bytes"}


def test_unknown_fields_are_ignored(gateway: Gateway, token: str) -> None:
    app = create(gateway, token, app_name="extra", color="blue")
    assert "color" not in app


def test_a_developer_holds_at_most_the_apps_limit(tmp_path: Path) -> None:
    for gw in start_gateway(tmp_path, limit_apps_per_developer=2):
        token = gw.access_token(gw.new_dev())
        first = create(gw, token, app_name="one")
        create(gw, token, app_name="two")
        reply = gw.call(
            "POST", "/v1/app", token, json={"app_name": "three", "service": [{"service_id": 3}]}
        )
        assert reply == {
            "code": 606000005,
            "msg": "a developer may hold at most 2 apps; delete one first",
        }
        assert gw.call("GET", "/v1/apps", token)["result"]["total"] == 2  # nothing half-made
        assert gw.call("DELETE", "/v1/app", token, params={"app_id": first["app_id"]})["code"] == 0
        assert create(gw, token, app_name="three")["app_name"] == "three"
        other = gw.access_token(gw.new_dev())
        assert create(gw, other, app_name="one")["app_name"] == "one"
