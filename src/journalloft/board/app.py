"""The reference legevakt board: a backend-for-frontend and its one page.

The server side holds the client's key and its DPoP-bound tokens, keeps one subscription per
service and follows their event streams (:mod:`.state`). The page (``static/``, served from the
package: no build step, no CDN) gets the board as server-sent events from this server, and adds
and removes patients through it. Person ids go to this server in request bodies, never in a URL,
and come back to the page masked.

It serves on loopback by default and has no login of its own: it acts as its client for whoever
can reach it, as a board on the clinic's wall does. Every request must name one of its own
addresses as ``Host`` (Starlette's ``TrustedHostMiddleware``; by default the address it serves),
so a page of another site whose name was rebound to the board's address (DNS rebinding) is
refused; requests that change it must also be JSON from its own page (the ``Origin`` is
checked), so another site cannot drive it from a browser.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

from sse_starlette import EventSourceResponse
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from journalloft.board.parts import parts_checked
from journalloft.board.session import ApiError, ApiSession
from journalloft.board.state import Board
from journalloft.platform.face import PayloadTooLarge, Problem, parse_json, problem_response

STATIC = Path(str(files("journalloft.board") / "static"))

DEFAULT_HOSTS = ("127.0.0.1", "localhost")
"""The names a request may give as ``Host`` when none are configured: the loopback address the
board serves by default."""

MAX_BODY_BYTES = 4096
"""A request body the page sends is a few dozen bytes; more is refused before it is parsed."""

_DIGITS = re.compile(r"^[0-9]{11}$")


def valid_fodselsnummer(value: str) -> bool:
    """11 digits whose two check digits follow the mod-11 rule (as the page checks)."""
    if not _DIGITS.fullmatch(value):
        return False
    digits = [int(c) for c in value]
    k1 = 11 - sum(w * d for w, d in zip((3, 7, 6, 1, 8, 9, 4, 5, 2), digits, strict=False)) % 11
    k1 = 0 if k1 == 11 else k1
    k2 = 11 - sum(w * d for w, d in zip((5, 4, 3, 2, 7, 6, 5, 4, 3, 2), digits, strict=False)) % 11
    k2 = 0 if k2 == 11 else k2
    return k1 != 10 and k2 != 10 and (k1, k2) == (digits[9], digits[10])


SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


async def read_body(request: Request) -> Any:
    """The request's JSON through the platform's one reader; a :class:`Problem` (413, 400) for a
    body that is too large or not JSON."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"a board request's body is at most {MAX_BODY_BYTES} bytes")
    return parse_json(bytes(body))


def create_board_app(
    api_url: str,
    client: dict[str, Any],
    *,
    parts: Sequence[object],
    allowed_hosts: Sequence[str] = DEFAULT_HOSTS,
    name: str = "board",
) -> Starlette:
    """The board's app, showing the services' board ``parts`` (each service's
    ``face_parts["board"]``, gathered by the composition root). ``allowed_hosts``: the names
    (without port) a request may give as ``Host``; ``name``: this board's name among the boards
    of its client (see :class:`Board`)."""
    board = Board(
        ApiSession(api_url, client),
        client_id=client["client_id"],
        name=name,
        parts=parts_checked(parts),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await board.start()
        app.state.board = board
        try:
            yield
        finally:
            await board.stop()

    def same_origin(request: Request) -> bool:
        origin = request.headers.get("origin")
        host = request.headers.get("host", "")
        json_body = request.headers.get("content-type", "").startswith("application/json")
        return json_body and origin in (f"http://{host}", f"https://{host}")

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)

    async def events(request: Request) -> Response:
        async def stream() -> AsyncIterator[dict[str, str]]:
            async for view in board.watch():
                yield {"event": "board", "data": view}

        return EventSourceResponse(stream(), ping=10, headers={"Cache-Control": "no-store"})

    async def add(request: Request) -> Response:
        if not same_origin(request):
            return JSONResponse({"error": "JSON from this board's page only"}, status_code=403)
        try:
            body = await read_body(request)
        except Problem as problem:
            return problem_response(problem)
        patient = body.get("patient") if isinstance(body, dict) else None
        if not isinstance(patient, str) or not valid_fodselsnummer(patient):
            return JSONResponse(
                {"error": "not a fødselsnummer: 11 digits with two valid check digits"},
                status_code=422,
            )
        try:
            await board.add(patient)
        except ApiError as exc:
            return JSONResponse({"error": exc.detail}, status_code=exc.status)
        return JSONResponse({"added": board.key(patient)}, status_code=201)

    async def remove(request: Request) -> Response:
        if not same_origin(request):
            return JSONResponse({"error": "JSON from this board's page only"}, status_code=403)
        try:
            body = await read_body(request)
        except Problem as problem:
            return problem_response(problem)
        key = body.get("key") if isinstance(body, dict) else None
        if not isinstance(key, str) or not await board.remove(key):
            return JSONResponse({"error": "no such patient on this board"}, status_code=404)
        return Response(status_code=204)

    async def state(request: Request) -> Response:
        return JSONResponse(board.view())

    return Starlette(
        routes=[
            Route("/", page),
            Route("/events", events),
            Route("/board", state),
            Route("/patients", add, methods=["POST"]),
            Route("/patients/remove", remove, methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        lifespan=lifespan,
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))],
    )
