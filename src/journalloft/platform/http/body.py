"""The request body as JSON: the one reader every route that takes a body uses."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from journalloft.platform.core.errors import UnsupportedMediaType
from journalloft.platform.core.json_reader import MAX_DEPTH, parse_json

__all__ = ["MAX_DEPTH", "parse_json", "read_json"]


async def read_json(request: Request) -> Any:
    """The request body as JSON: 415 for another media type, 400 for malformed JSON (a lone
    surrogate and invalid UTF-8 included), for nesting deeper than :data:`MAX_DEPTH` and for a
    key twice in one object, 422 for U+0000 in any string (keys too); each with the JSON
    Pointer of what it refuses (see :func:`parse_json`)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise UnsupportedMediaType("send the body as application/json")
    return parse_json(await request.body())
