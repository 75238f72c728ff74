"""HTTP plumbing: ASGI middleware (correlation id, body-size limit, access log), JSON bodies, and
the one renderer of errors as problem+json."""

from __future__ import annotations

import logging
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
from journalloft.platform.logs import (
    CORRELATION_ID_RULE,
    accept_correlation_id,
    describe_exception,
    new_correlation_id,
)

access_log = logging.getLogger("journalloft.access")
error_log = logging.getLogger("journalloft.error")
DOCS_ASSETS = "/docs/assets/"
UNMATCHED = "(no route)"
HSTS = b"max-age=63072000; includeSubDomains"
NO_STORE = (b"cache-control", b"no-store")
OURS = frozenset({b"correlation-id", b"x-content-type-options", b"strict-transport-security"})


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
        media_type=problem.media_type,
        headers=headers,
    )


class PlatformMiddleware:
    """What every response gets, whatever route answers it:

    - a correlation id in and out: the client's if it has a safe shape
      (:func:`~journalloft.platform.logs.accept_correlation_id`), else a new one, and then
      ``correlation-id-replaced`` says why the client's was not used;
    - the body-size limit, before anything parses;
    - ``X-Content-Type-Options: nosniff``, ``Cache-Control: no-store`` (every answer may carry a
      person's data or a token; the docs' static assets are the one exception) and, when the
      public URL is https, ``Strict-Transport-Security``;
    - a 500 problem for anything unexpected, logged by type and frames only, never re-raised (the
      server would print its traceback with the exception's message);
    - one access log line that names the route template, never the path as sent.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, https: bool = False) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("correlation-id")
        accepted = accept_correlation_id(given)
        correlation_id = accepted or new_correlation_id()
        scope.setdefault("state", {})["correlation_id"] = correlation_id
        status = 500
        response_started = False
        extra_headers = [
            (b"correlation-id", correlation_id.encode("latin-1")),
            (b"x-content-type-options", b"nosniff"),
        ]
        if given and accepted is None:
            extra_headers.append(
                (b"correlation-id-replaced", b"not " + CORRELATION_ID_RULE.encode("ascii"))
            )
        if self.https:
            extra_headers.append((b"strict-transport-security", HSTS))
        cacheable = scope["path"].startswith(DOCS_ASSETS)

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                own = [h for h in message.get("headers", []) if h[0].lower() not in OURS]
                cache = [] if any(h[0].lower() == b"cache-control" for h in own) else [NO_STORE]
                if cacheable and status == 200:
                    cache = [(b"cache-control", b"public, max-age=86400")]
                message["headers"] = [*own, *extra_headers, *cache]
            await send(message)

        try:
            declared = int(headers.get("content-length", "0") or "0")
        except ValueError:
            declared = -1
        try:
            if declared < 0:
                await problem_response(BadRequest("Content-Length is not a number"))(
                    scope, receive, send_with_headers
                )
            elif declared > self.max_body_bytes:
                await problem_response(
                    PayloadTooLarge(f"the body is larger than {self.max_body_bytes} bytes")
                )(scope, receive, send_with_headers)
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

                await self.app(scope, limited_receive, send_with_headers)
        except Exception as exc:
            error_log.error(
                "unexpected error %s correlation-id=%s", describe_exception(exc), correlation_id
            )
            if not response_started:
                await problem_response(
                    Problem("the platform failed; the correlation id identifies this in its log")
                )(scope, receive, send_with_headers)
        route = scope.get("route")
        access_log.info(
            "%s %s %s %.1fms client=%s correlation-id=%s",
            scope["method"],
            getattr(route, "path", UNMATCHED),
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
    """Render every error as problem+json; never a 500 for anything a client sent (what is
    left, an unexpected error, :class:`PlatformMiddleware` answers and logs)."""

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
