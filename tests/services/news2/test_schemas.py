"""The news2 JSON Schemas (record, query, result, settings) and the demo data against them."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from journalloft.platform.core.identifiers import synthetic_person_id
from journalloft.platform.core.jsonschemas import Schemas
from journalloft.platform.core.settings import Settings
from journalloft.platform.http.problems import JSONResponse
from journalloft.platform.plugins.service_protocol import IngestContext, QueryContext
from journalloft.platform.storage.engines import Stores
from journalloft.platform.storage.migrations import migrate_tenant
from journalloft.platform.storage.records import stored_row, upsert_records
from journalloft.services.news2 import spec
from support import measurement as vital_signs
from support import query_service

REPO = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
PATIENT = synthetic_person_id(random.Random("news2-schemas"))
SETTINGS = "https://schemas.journalloft.no/news2/v1/settings.schema.json"


@pytest.fixture(scope="module")
def schemas() -> Schemas:
    return Schemas.load(REPO / "schemas")


def measurement(**changes: Any) -> dict[str, Any]:
    """A valid record with every field, with ``changes`` applied."""
    record = vital_signs(
        "m-1",
        PATIENT,
        at="2026-11-22T03:00:00+01:00",
        updated="2026-11-22T03:05:00+01:00",
        total_score=0,
        recorded_by={"name": "Kari Nordmann", "hpr": "1234567"},
        location="Hjemmesykepleien sone sør",
    )
    return record | changes


def record_errors(schemas: Schemas, record: dict[str, Any]) -> dict[str, str]:
    return {e.pointer: e.message for e in schemas.errors(record, spec.record_schema)}


def test_every_schema_of_the_spec_is_loaded(schemas: Schemas) -> None:
    for schema_id in (spec.record_schema, spec.query_schema, spec.result_schema, SETTINGS):
        assert schema_id in schemas.documents
    assert spec.settings_schema == SETTINGS


def test_the_schema_example_is_valid(schemas: Schemas) -> None:
    for example in schemas.documents[spec.record_schema]["examples"]:
        assert record_errors(schemas, example) == {}


@pytest.mark.parametrize(
    ("field", "low", "high"),
    [
        ("respiration_rate", 0, 80),
        ("spo2", 50, 100),
        ("systolic_bp", 40, 300),
        ("pulse", 20, 250),
        ("temperature", 25.0, 45.0),
        ("total_score", 0, 20),
    ],
)
def test_vital_signs_have_their_ranges(
    schemas: Schemas, field: str, low: float, high: float
) -> None:
    step = 0.1 if isinstance(low, float) else 1
    assert record_errors(schemas, measurement(**{field: low})) == {}
    assert record_errors(schemas, measurement(**{field: high})) == {}
    assert f"/{field}" in record_errors(schemas, measurement(**{field: low - step}))
    assert f"/{field}" in record_errors(schemas, measurement(**{field: high + step}))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("respiration_rate", 20.5),
        ("spo2", 95.5),
        ("systolic_bp", 110.5),
        ("pulse", 90.5),
        ("total_score", 4.5),
    ],
)
def test_counts_are_whole_numbers(schemas: Schemas, field: str, value: float) -> None:
    assert record_errors(schemas, measurement(**{field: value})) == {
        f"/{field}": "must be of type ['integer', 'null']"
    }


@pytest.mark.parametrize(
    "field",
    [
        "respiration_rate",
        "spo2",
        "supplemental_oxygen",
        "systolic_bp",
        "pulse",
        "consciousness",
        "temperature",
        "total_score",
        "recorded_by",
        "location",
    ],
)
def test_a_parameter_not_measured_is_null_or_absent(schemas: Schemas, field: str) -> None:
    assert record_errors(schemas, measurement(**{field: None})) == {}
    record = measurement()
    del record[field]
    assert record_errors(schemas, record) == {}


def test_spo2_scale_is_required_and_1_or_2(schemas: Schemas) -> None:
    record = measurement()
    del record["spo2_scale"]
    assert record_errors(schemas, record) == {"/spo2_scale": "is required"}
    assert "/spo2_scale" in record_errors(schemas, measurement(spo2_scale=3))
    assert "/spo2_scale" in record_errors(schemas, measurement(spo2_scale=None))


def test_effective_is_a_required_instant_with_offset(schemas: Schemas) -> None:
    record = measurement()
    del record["effective"]
    assert record_errors(schemas, record) == {"/effective": "is required"}
    assert "/effective" in record_errors(schemas, measurement(effective="2026-11-22T03:00:00"))


@pytest.mark.parametrize("level", ["A", "C", "V", "P", "U"])
def test_consciousness_is_acvpu(schemas: Schemas, level: str) -> None:
    assert record_errors(schemas, measurement(consciousness=level)) == {}


def test_consciousness_outside_acvpu_is_refused(schemas: Schemas) -> None:
    assert "/consciousness" in record_errors(schemas, measurement(consciousness="a"))


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"recorded_by": {"hpr": "1234567890"}}, "/recorded_by/hpr"),
        ({"recorded_by": {"hpr": "12a"}}, "/recorded_by/hpr"),
        ({"recorded_by": {"name": "x" * 201}}, "/recorded_by/name"),
        ({"recorded_by": {"title": "sykepleier"}}, "/recorded_by/title"),
        ({"location": "x" * 201}, "/location"),
    ],
)
def test_recorded_by_and_location_are_bounded(
    schemas: Schemas, changes: dict[str, Any], pointer: str
) -> None:
    assert list(record_errors(schemas, measurement(**changes))) == [pointer]


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"recorded_by": {"national_id": "1234567890"}}, "/recorded_by/national_id"),
        ({"data_controller": {"orgnr": "12345678"}}, "/data_controller/orgnr"),
        ({"data_controller": {"orgnr": "1234567890"}}, "/data_controller/orgnr"),
        ({"data_controller": {"resh": "1234567890"}}, "/data_controller/resh"),
        ({"data_controller": {"orgnr": "123456789", "resh": "1"}}, "/data_controller"),
        ({"data_controller": {"name": "Bodø kommune"}}, "/data_controller/orgnr"),  # or resh
        ({"data_controller": {"orgnr": "123456789", "name": "x" * 201}}, "/data_controller/name"),
        ({"source_system": "x" * 256}, "/source_system"),
        ({"source_system": "MEDANETS 2"}, "/source_system"),
        ({"source_system": ""}, "/source_system"),
        ({"interpretations": {"pulse": "x" * 101}}, "/interpretations/pulse"),
        ({"interpretations": {"pulse": ""}}, "/interpretations/pulse"),
        ({"interpretations": {}}, "/interpretations"),
        ({"interpretations": {"heart_rate": "≤40"}}, "/interpretations/heart_rate"),
    ],
)
def test_provenance_is_bounded(schemas: Schemas, changes: dict[str, Any], pointer: str) -> None:
    assert list(record_errors(schemas, measurement(**changes))) == [pointer]


def test_provenance_at_its_bounds_is_valid(schemas: Schemas) -> None:
    record = measurement(
        recorded_by={"name": "Kari Nordmann", "hpr": None, "national_id": PATIENT},
        data_controller={"orgnr": "123456789", "name": "x" * 200},
        source_system="x" * 255,
        interpretations={"pulse": "x" * 100, "temperature": "≤35.0"},
    )
    assert record_errors(schemas, record) == {}
    assert record_errors(schemas, measurement(data_controller={"resh": "1"})) == {}


def test_recorded_by_may_give_only_the_hpr_number(schemas: Schemas) -> None:
    assert record_errors(schemas, measurement(recorded_by={"hpr": "123456789"})) == {}


def test_an_unknown_field_is_named_alone(schemas: Schemas) -> None:
    assert record_errors(schemas, measurement(heart_rate=70)) == {"/heart_rate": "is not allowed"}


def test_the_common_record_fields_are_checked(schemas: Schemas) -> None:
    errors = record_errors(schemas, measurement(id="", patient="123"))
    assert set(errors) == {"/id", "/patient"}


@pytest.mark.parametrize(("hours", "valid"), [(1, True), (720, True), (0, False), (721, False)])
def test_query_hours_is_1_to_720(schemas: Schemas, hours: int, valid: bool) -> None:
    errors = schemas.errors({"patients": [PATIENT], "hours": hours}, spec.query_schema)
    assert (errors == []) is valid


def test_query_refuses_unknown_options(schemas: Schemas) -> None:
    errors = schemas.errors({"patients": [PATIENT], "days": 3}, spec.query_schema)
    assert [(e.pointer, e.message) for e in errors] == [("/days", "is not allowed")]
    assert schemas.errors({"patients": [PATIENT], "kommuner": ["1804"]}, spec.query_schema) == []


def test_settings_retention_days_is_1_to_3650(schemas: Schemas) -> None:
    assert schemas.errors({"retention_days": 30}, SETTINGS) == []
    assert schemas.errors({}, SETTINGS) == []
    assert schemas.errors({"retention_days": 0}, SETTINGS)
    assert schemas.errors({"retention_days": 3651}, SETTINGS)
    default = schemas.documents[SETTINGS]["properties"]["retention_days"]["default"]
    assert default == 30


# --- demo data, stored and queried -----------------------------------------------------------


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    stores = Stores(Settings(data_dir=tmp_path))
    stores.create_tenant_store("1804")
    migrate_tenant(stores, "1804", [spec])
    yield stores
    stores.dispose()


@pytest.fixture
def demo(stores: Stores) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Demo records for five people, stored, and the board's view of them."""
    rng = random.Random("demo")
    patients = [synthetic_person_id(rng) for _ in range(5)]
    records = spec.demo_records(rng=rng, patients=patients, now=NOW)
    ingest_context = IngestContext(kommunenummer="1804", source="demo", now=NOW, settings={})
    rows = [
        stored_row(
            r,
            service_values=spec.prepare(r, context=ingest_context),
            source="demo",
            received_at=NOW,
        )
        for r in records
    ]
    with stores.tenant_transaction("1804") as connection:
        upsert_records(connection, spec.table, source="demo", rows=rows)
    context = QueryContext(
        kommunenummer="1804", now=NOW, settings={}, options={"patients": patients}
    )
    board = query_service(stores, spec, "1804", patients=patients, context=context)
    return records, orjson.loads(JSONResponse(board).body)  # as the API writes it


