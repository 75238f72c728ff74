"""The request body as JSON: the one reader every route that takes a body uses."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from journalloft.platform.core.errors import UnsupportedMediaType
from journalloft.platform.core.json_reader import MAX_DEPTH, parse_json

__all__ = ["MAX_DEPTH", "PARSED_ON_THE_LOOP", "parse_json", "read_json"]

PARSED_ON_THE_LOOP = 64 * 1024
"""A body up to this size is parsed on the event loop (well under a millisecond); a larger one,
up to the body limit (5 MiB: some 50 ms, more when a key is given twice), in a worker thread, so
that one client's body does not hold every other request."""


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
    body = await request.body()
    if len(body) > PARSED_ON_THE_LOOP:
        return await run_in_threadpool(parse_json, body)
    return parse_json(body)
