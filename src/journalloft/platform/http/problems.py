"""The one renderer of errors as problem+json (RFC 9457), and the JSON renderer of answers."""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Callable
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

from journalloft.platform.core.errors import (
    FieldError,
    InvalidContent,
    MethodNotAllowed,
    NotFound,
    Problem,
    ServiceUnavailable,
    Unauthorized,
)
from journalloft.platform.observability.metrics import AUTH_REFUSALS, OVERLOADED, REDIS_ERRORS
from journalloft.platform.storage.redis_clients import PoolSaturated


class JSONResponse(Response):
    """JSON rendered by orjson: instants in RFC 3339 with ``Z`` for UTC, dates as ``YYYY-MM-DD``."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_UTC_Z)


error_log = logging.getLogger("journalloft.error")


def problem_response(
    problem: Problem, *, correlation_id: str | None = None, connection_close: bool = False
) -> Response:
    headers = dict(problem.headers)
    if correlation_id:
        headers["correlation-id"] = correlation_id
    if connection_close:
        headers["connection"] = "close"
    return Response(
        orjson.dumps(problem.body()),
        status_code=problem.status,
        media_type=problem.media_type,
        headers=headers,
    )


FaceRenderer = Callable[[Request, Problem, str | None], Response]
"""Renders a problem in a face's own form (FHIR's OperationOutcome) for the paths under its
prefix: the same status, detail and places, another format."""


def render_problem(request: Request, problem: Problem) -> Response:
    """The problem as the face the request went to renders it; problem+json by default."""
    app = request.scope.get("app")  # the middleware renders too, perhaps before any app
    renderers: dict[str, FaceRenderer] = getattr(getattr(app, "state", None), "face_renderers", {})
    path = request.url.path
    for prefix, render in renderers.items():
        if path == prefix or path.startswith(prefix + "/"):
            return render(request, problem, correlation_id(request))
    return problem_response(problem, correlation_id=correlation_id(request))


def correlation_id(request: Request) -> str:
    value = getattr(request.state, "correlation_id", None)
    return value if isinstance(value, str) else str(uuid.uuid4())


def _pointer_for(location: tuple[Any, ...]) -> str:
    parts = [str(p) for p in location[1:]] if location and location[0] == "body" else location
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def install_error_handlers(app: FastAPI) -> None:
    """Render every error as problem+json; never a 500 for anything a client sent (what is
    left, an unexpected error, :class:`PlatformMiddleware` answers and logs)."""

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        if isinstance(exc, Unauthorized):
            AUTH_REFUSALS.labels(exc.error or "no_token").inc()
        return render_problem(request, exc)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [FieldError(_pointer_for(tuple(e["loc"])), e["msg"]) for e in exc.errors()]
        return render_problem(
            request, InvalidContent("the request does not have the expected form", errors=errors)
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
        return render_problem(request, problem)

    async def on_unavailable(request: Request, exc: Exception) -> Response:
        if isinstance(exc, PoolSaturated):
            OVERLOADED.labels("redis").inc()
            return render_problem(
                request,
                ServiceUnavailable(
                    "the platform is busy with other requests: send it again shortly",
                    retry_after=1,
                ),
            )
        if isinstance(exc, redis.RedisError):
            REDIS_ERRORS.labels("request").inc()
        error_log.warning(
            "dependency unavailable: %s correlation-id=%s",
            type(exc).__name__,
            correlation_id(request),
            extra={"correlation_id": correlation_id(request)},
        )
        return render_problem(
            request, ServiceUnavailable("a database or cache the platform needs is not reachable")
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
