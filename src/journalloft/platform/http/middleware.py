"""The ASGI middleware every request passes: correlation id, body-size limit, security headers,
the last word on unexpected errors, and the access log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from journalloft.platform.core.errors import (
    BadRequest,
    PayloadTooLarge,
    Problem,
    ServiceUnavailable,
)
from journalloft.platform.core.strings import check_request
from journalloft.platform.http.lifecycle import RETRY_AFTER_SECONDS, Lifecycle
from journalloft.platform.http.problems import problem_response, render_problem
from journalloft.platform.observability import tracing
from journalloft.platform.observability.logs import (
    CORRELATION_ID_RULE,
    accept_correlation_id,
    describe_exception,
    new_correlation_id,
)
from journalloft.platform.observability.metrics import HTTP_DURATION, HTTP_REQUESTS

access_log = logging.getLogger("journalloft.access")


error_log = logging.getLogger("journalloft.error")


DOCS_ASSETS = "/docs/assets/"


UNMATCHED = "(no route)"


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Methods named as themselves in the log and the metrics; any other is ``other`` (a client
chooses the method, and a label must not be a string a client chose)."""


HSTS = b"max-age=63072000; includeSubDomains"


NO_STORE = (b"cache-control", b"no-store")


CLIENT_CLOSED_REQUEST = 499
OURS = frozenset({b"correlation-id", b"x-content-type-options", b"strict-transport-security"})


def _text_problem(scope: Scope) -> Problem | None:
    """What breaks the platform's rule for strings in the request's query string, path or
    headers (:func:`journalloft.platform.core.strings.check_request`), before any route reads
    them."""
    try:
        check_request(
            query=scope.get("query_string", b""),
            raw_path=scope.get("raw_path"),
            headers=scope["headers"],
        )
    except Problem as problem:
        return problem
    return None


class PlatformMiddleware:
    """What every response gets, whatever route answers it:

    - a correlation id in and out: the client's if it has a safe shape
      (:func:`~journalloft.platform.observability.logs.accept_correlation_id`), else a new one,
      and then
      ``correlation-id-replaced`` says why the client's was not used;
    - the body-size limit, before anything parses;
    - the platform's rule for strings (:mod:`journalloft.platform.core.strings`) on the query
      string, the path and the headers, before any route reads them;
    - ``X-Content-Type-Options: nosniff``, ``Cache-Control: no-store`` (every answer may carry a
      person's data or a token; the docs' static assets are the one exception) and, when the
      public URL is https, ``Strict-Transport-Security``;
    - a 500 problem for anything unexpected, logged by type and frames only, never re-raised (the
      server would print its traceback with the exception's message);
    - one access log line that names the route template, never the path as sent.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        https: bool = False,
        lifecycle: Lifecycle | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.https = https
        self.lifecycle = lifecycle or Lifecycle(grace_seconds=0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not tracing.enabled():
            await self._serve(scope, receive, send)
            return
        with tracing.span("HTTP request") as current:
            await self._serve(scope, receive, send)
            state = scope["state"]
            route = getattr(scope.get("route"), "path", UNMATCHED)
            method = scope["method"] if scope["method"] in METHODS else "other"
            if current is not None:
                current.update_name(f"{method} {route}")
            tracing.set_attributes(
                current,
                **{
                    "http.request.method": method,
                    "http.route": route,
                    "http.response.status_code": state.get("status"),
                    "journalloft.correlation_id": state.get("correlation_id"),
                    "journalloft.client": state.get("client_id"),
                    "journalloft.kommunenummer": state.get("kommunenummer"),
                },
            )

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
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
        lifecycle = self.lifecycle
        lifecycle.started()
        try:
            if lifecycle.refuses(scope["path"]):
                await problem_response(
                    ServiceUnavailable(
                        "this server is stopping: send the request again",
                        retry_after=RETRY_AFTER_SECONDS,
                    ),
                    connection_close=True,
                )(scope, receive, send_with_headers)
            elif declared < 0:
                await render_problem(Request(scope), BadRequest("Content-Length is not a number"))(
                    scope, receive, send_with_headers
                )
            elif declared > self.max_body_bytes:
                await render_problem(
                    Request(scope),
                    PayloadTooLarge(f"the body is larger than {self.max_body_bytes} bytes"),
                )(scope, receive, send_with_headers)
            elif (problem := _text_problem(scope)) is not None:
                await render_problem(Request(scope), problem)(scope, receive, send_with_headers)
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
        except asyncio.CancelledError:
            # uvicorn cuts what is still running when the grace after SIGTERM is over: say so
            # as a 503 the client retries (its transaction rolled back), not uvicorn's bare 500
            if lifecycle.draining and not response_started:
                with contextlib.suppress(Exception):
                    await problem_response(
                        ServiceUnavailable(
                            "this server stopped before it could answer: send the request "
                            "again (ingest is idempotent)",
                            retry_after=RETRY_AFTER_SECONDS,
                        ),
                        connection_close=True,
                    )(scope, receive, send_with_headers)
            raise
        except ClientDisconnect:
            # the client closed the connection before its request was read whole: nothing was
            # done and there is no one to answer; 499 (nginx's "client closed request") in the
            # access log and the metrics, not an error of the platform's
            if not response_started:
                status = CLIENT_CLOSED_REQUEST
        except Exception as exc:
            error_log.error(
                "unexpected error %s correlation-id=%s",
                describe_exception(exc),
                correlation_id,
                extra={"correlation_id": correlation_id},
            )
            if not response_started:
                await render_problem(
                    Request(scope),
                    Problem("the platform failed; the correlation id identifies this in its log"),
                )(scope, receive, send_with_headers)
        finally:
            lifecycle.finished()
        route = getattr(scope.get("route"), "path", UNMATCHED)
        elapsed = time.perf_counter() - started
        method = scope["method"] if scope["method"] in METHODS else "other"
        HTTP_REQUESTS.labels(route, method, str(status)).inc()
        HTTP_DURATION.labels(route, method).observe(elapsed)
        state = scope["state"]
        state["status"] = status
        access_log.info(
            "%s %s %s %.1fms client=%s correlation-id=%s",
            method,
            route,
            status,
            elapsed * 1000,
            state.get("client_id", "-"),
            correlation_id,
            extra={
                "correlation_id": correlation_id,
                "client": state.get("client_id"),
                "municipality": state.get("kommunenummer"),
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(elapsed * 1000, 1),
            },
        )
