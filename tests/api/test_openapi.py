"""/openapi.json and /docs describe every route; real responses match the schemas."""

from __future__ import annotations

from typing import Any

import jsonschema

from tests.conftest import Gateway

EXPECTED = {
    ("get", "/access/token"),
    ("post", "/v1/app"),
    ("patch", "/v1/app"),
    ("delete", "/v1/app"),
    ("get", "/v1/app"),
    ("get", "/v1/apps"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/server/address"),
    ("get", "/openapi.json"),
    ("get", "/docs"),
    ("get", "/metrics"),
    ("post", "/v1/kickout"),
    ("get", "/v1/online/user/state"),
    ("post", "/v1/online/trans-cmd"),
    ("post", "/v1/online/invite"),
    ("get", "/v1/online/address"),
    ("post", "/internal/v1/usage"),
    ("get", "/internal/v1/limits"),
    ("post", "/internal/v1/events"),
    ("get", "/v1/consuming/records"),
    ("get", "/v1/consuming/summary"),
    ("post", "/v1/webhooks"),
    ("get", "/v1/webhooks"),
    ("delete", "/v1/webhooks"),
    ("post", "/v1/webhooks/secret"),
    ("get", "/v1/webhooks/deliveries"),
    ("post", "/v1/webhooks/redeliver"),
}


def spec(gateway: Gateway) -> dict[str, Any]:
    r = gateway.http.get(f"{gateway.url}/openapi.json")
    assert r.status_code == 200
    body: dict[str, Any] = r.json()
    return body


def test_every_route_is_described(gateway: Gateway) -> None:
    doc = spec(gateway)
    assert doc["openapi"].startswith("3.1")
    ops = {(m, p) for p, methods in doc["paths"].items() for m in methods}
    assert ops == EXPECTED
    post = doc["paths"]["/v1/app"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreateApp"
    }
    assert post["security"] == [{"access_token": []}]
    params = {p["name"]: p for p in doc["paths"]["/v1/apps"]["get"]["parameters"]}
    assert params["page_size"]["schema"]["maximum"] == 100
    create = doc["components"]["schemas"]["CreateApp"]
    assert set(create["required"]) == {"app_name", "service"}
    assert create["properties"]["app_name"]["maxLength"] == 64


def validate(doc: dict[str, Any], method: str, path: str, body: dict[str, Any]) -> None:
    schema = doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema.validate(body, {**schema, "components": doc["components"]})


def test_real_responses_match_their_schemas(gateway: Gateway) -> None:
    doc = spec(gateway)
    dev = gateway.new_dev()
    issued = gateway.call(
        "GET", "/access/token", headers={"Authorization": gateway.dev_authorization(dev)}
    )
    validate(doc, "get", "/access/token", issued)
    token = issued["result"]["access_token"]
    created = gateway.call(
        "POST",
        "/v1/app",
        token,
        json={"app_name": "schema", "service": [{"service_id": 7, "use_limit": 9}]},
    )
    validate(doc, "post", "/v1/app", created)
    app_id = created["result"]["app_id"]
    validate(
        doc, "patch", "/v1/app", gateway.call("PATCH", "/v1/app", token, json={"app_id": app_id})
    )
    validate(
        doc, "get", "/v1/app", gateway.call("GET", "/v1/app", token, params={"app_id": app_id})
    )
    validate(doc, "get", "/v1/apps", gateway.call("GET", "/v1/apps", token))
    validate(
        doc,
        "delete",
        "/v1/app",
        gateway.call("DELETE", "/v1/app", token, params={"app_id": app_id}),
    )
    validate(doc, "get", "/v1/app", gateway.call("GET", "/v1/app", token, params={"app_id": "x"}))


def test_docs_page_lists_every_operation(gateway: Gateway) -> None:
    r = gateway.http.get(f"{gateway.url}/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    for method, path in EXPECTED:
        assert f"{method.upper()} {path}</code>" in r.text
    assert "606000003" in r.text and "<script" not in r.text
