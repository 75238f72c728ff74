"""Optional OpenTelemetry tracing: a span per request, with its database and Redis calls inside.

Off unless ``JOURNALLOFT_OTLP_ENDPOINT`` is set (and the ``tracing`` extra is installed): then
:func:`configure` sends spans to that OTLP/HTTP endpoint. Off, :func:`span` is a no-op that costs
one check.

No attribute is a person id or a string a client chose: a request's span names its route
template, method, status, correlation id (in its safe shape), the authenticated client and the
onboarded municipality; a database span names the system, the server (host:port) and the
statement's verb; a Redis span, the command and what it was for. Never a path, a parameter, a
key or a statement's text.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

_tracer: Tracer | None = None
_provider: TracerProvider | None = None


def enabled() -> bool:
    return _tracer is not None


def configure(endpoint: str | None) -> None:
    """Trace to ``endpoint`` (OTLP/HTTP), or not at all when it is None."""
    if endpoint is None:
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "journalloft"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    install(provider)


def install(provider: TracerProvider) -> None:
    """Trace through ``provider`` (the tests give one with an in-memory exporter)."""
    global _tracer, _provider
    _provider = provider
    _tracer = provider.get_tracer("journalloft")
    _instrument_sqlalchemy()


def shutdown() -> None:
    """Send what is buffered and stop tracing."""
    global _tracer, _provider
    provider, _provider, _tracer = _provider, None, None
    if provider is not None:
        provider.shutdown()


@contextlib.contextmanager
def span(name: str, **attributes: str | int | bool) -> Iterator[Span | None]:
    """A span (child of the current one) while the block runs; None when tracing is off."""
    if _tracer is None:
        yield None
        return
    with _tracer.start_as_current_span(name, attributes=attributes) as current:
        yield current


def set_attributes(current: Span | None, **attributes: Any) -> None:
    if current is not None:
        current.set_attributes({k: v for k, v in attributes.items() if v is not None})


_instrumented = False


def _instrument_sqlalchemy() -> None:
    """A span around every statement any engine runs (SQLAlchemy's cursor events)."""
    global _instrumented
    if _instrumented:
        return
    _instrumented = True
    from sqlalchemy import Engine, event

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if _tracer is None:
            return
        dialect = conn.engine.dialect.name
        url = conn.engine.url
        server = "sqlite" if dialect == "sqlite" else f"{url.host}:{url.port or 5432}"
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "?"
        current = _tracer.start_span(
            f"db {verb}",
            attributes={"db.system": dialect, "db.operation": verb, "server.address": server},
        )
        conn.info.setdefault("journalloft.spans", []).append(current)

    def after(conn: Any, *args: Any) -> None:
        spans = conn.info.get("journalloft.spans")
        if spans:
            spans.pop().end()

    def failed(context: Any) -> None:
        spans = context.connection.info.get("journalloft.spans") if context.connection else None
        if spans:
            current = spans.pop()
            current.set_attribute("error.type", type(context.original_exception).__name__)
            current.end()

    event.listen(Engine, "before_cursor_execute", before)
    event.listen(Engine, "after_cursor_execute", after)
    event.listen(Engine, "handle_error", failed)
