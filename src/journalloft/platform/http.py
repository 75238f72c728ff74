"""HTTP plumbing: ASGI middleware (correlation id, body-size limit, access log), JSON bodies, and
the one renderer of errors as problem+json."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
import psycopg
import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from psycopg_pool import PoolTimeout
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from journalloft.platform.errors import (
    PROBLEM_JSON,
    BadRequest,
    FieldError,
    InvalidContent,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Problem,
    ServiceUnavailable,
    UnsupportedMediaType,
)

access_log = logging.getLogger("journalloft.access")
error_log = logging.getLogger("journalloft.error")
CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class JSONResponse(Response):
    """JSON rendered by orjson: instants in RFC 3339 with ``Z`` for UTC, dates as ``YYYY-MM-DD``."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_UTC_Z)


def problem_response(problem: Problem, *, correlation_id: str | None = None) -> Response:
    headers = dict(problem.headers)
    if correlation_id:
        headers["correlation-id"] = correlation_id
    return Response(
        orjson.dumps(problem.body()),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


class PlatformMiddleware:
    """Correlation id in and out, the body-size limit before anything parses, and an access log
    line per request that names no person."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("correlation-id", "")
        correlation_id = given if CORRELATION_ID.fullmatch(given) else str(uuid.uuid4())
        scope.setdefault("state", {})["correlation_id"] = correlation_id
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *(h for h in message["headers"] if h[0].lower() != b"correlation-id"),
                    (b"correlation-id", correlation_id.encode("latin-1")),
                ]
            await send(message)

        try:
            declared = int(headers.get("content-length", "0") or "0")
        except ValueError:
            declared = -1
        if declared < 0:
            await problem_response(
                BadRequest("Content-Length is not a number"), correlation_id=correlation_id
            )(scope, receive, send_with_id)
        elif declared > self.max_body_bytes:
            await problem_response(
                PayloadTooLarge(f"the body is larger than {self.max_body_bytes} bytes"),
                correlation_id=correlation_id,
            )(scope, receive, send_with_id)
        else:
            received = 0

            async def limited_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_body_bytes:
                        raise PayloadTooLarge(
                            f"the body is larger than {self.max_body_bytes} bytes"
                        )
                return message

            await self.app(scope, limited_receive, send_with_id)
        access_log.info(
            "%s %s %s %.1fms client=%s correlation-id=%s",
            scope["method"],
            scope["path"],
            status,
            (time.perf_counter() - started) * 1000,
            scope["state"].get("client_id", "-"),
            correlation_id,
        )


def correlation_id(request: Request) -> str:
    value = getattr(request.state, "correlation_id", None)
    return value if isinstance(value, str) else str(uuid.uuid4())


MAX_DEPTH = 32
"""How deep a body may nest arrays and objects: the top-level value is 1, ``{"records": [{…}]}``
is 3 deep. Every body of the API is at most 4 deep; anything deeper is refused before a
recursive validator sees it."""

_KEY_END = bytes.maketrans(b'" \t\n\r', b"\x01\x01\x01\x01\x01")
"""Turns every quote and whitespace byte into 0x01, a byte valid JSON never holds raw: a count of
0x01 before a colon then counts every key (its closing quote or whitespace comes before its colon)
and perhaps a few look-alikes inside strings, never fewer."""
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]', re.DOTALL)
_TOKENS_SEARCHED = 200_000
_SKIP = object()


async def read_json(request: Request) -> Any:
    """The request body as JSON: 415 for another media type, 400 for malformed JSON, for nesting
    deeper than :data:`MAX_DEPTH` and for a key twice in one object, 422 for U+0000 in any string
    (keys too); each with the JSON Pointer of what it refuses (see :func:`parse_json`)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise UnsupportedMediaType("send the body as application/json")
    return parse_json(await request.body())


def parse_json(body: bytes) -> Any:
    """Parse a body with orjson and refuse what orjson lets through but the platform must not
    take, without walking anything recursively:

    - deeper than :data:`MAX_DEPTH`: one iterative pass over the parsed value, which also counts
      the members of every object;
    - a key twice in one object (orjson keeps the last value): the members counted are compared
      with a count of the keys in the raw body (every colon after a quote or whitespace, an
      upper bound); only when they differ is the body parsed again by a parser that sees every
      pair, to name the object and the key;
    - U+0000, which JSON can only write as ``\\u0000``: searched for in the raw body, and only
      when found are the strings walked to point at it.

    Measured on a 1 MB ingest batch (2 600 NEWS2 records, on a busy 2-core VM): orjson about
    5 ms, these checks about 4 ms more (walk 1.8, key count 1.5, U+0000 0.7); the second parse,
    only when the counts differ, about 11 ms. ``python -m bench.json_body`` measures again.
    """
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if exc.msg == "depth limit exceeded":
            raise _too_deep(_deep_in_text(body)) from exc
        raise BadRequest(f"the body is not valid JSON: {exc}") from exc
    members = _members_within_depth(value)
    if members and body.translate(_KEY_END).count(b"\x01:") != members:
        _refuse_duplicate_keys(body)
    if b"\\u0000" in body:
        _refuse_nul(value)
    return value


def _escape(key: object) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _too_deep(pointer: str) -> BadRequest:
    return BadRequest(
        f"the body nests arrays and objects more than {MAX_DEPTH} deep",
        errors=[FieldError(pointer, f"is nested more than {MAX_DEPTH} deep")],
    )


def _members_within_depth(value: Any) -> int:
    """How many members the objects in ``value`` have; BadRequest if it nests too deep."""
    members = 0
    level: list[Any] = [value] if type(value) is dict or type(value) is list else []
    depth = 0
    while level:
        depth += 1
        if depth > MAX_DEPTH:
            raise _too_deep(_deep_in_value(value))
        below = []
        for node in level:
            children: Any = node
            if type(node) is dict:
                members += len(node)
                children = node.values()
            for child in children:
                if type(child) is dict or type(child) is list:
                    below.append(child)
        level = below
    return members


def _walk(value: Any) -> Iterator[tuple[str, Any]]:
    """Every value in ``value`` with its JSON Pointer, in document order, without recursion.

    The caller stops before a container nested deeper than it will go."""
    stack = [("", value)]
    while stack:
        pointer, node = stack.pop()
        yield pointer, node
        if type(node) is dict:
            stack.extend((f"{pointer}/{_escape(k)}", v) for k, v in reversed(node.items()))
        elif type(node) is list:
            stack.extend((f"{pointer}/{i}", node[i]) for i in range(len(node) - 1, -1, -1))


def _deep_in_value(value: Any) -> str:
    """The pointer of the first container nested more than :data:`MAX_DEPTH` deep."""
    for pointer, node in _walk(value):
        if (type(node) is dict or type(node) is list) and pointer.count("/") >= MAX_DEPTH:
            return pointer
    return ""


def _deep_in_text(body: bytes) -> str:
    """As :func:`_deep_in_value` for a body too deep for orjson to parse, found by reading its
    tokens; the whole body (``""``) if that is not found within the first 200 000 tokens."""
    path: list[Any] = []  # per open container: its current key (object) or index (array)
    expects_key: list[bool] = []
    for count, match in enumerate(_TOKEN.finditer(body)):
        token = match[0]
        if count > _TOKENS_SEARCHED:
            break
        if token in (b"[", b"{"):
            if len(path) >= MAX_DEPTH:
                return "".join(f"/{_escape(p)}" for p in path)
            path.append(0 if token == b"[" else _SKIP)
            expects_key.append(token == b"{")
        elif token in (b"]", b"}"):
            if path:
                path.pop()
                expects_key.pop()
        elif token == b",":
            if path and isinstance(path[-1], int):
                path[-1] += 1
            elif expects_key:
                expects_key[-1] = True
        elif expects_key and expects_key[-1]:
            try:
                path[-1] = orjson.loads(token)
            except orjson.JSONDecodeError:
                path[-1] = token[1:-1].decode("utf-8", errors="replace")
            expects_key[-1] = False
    return ""


class _Duplicated(dict[str, Any]):
    """An object of the body that has a key more than once; ``again`` names those keys."""

    again: list[str]


def _refuse_duplicate_keys(body: bytes) -> None:
    """BadRequest naming each object that has a key more than once, and the key, if one has.

    The standard parser sees every pair; numbers are not even converted. What orjson kept is
    within :data:`MAX_DEPTH`, but a value it dropped for a later one of the same key need not
    be: that is refused as too deep. Only when a duplicate was found is the result walked for
    the pointers."""
    duplicated = 0

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal duplicated
        members = dict(items)
        if len(members) == len(items):
            return members
        duplicated += 1
        named = Counter(key for key, _ in items)
        found = _Duplicated(members)
        found.again = [key for key, times in named.items() if times > 1]
        return found

    try:
        value = json.loads(body, object_pairs_hook=pairs, parse_int=_ignore, parse_float=_ignore)
    except RecursionError:  # too deep where orjson kept another value of a key given twice
        raise _too_deep(_deep_in_text(body)) from None
    if not duplicated:
        return
    errors = []
    for pointer, node in _walk(value):
        if isinstance(node, _Duplicated):
            errors += [
                FieldError(
                    pointer, f"has the key {json.dumps(k, ensure_ascii=False)} more than once"
                )
                for k in node.again
            ]
            duplicated -= 1
            if not duplicated:
                break
    raise BadRequest("an object in the body has the same key more than once", errors=errors)


def _ignore(_: str) -> None:
    return None


def _refuse_nul(value: Any) -> None:
    """InvalidContent pointing at every string (value or key) that holds U+0000."""
    errors = []
    for pointer, node in _walk(value):
        if type(node) is str and "\x00" in node:
            errors.append(FieldError(pointer, "contains U+0000 (NUL), which is not accepted"))
        elif type(node) is dict:
            errors += [
                FieldError(f"{pointer}/{_escape(k)}", "has U+0000 (NUL) in its name")
                for k in node
                if "\x00" in k
            ]
    if errors:
        errors.sort(key=lambda e: e.pointer)
        raise InvalidContent("a string in the body contains U+0000 (NUL)", errors=errors)


def _pointer_for(location: tuple[Any, ...]) -> str:
    parts = [str(p) for p in location[1:]] if location and location[0] == "body" else location
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def install_error_handlers(app: FastAPI) -> None:
    """Render every error as problem+json; never a 500 for anything a client sent."""

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return problem_response(exc, correlation_id=correlation_id(request))

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [FieldError(_pointer_for(tuple(e["loc"])), e["msg"]) for e in exc.errors()]
        return problem_response(
            InvalidContent("the request does not have the expected form", errors=errors),
            correlation_id=correlation_id(request),
        )

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        problem: Problem
        if exc.status_code == 404:
            problem = NotFound("no such resource")
        elif exc.status_code == 405:
            problem = MethodNotAllowed(
                "this method is not allowed here", headers=dict(exc.headers or {})
            )
        else:
            problem = Problem(str(exc.detail), status=exc.status_code, title="Request refused")
        return problem_response(problem, correlation_id=correlation_id(request))

    async def on_unavailable(request: Request, exc: Exception) -> Response:
        error_log.warning(
            "dependency unavailable: %s correlation-id=%s",
            type(exc).__name__,
            correlation_id(request),
        )
        return problem_response(
            ServiceUnavailable("a database or cache the platform needs is not reachable"),
            correlation_id=correlation_id(request),
        )

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        error_log.exception("unexpected error correlation-id=%s", correlation_id(request))
        return problem_response(
            Problem("the platform failed; the correlation id identifies this in its log"),
            correlation_id=correlation_id(request),
        )

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    for unavailable in (
        OperationalError,
        psycopg.OperationalError,
        PoolTimeout,
        sqlite3.OperationalError,
    ):
        app.add_exception_handler(unavailable, on_unavailable)
    app.add_exception_handler(redis.RedisError, on_unavailable)
    app.add_exception_handler(Exception, on_unexpected)
