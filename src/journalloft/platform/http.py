"""HTTP plumbing: ASGI middleware (correlation id, body-size limit, access log), JSON bodies, and
the one renderer of errors as problem+json."""

from __future__ import annotations

import logging
import re
import sqlite3
import time
import uuid
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
