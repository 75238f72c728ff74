"""The OpenAPI document, with the JSON Schemas of ``schemas/`` as its components, so that tools
generate requests from the real data contracts; and the helpers routes describe themselves with."""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from journalloft.platform.core.jsonschemas import SCHEMA_BASE, Schemas

COMMON_SCHEMA = SCHEMA_BASE + "platform/v1/common.schema.json"


def component_name(schema_id: str) -> str:
    return schema_id.removeprefix(SCHEMA_BASE).removesuffix(".schema.json").replace("/", ".")


def schema_ref(schema_id: str, fragment: str = "") -> dict[str, str]:
    """An OpenAPI reference to one of the JSON Schemas (see :func:`openapi_document`)."""
    return {"$ref": f"#/components/schemas/{component_name(schema_id)}{fragment}"}


def json_body_spec(schema_id: str, fragment: str = "") -> dict[str, Any]:
    """``openapi_extra`` of a route whose JSON body is one of the JSON Schemas."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema_ref(schema_id, fragment)}},
        }
    }


PROBLEM = {"application/problem+json": {"schema": schema_ref(COMMON_SCHEMA, "/$defs/problem")}}
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": PROBLEM}
    for status, text in {
        400: "Malformed JSON, a key twice in one object, or nesting deeper than 32",
        401: "Missing or invalid access token",
        403: "The token does not carry the right, or the municipality has not granted it",
        404: "Unknown municipality, service or record",
        413: "Body larger than 5 MiB",
        415: "Body not application/json",
        422: "Invalid content: every violation with a JSON Pointer",
        429: "Rate limited (Retry-After)",
        503: "A dependency is down (Retry-After)",
    }.items()
}
"""The problem answers every route may give, for ``responses=``."""


def _rewrite(node: Any, *, own: str) -> Any:
    """Point every ``$ref`` at the component that holds the target schema."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in ("$id", "$schema"):
                continue
            if key == "$ref" and isinstance(value, str):
                target, _, fragment = value.partition("#")
                base = target if target else own
                if not base.startswith(SCHEMA_BASE):
                    base = own.rsplit("/", 1)[0] + "/" + base
                    parts: list[str] = []
                    for part in base.removeprefix(SCHEMA_BASE).split("/"):
                        if part == "..":
                            parts.pop()
                        elif part != ".":
                            parts.append(part)
                    base = SCHEMA_BASE + "/".join(parts)
                out[key] = f"#/components/schemas/{component_name(base)}{fragment}"
            else:
                out[key] = _rewrite(value, own=own)
        return out
    if isinstance(node, list):
        return [_rewrite(item, own=own) for item in node]
    return node


def openapi_document(app: FastAPI, schemas: Schemas) -> dict[str, Any]:
    document = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=(
            "The public API, version 1: see docs/api.md in the repository for every rule. Record "
            "bodies are the JSON Schemas (draft 2020-12) under `schemas/`, embedded here as "
            "components."
        ),
        routes=app.routes,
    )
    components = document.setdefault("components", {}).setdefault("schemas", {})
    for schema_id, schema in schemas.documents.items():
        components[component_name(schema_id)] = _rewrite(copy.deepcopy(schema), own=schema_id)
    document["components"]["securitySchemes"] = {
        "DPoP": {
            "type": "http",
            "scheme": "DPoP",
            "description": "Access token bound to a key, with a DPoP proof header (RFC 9449)",
        },
        "Bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    }
    document["security"] = [{"DPoP": []}, {"Bearer": []}]
    return document