def test_demo_records_are_valid_as_a_source_would_send_them(
    schemas: Schemas, demo: tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]
) -> None:
    records, _ = demo
    assert all(record_errors(schemas, r) == {} for r in records)
    assert all(datetime.fromisoformat(r["effective"]) <= NOW for r in records)
    assert all(r["patient"] not in r["id"] for r in records)
    assert len({r["id"] for r in records}) == len(records)


def test_demo_shows_deterioration_scale_2_and_an_incomplete_set(
    schemas: Schemas, demo: tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]
) -> None:
    _, board = demo
    assert len(board) == 5
    latest = [result["latest"] for result in board.values()]
    risks = [m["score"]["risk"] for m in latest]
    assert "high" in risks
    assert "medium" in risks
    assert any(m["spo2_scale"] == 2 and m["supplemental_oxygen"] for m in latest)
    assert sum(not m["score"]["complete"] for m in latest) == 1
    assert any(r["trend"] and r["trend"]["change"] == "rising" for r in board.values())
    for patient, result in board.items():
        entry = {"patient": patient, "kommunenummer": "1804", **result}
        assert schemas.errors(entry, spec.result_schema) == []


def test_demo_series_span_the_last_days(
    demo: tuple[list[dict[str, Any]], dict[str, dict[str, Any]]],
) -> None:
    records, _ = demo
    effective = [datetime.fromisoformat(r["effective"]) for r in records]
    assert NOW - min(effective) > timedelta(hours=48)
    assert NOW - max(effective) < timedelta(hours=2)
