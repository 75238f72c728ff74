"""The platform's app factory: one FastAPI app per process, its state built in ``lifespan``.

It includes the native API and the faces it is given; which faces a running app has is decided
above the platform, by the composition root (:mod:`journalloft.app`)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import struct
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from journalloft.platform.audit.seal import load_seal_key, seal_all
from journalloft.platform.auth.scopes import Scopes
from journalloft.platform.core.settings import Settings, get_settings
from journalloft.platform.core.stopping import bounded
from journalloft.platform.http.docs import install_docs
from journalloft.platform.http.faces import Face
from journalloft.platform.http.lifecycle import Lifecycle
from journalloft.platform.http.middleware import PlatformMiddleware
from journalloft.platform.http.openapi import openapi_document
from journalloft.platform.http.problems import install_error_handlers
from journalloft.platform.http.routes import (
    audit,
    health,
    issuer,
    report,
    restrictions,
    subscriptions,
)
from journalloft.platform.http.routes.health import sample
from journalloft.platform.http.routes.sharing import service_router, unknown_service_router
from journalloft.platform.observability import tracing
from journalloft.platform.observability.metrics import worker_exited
from journalloft.platform.operations.retention import purge_all
from journalloft.platform.plugins.registry import load_services
from journalloft.platform.runtime import Runtime, build_runtime

log = logging.getLogger("journalloft")


async def _purge_periodically(runtime: Runtime) -> None:
    interval = runtime.settings.purge_interval_seconds
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(purge_all, runtime)
        except Exception:  # a failed purge is retried at the next interval, and logged
            log.exception("retention purge failed")


def _seal(runtime: Runtime) -> None:
    key = load_seal_key(runtime.settings)
    tenants = [tenant.kommunenummer for tenant in runtime.tenants.all()]
    seal_all(runtime.stores, tenants, key=key, now=runtime.clock())


async def _seal_periodically(runtime: Runtime) -> None:
    """Seal the settled audit events of every tenant (``audit/seal.py``); off the hot path."""
    interval = runtime.settings.audit_seal_interval_seconds
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(_seal, runtime)
        except Exception:  # retried at the next interval, and logged
            log.exception("audit sealing failed")


SAMPLE_SECONDS = 5.0


async def _sample_periodically(runtime: Runtime) -> None:
    """Keep this worker's pool gauges current, whichever worker a scrape reaches."""
    while True:
        try:
            sample(runtime)
        except Exception:  # a gauge must never stop the app
            log.debug("pool sampling failed", exc_info=True)
        await asyncio.sleep(SAMPLE_SECONDS)


class PlatformApp(FastAPI):
    """The app, which gives each HTTP request a way to abort its connection (scope key
    :data:`~.routes.subscriptions.ABORT`) when the server's ``send`` is uvicorn's (it has the
    connection's transport): an event stream whose client stopped reading is ended by an abort,
    as ASGI has no message for it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            # uvloop's transports are not asyncio.Transport subclasses: what they can do counts
            if callable(getattr(transport, "abort", None)) and callable(
                getattr(transport, "get_extra_info", None)
            ):
                scope[subscriptions.ABORT] = functools.partial(_reset, transport)
        await super().__call__(scope, receive, send)


_LINGER_NONE = struct.pack("ii", 1, 0)


def _reset(transport: Any) -> None:
    """Close the connection at once with a reset: a plain close (even an abort) leaves the
    kernel sending what it holds, to a client that never reads, and the connection open."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_NONE)
    transport.abort()


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    handle_signals: bool = False,
    faces: Sequence[Face] = (),
) -> FastAPI:
    """Build the app with ``faces`` beside the native API; the database engine and Redis are
    created when it starts.

    ``handle_signals``: drain on SIGTERM before uvicorn stops (:mod:`.lifecycle`); only for a
    process that uvicorn runs in its main thread (``journalloft serve``)."""
    settings = settings or get_settings()
    # a given runtime has loaded them already (a test's, say): the routes are built from its own
    schemas, services = (
        (runtime.schemas, runtime.services) if runtime is not None else load_services(settings)
    )
    lifecycle = Lifecycle(grace_seconds=settings.shutdown_grace_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tracing.configure(settings.otlp_endpoint)
        app.state.runtime = runtime or build_runtime(settings, loaded=(schemas, services))
        app.state.runtime.scopes = scopes
        await app.state.runtime.open_async()
        if handle_signals:
            lifecycle.install()
        tasks = [asyncio.create_task(_sample_periodically(app.state.runtime), name="sample")]
        if settings.purge_interval_seconds > 0:
            tasks.append(asyncio.create_task(_purge_periodically(app.state.runtime), name="purge"))
        if settings.audit_seal_interval_seconds > 0:
            tasks.append(asyncio.create_task(_seal_periodically(app.state.runtime), name="seal"))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                report = await bounded(f"the periodic task {task.get_name()}", task)
                if report is not None:
                    app.state.runtime.stuck_on_stop.append(report)
            worker_exited(os.getpid())
            if settings.otlp_endpoint is not None:
                tracing.shutdown()
            await app.state.runtime.close_async()
            if runtime is None:
                app.state.runtime.close()

    app = PlatformApp(
        title="journalløft sharing platform",
        version="1",
        summary="Standardized sharing services over each municipality's own store.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
    )
    install_error_handlers(app)
    app.add_middleware(
        PlatformMiddleware,
        max_body_bytes=settings.max_body_bytes,
        https=settings.issuer_url.startswith("https://"),
        lifecycle=lifecycle,
    )
    app.state.lifecycle = lifecycle
    install_docs(app)
    for routes in (health, audit, report, restrictions, issuer):
        app.include_router(routes.router)
    for service in services.values():
        app.include_router(service_router(service))
        app.include_router(subscriptions.subscription_router(service))
    app.include_router(subscriptions.router)
    app.include_router(unknown_service_router(list(services)))
    renderers = {}
    scopes = Scopes([v for face in faces if (v := face.scope_vocabulary(services)) is not None])
    for face in faces:
        app.include_router(face.router(services))
        if face.renderer is not None:
            renderers[face.prefix] = face.renderer
    app.state.face_renderers = renderers

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(app, schemas)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    if runtime is not None:
        runtime.scopes = scopes
        app.state.runtime = runtime
    return app
