"""``/openapi.json`` and ``/docs``, both made from the route table and its models."""

from __future__ import annotations

import html
import json
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from hstgw import __version__
from hstgw.api.http import Route
from hstgw.errors import Code

__all__ = ["docs_html", "openapi"]

_REF = "#/components/schemas/{model}"


def _envelope(result_ref: dict[str, Any] | None) -> dict[str, Any]:
    props: dict[str, Any] = {
        "code": {"type": "integer", "enum": [c.value for c in Code]},
        "msg": {"type": "string"},
    }
    if result_ref is not None:
        props["result"] = result_ref
    return {"type": "object", "required": ["code", "msg"], "properties": props}


def openapi(routes: list[Route]) -> dict[str, Any]:
    models: set[type[BaseModel]] = set()
    for r in routes:
        models.update(m for m in (r.query, r.body, r.result) if m is not None)
    ordered = sorted(models, key=lambda m: m.__name__)
    refs, defs = models_json_schema([(m, "validation") for m in ordered], ref_template=_REF)
    schemas = defs.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        op: dict[str, Any] = {
            "operationId": f"{r.method.lower()}_{r.path.strip('/').replace('/', '_')}",
            "summary": r.summary,
            "tags": [r.tag],
        }
        if r.description:
            op["description"] = r.description
        if r.auth == "access":
            op["security"] = [{"access_token": []}]
        elif r.auth == "node":
            op["security"] = [{"node_key": []}]
        if r.query is not None:
            schema = schemas[r.query.__name__]
            required = set(schema.get("required", []))
            op["parameters"] = [
                {"name": name, "in": "query", "required": name in required, "schema": prop}
                for name, prop in schema["properties"].items()
            ]
        if r.path == "/access/token":
            op["parameters"] = [
                {
                    "name": "Authorization",
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string", "pattern": r"^[0-9a-f]{32}\.001.+$"},
                    "description": "`<dev_id>.<001 token>`",
                }
            ]
        if r.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(r.body, "validation")]}},
            }
        if r.raw:
            raw_schema = (
                {"type": "object"} if r.media_type == "application/json" else {"type": "string"}
            )
            content: dict[str, Any] = {r.media_type: {"schema": raw_schema}}
        else:
            result_ref = refs[(r.result, "validation")] if r.result is not None else None
            content = {"application/json": {"schema": _envelope(result_ref)}}
        op["responses"] = {
            "200": {
                "description": "The business outcome; errors too carry HTTP 200 and a code.",
                "headers": {"X-Request-Id": {"schema": {"type": "string"}}},
                "content": content,
            }
        }
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "hst-gateway",
            "version": __version__,
            "description": "Codes: " + ", ".join(f"{c.value} {c.default_msg}" for c in Code),
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "access_token": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "The bare access_token, or `Bearer <access_token>`.",
                },
                "node_key": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A node key from `hstgw node create`.",
                },
            },
        },
    }


def docs_html(spec: dict[str, Any]) -> str:
    """A self-contained page (no scripts, no CDN) listing every operation."""
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>hst-gateway API</title>",
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
        "padding:0 1rem}code,pre{background:#f4f4f4;padding:.1rem .3rem}pre{padding:.6rem;"
        "overflow:auto}h2{border-top:1px solid #ddd;padding-top:1rem}td,th{border:1px solid "
        "#ddd;padding:.2rem .5rem}table{border-collapse:collapse}</style></head><body>",
        f"<h1>hst-gateway API {e(spec['info']['version'])}</h1>",
        '<p>Every response is <code>{"code", "msg", "result"}</code> with HTTP 200; '
        "the machine-readable description is <a href='/openapi.json'>/openapi.json</a>.</p>",
        "<table><tr><th>code</th><th>meaning</th></tr>",
        *(f"<tr><td>{c.value}</td><td>{e(c.default_msg)}</td></tr>" for c in Code),
        "</table>",
    ]
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            parts.append(f"<h2><code>{method.upper()} {e(path)}</code> {e(op['summary'])}</h2>")
            if op.get("description"):
                parts.append(f"<p>{e(op['description'])}</p>")
            if op.get("security"):
                parts.append("<p>Needs <code>Authorization: &lt;access_token&gt;</code>.</p>")
            if op.get("parameters"):
                parts.append(
                    "<table><tr><th>parameter</th><th>in</th><th>required</th><th>schema</th></tr>"
                )
                for p in op["parameters"]:
                    schema = e(json.dumps(p["schema"], ensure_ascii=False))
                    parts.append(
                        f"<tr><td>{e(p['name'])}</td><td>{p['in']}</td><td>{p['required']}</td>"
                        f"<td><code>{schema}</code></td></tr>"
                    )
                parts.append("</table>")
            if "requestBody" in op:
                ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                name = ref.rsplit("/", 1)[1]
                parts.append(f"<p>Body: <a href='#schema-{name}'>{name}</a></p>")
            content = op["responses"]["200"]["content"]
            schema = content.get("application/json", {}).get("schema", {})
            result = schema.get("properties", {}).get("result", {}).get("$ref")
            if result:
                name = result.rsplit("/", 1)[1]
                parts.append(f"<p>Result: <a href='#schema-{name}'>{name}</a></p>")
    parts.append("<h2>Schemas</h2>")
    for name, schema in spec["components"]["schemas"].items():
        body = e(json.dumps(schema, indent=2, ensure_ascii=False))
        parts.append(f"<h3 id='schema-{name}'>{name}</h3><pre>{body}</pre>")
    parts.append("</body></html>")
    return "".join(parts)
