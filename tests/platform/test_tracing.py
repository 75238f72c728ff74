"""OpenTelemetry tracing (when configured): a span per request with its database and Redis calls
inside, no person id in any attribute, and nothing at all when it is not configured."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from journalloft.platform.observability import tracing
from support import people
from support.platform import TestPlatform
from support.security import an_hour_ago

PEOPLE = people(2, seed="tracing")
AT = an_hour_ago()


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracing.install(provider)
    try:
        yield memory
    finally:
        tracing.shutdown()


def record(record_id: str, patient: str) -> dict[str, Any]:
    return {
        "id": record_id,
        "patient": patient,
        "updated": AT,
        "service_code": "015",
        "description": "Hjemmesykepleie",
        "unit": {"name": "Hjemmetjenesten", "phone": "+47 75 55 00 00"},
        "start": "2026-01-05",
        "temporary_cessation": False,
    }


def children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    """Every span under ``parent``, however deep."""
    assert parent.context is not None
    found, ids = [], {parent.context.span_id}
    for span in sorted(spans, key=lambda s: s.start_time or 0):
        if span.parent is not None and span.parent.span_id in ids:
            found.append(span)
            assert span.context is not None
            ids.add(span.context.span_id)
    return found


def test_a_span_per_request_with_its_database_calls_inside_and_no_person_id(
    platform: TestPlatform, exporter: InMemorySpanExporter
) -> None:
    epj, legevakt = platform.headers("bodo-epj"), platform.headers("bodo-legevakt")
    exporter.clear()
    pushed = platform.client.post(
        "/v1/tenants/1804/kommunale-tjenester/records",
        json={"records": [record(f"kt-{p}", p) for p in PEOPLE]},
        headers=epj,
    )
    assert pushed.status_code == 200
    looked = platform.client.post(
        "/v1/kommunale-tjenester/query",
        json={"patients": PEOPLE, "kommuner": ["1804"]},
        headers={**legevakt, "correlation-id": "trace-me"},
    )
    assert looked.status_code == 200
    spans = list(exporter.get_finished_spans())
    requests = {s.name: s for s in spans if s.parent is None}
    ingest = requests["POST /v1/tenants/{kommunenummer}/kommunale-tjenester/records"]
    lookup = requests["POST /v1/kommunale-tjenester/query"]
    assert ingest.attributes is not None
    assert ingest.attributes["http.response.status_code"] == 200
    assert ingest.attributes["journalloft.kommunenummer"] == "1804"
    assert ingest.attributes["journalloft.client"] == "bodo-epj"
    inside_ingest = {s.name for s in children(spans, ingest)}
    assert {"db INSERT", "db SELECT"} <= inside_ingest, inside_ingest
    assert lookup.attributes is not None
    assert lookup.attributes["journalloft.correlation_id"] == "trace-me"
    inside_lookup = {s.name for s in children(spans, lookup)}
    assert {"query_path fetch", "audit group commit"} <= inside_lookup, inside_lookup
    if platform.runtime.settings.redis_url:
        assert "redis INCR" in inside_lookup, inside_lookup
    for span in spans:
        text = f"{span.name} {dict(span.attributes or {})}"
        for person in PEOPLE:
            assert person not in text, text


def test_nothing_is_traced_when_tracing_is_not_configured(platform: TestPlatform) -> None:
    assert not tracing.enabled()
    with tracing.span("anything") as current:
        assert current is None
    answer = platform.client.post(
        "/v1/kommunale-tjenester/query",
        json={"patients": PEOPLE, "kommuner": ["1804"]},
        headers=platform.headers("bodo-legevakt"),
    )
    assert answer.status_code == 200
