"""The request body as JSON: the one reader every route that takes a body uses."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request

from journalloft.platform.errors import (
    BadRequest,
    UnsupportedMediaType,
)


async def read_json(request: Request) -> Any:
    """The request body as JSON: 415 for another media type, 400 for malformed JSON."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise UnsupportedMediaType("send the body as application/json")
    body = await request.body()
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from exc
