"""Schemathesis against our own /openapi.json: every route, authenticated, generated
inputs valid and invalid. No 5xx, no reply outside the schema, no trace to the caller.

The API answers every business outcome with HTTP 200 and the code in the envelope
(design 2), so the checks are those that hold for such an API: no server error,
the declared content type, and the body valid against the declared schema.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

from tests.conftest import Gateway

# Bounded so that the suite stays within minutes: ~12 operations.
EXAMPLES = 150


def operations(gateway: Gateway) -> list[Any]:
    doc = gateway.http.get(f"{gateway.url}/openapi.json").json()
    return [result.ok() for result in schemathesis.openapi.from_dict(doc).get_all_operations()]


@pytest.fixture(scope="module")
def fuzz_auth(gateway: Gateway) -> dict[str, str]:
    """A developer with an app, whose token every generated call carries (the node key
    for the nodes' routes)."""
    dev = gateway.new_dev()
    token = gateway.access_token(dev)
    reply = gateway.call(
        "POST",
        "/v1/app",
        token,
        json={"app_name": "fuzzed", "status": "online", "service": [{"service_id": 7}]},
    )
    assert reply["code"] == 0
    return {"token": token, "node": gateway.new_node("fuzz")}


def fuzz(op: Any, auth: str | None, base_url: str, session: requests.Session) -> None:
    """Generated calls of one operation: valid and invalid inputs, each checked."""

    @given(case=op.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,  # the same inputs on every run: a failure reproduces
        database=None,
    )
    def check(case: Any) -> None:
        headers = {"Authorization": auth} if auth is not None else None
        response = case.call_and_validate(
            base_url=base_url,
            session=session,
            headers=headers,
            checks=[not_a_server_error, content_type_conformance, response_schema_conformance],
        )
        assert response.status_code in (200, 404, 405, 413), response.text
        if response.status_code == 200 and "json" in response.headers["content-type"]:
            body = response.json()
            # an unhandled error would be 606000005 with a logged trace
            assert not (isinstance(body, dict) and body.get("code") == 606000005), (
                op.label,
                body,
            )

    check()


def test_every_operation(gateway: Gateway, fuzz_auth: dict[str, str]) -> None:
    ops = operations(gateway)
    assert len(ops) >= 12
    with requests.Session() as session:
        for op in ops:
            if op.path.startswith("/internal/"):
                auth: str | None = f"Bearer {fuzz_auth['node']}"
            elif op.path == "/access/token":
                auth = None  # the generated header: a wrong one answers 606000000
            else:
                auth = fuzz_auth["token"]
            fuzz(op, auth, gateway.url, session)
