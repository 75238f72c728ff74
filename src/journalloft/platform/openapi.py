"""The OpenAPI document, with the JSON Schemas of ``schemas/`` as its components, so that tools
generate requests from the real data contracts."""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from journalloft.platform.api import component_name
from journalloft.platform.jsonschemas import SCHEMA_BASE, Schemas


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
            "Public contract v1 (CONTRACT.md). Record bodies are the JSON Schemas (draft 2020-12) "
            "under `schemas/`, embedded here as components."
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
