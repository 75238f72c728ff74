"""Subscriptions (a lookup kept up to date) and their event streams.

The subscription routes are made per service, like the lookup; the stream is one route for every
service (the subscription knows its service). Events are ``text/event-stream`` through
sse-starlette: it frames the events, sends the heartbeat comments while the stream is idle, and
notices a client that has gone away or stopped reading (``send_timeout``).
"""

# No "from __future__ import annotations": FastAPI must see the dependency types as values.

import asyncio
import contextlib
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request, Response
from sse_starlette import EventSourceResponse
from sse_starlette.sse import SendTimeoutError
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from journalloft.platform.core.errors import NotFound
from journalloft.platform.http.dependencies import CallerDep, JsonBody, RuntimeDep
from journalloft.platform.http.guards import reader_of
from journalloft.platform.http.openapi import ERRORS, json_body_spec
from journalloft.platform.http.problems import JSONResponse
from journalloft.platform.operations import subscriptions
from journalloft.platform.operations.access import ReaderAccess, reader_access
from journalloft.platform.plugins.service_protocol import SharingService

SubscriptionId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]

log = logging.getLogger("journalloft.live")

ABORT = "journalloft.abort"
"""The scope key of the callable that aborts the request's connection (see
:class:`~journalloft.platform.http.app.PlatformApp`), when the server gives one."""


class StreamResponse(EventSourceResponse):
    """An event stream's response: its stream is closed whatever ends the response (also a
    ``HEAD``, which sse-starlette answers without iterating it), and a client that has not taken
    what was sent within ``send_timeout`` has its connection aborted.

    sse-starlette ends such a response with ``SendTimeoutError``; the server then closes the
    connection gracefully, which waits for the unsent bytes to drain, and a client that does not
    read never lets them: the connection stayed open, with neither a ``disconnect`` nor a
    close. An abort drops them and resets it."""

    def __init__(self, content: Any, *, stream: subscriptions.Stream, **options: Any) -> None:
        super().__init__(content, **options)
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except SendTimeoutError:
            abort = scope.get(ABORT)
            if abort is None:
                raise
            log.info("an event stream's client stopped reading: its connection is reset")
            abort()
            for _ in range(3):  # the server learns the connection is lost (not an error)
                await asyncio.sleep(0)
        finally:
            self.stream.close()


def subscription_router(service: SharingService) -> APIRouter:
    router = APIRouter(tags=[service.title])
    name, operation = service.name, service.name.replace("-", "_")
    reader = Depends(reader_of(service))

    @router.post(
        f"/v1/{name}/subscriptions",
        operation_id=f"subscribe_{operation}",
        summary=f"Subscribe to {service.title} for up to 200 people",
        status_code=201,
        response_class=JSONResponse,
        openapi_extra=json_body_spec(service.query_schema),
        responses=ERRORS,
    )
    async def post_subscription(
        access: Annotated[ReaderAccess, reader], body: JsonBody, runtime: RuntimeDep
    ) -> Response:
        """Make a subscription (the body is a lookup's); its events are at ``events``."""
        subscription = await subscriptions.create_subscription(runtime, access, body)
        return JSONResponse(
            subscriptions.describe(subscription),
            status_code=201,
            headers={"Location": f"/v1/{name}/subscriptions/{subscription.id}"},
        )

    @router.get(
        f"/v1/{name}/subscriptions",
        operation_id=f"list_subscriptions_{operation}",
        summary=f"This client's {service.title} subscriptions",
        response_class=JSONResponse,
        responses=ERRORS,
    )
    async def get_subscriptions(
        access: Annotated[ReaderAccess, reader], runtime: RuntimeDep
    ) -> Any:
        return {
            "subscriptions": [
                subscriptions.describe(s)
                for s in await subscriptions.list_subscriptions(runtime, access)
            ]
        }

    @router.put(
        f"/v1/{name}/subscriptions/{{subscription_id}}",
        operation_id=f"replace_subscription_{operation}",
        summary="Replace a subscription's people (its streams send a new snapshot)",
        response_class=JSONResponse,
        openapi_extra=json_body_spec(service.query_schema),
        responses=ERRORS,
    )
    async def put_subscription(
        access: Annotated[ReaderAccess, reader],
        subscription_id: SubscriptionId,
        body: JsonBody,
        runtime: RuntimeDep,
    ) -> Any:
        return subscriptions.describe(
            await subscriptions.replace_patients(runtime, access, subscription_id, body)
        )

    @router.delete(
        f"/v1/{name}/subscriptions/{{subscription_id}}",
        operation_id=f"end_subscription_{operation}",
        summary="End a subscription (its open streams end)",
        status_code=204,
        response_class=Response,
        responses=ERRORS,
    )
    async def delete_subscription(
        access: Annotated[ReaderAccess, reader],
        subscription_id: SubscriptionId,
        runtime: RuntimeDep,
    ) -> Response:
        await subscriptions.end_subscription(runtime, access, subscription_id)
        return Response(status_code=204)

    return router


router = APIRouter(tags=["Subscriptions"])
STOPPING = "this server is stopping: reconnect with your last event id"
RETRY_MILLISECONDS = 1000


@router.get(
    "/v1/subscriptions/{subscription_id}/events",
    operation_id="subscription_events",
    summary="A subscription's events (text/event-stream)",
    response_class=Response,
    responses={200: {"content": {"text/event-stream": {}}}, **ERRORS},
)
async def get_events(
    request: Request,
    subscription_id: SubscriptionId,
    caller: CallerDep,
    runtime: RuntimeDep,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    """``snapshot``, then ``update`` per changed person; ``reset`` before a fresh snapshot when
    ``Last-Event-ID`` is too old, or is not an id of this platform, however long or malformed
    (never an error); ``disconnect`` with a reason before the stream ends."""
    found = await run_in_threadpool(runtime.subscriptions.get, subscription_id)
    service = runtime.services.get(found.service) if found is not None else None
    if found is None or service is None or found.client_id != caller.client_id:
        raise NotFound("no such subscription of this client", title="Unknown subscription")
    access = reader_access(caller, service)
    stream = await subscriptions.open_stream(runtime, access, subscription_id, last_event_id)

    stopping = request.app.state.lifecycle.stopping

    async def events() -> Any:
        """The stream's events until this server begins to stop (SIGTERM): then a
        ``disconnect`` that says so, with a ``retry`` hint, and the board reconnects (to another
        server, or this one restarted) with its last id, losing nothing."""
        source = stream.events().__aiter__()
        stop = asyncio.ensure_future(stopping.wait())
        try:
            while True:
                following = asyncio.ensure_future(source.__anext__())
                await asyncio.wait({following, stop}, return_when=asyncio.FIRST_COMPLETED)
                if not following.done():
                    following.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                        await following
                    ended = subscriptions.disconnect(STOPPING, stream.position)
                    yield {**ended.as_dict(), "retry": RETRY_MILLISECONDS}
                    return
                try:
                    event = following.result()
                except StopAsyncIteration:
                    return
                yield event.as_dict()
        finally:
            stop.cancel()

    return StreamResponse(
        events(),
        stream=stream,
        ping=runtime.settings.heartbeat_seconds,
        send_timeout=runtime.settings.stream_send_timeout_seconds,
        headers={"Cache-Control": "no-store"},
        background=None,
    )
