"""The fast validator (jsonschema-rs) may only ever say "valid" where the reference validator
(python-jsonschema) says so too: whatever it refuses is judged again by the reference, so a 422's
errors are unchanged, and nothing the reference refuses may slip through."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journalloft.platform.core.jsonschemas import SCHEMA_BASE, Schemas

REPO = Path(__file__).resolve().parents[2]
NEWS2_RECORD = SCHEMA_BASE + "news2/v1/record.schema.json"
KT_RECORD = SCHEMA_BASE + "kommunale_tjenester/v1/record.schema.json"
NEWS2_QUERY = SCHEMA_BASE + "news2/v1/query.schema.json"
KT_QUERY = SCHEMA_BASE + "kommunale_tjenester/v1/query.schema.json"
TENANT = SCHEMA_BASE + "tenant.schema.json"


@pytest.fixture(scope="module")
def schemas() -> Schemas:
    return Schemas.load(REPO / "schemas")


DIGITS = st.text(alphabet="0123456789", min_size=0, max_size=14)
ODD = st.text(alphabet="0123456789 -+:.TtZz\n\t/\u0660\uff10x", min_size=0, max_size=40)
DATE_TIME = st.one_of(
    st.from_regex(
        r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
        r"([Zz]|[+-][0-9]{2}:?[0-9]{2})?\n?\Z"
    ),
    st.datetimes().map(lambda d: d.isoformat()),
    ODD,
)
DATE = st.one_of(st.from_regex(r"\A[0-9]{4}-?[0-9]{2}-?[0-9]{2}\n?\Z"), ODD, st.dates().map(str))
PERSON = st.one_of(st.from_regex(r"\A[0-9]{10,12}\n?\Z"), DIGITS, ODD)
KNR = st.one_of(st.from_regex(r"\A[0-9]{3,5}\n?\Z"), st.just("0000"), ODD)
SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=12),
)


def agree(schemas: Schemas, schema_id: str, instance: Any) -> None:
    fast = schemas.fast_validator(schema_id)
    assert fast is not None
    reference = schemas.validator(schema_id).is_valid(instance)
    if fast.is_valid(instance):
        assert reference, f"fast validator accepted what the reference refuses: {instance!r}"
    assert (schemas.errors(instance, schema_id) == []) == reference


BASE_NEWS2 = {
    "id": "m-1",
    "patient": "12913230572",
    "updated": "2026-11-22T03:05:00+01:00",
    "effective": "2026-11-22T03:00:00+01:00",
    "respiration_rate": 16,
    "spo2": 97,
    "spo2_scale": 1,
    "supplemental_oxygen": False,
    "systolic_bp": 125,
    "pulse": 70,
    "consciousness": "A",
    "temperature": 37.0,
    "recorded_by": {"name": "Kari Nordmann", "hpr": "1234567"},
    "location": "Hjemmesykepleien",
}
BASE_KT = {
    "id": "k-1",
    "patient": "12913230572",
    "updated": "2026-11-22T03:05:00+01:00",
    "service_code": "015",
    "description": "Hjemmesykepleie",
    "unit": {"name": "Sone nord", "phone": "+47 75 55 00 00"},
    "start": "2026-01-05",
    "end": None,
    "temporary_cessation": False,
    "weekly_extent": "5 timer",
    "stay_type": "dagopphold",
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    effective=DATE_TIME,
    updated=DATE_TIME,
    patient=PERSON,
    field=st.sampled_from(sorted(BASE_NEWS2)),
    value=SCALAR,
)
def test_news2_record(
    schemas: Schemas, effective: str, updated: str, patient: str, field: str, value: Any
) -> None:
    record = {**BASE_NEWS2, "effective": effective, "updated": updated, "patient": patient}
    agree(schemas, NEWS2_RECORD, record)
    agree(schemas, NEWS2_RECORD, {**BASE_NEWS2, field: value})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=DATE,
    end=st.one_of(st.none(), DATE),
    code=st.one_of(DIGITS, ODD),
    phone=st.one_of(st.from_regex(r"\A\+?[0-9][0-9 ()-]{0,32}[0-9]?\n?\Z"), ODD),
    field=st.sampled_from(sorted(BASE_KT)),
    value=SCALAR,
)
def test_kommunale_tjenester_record(
    schemas: Schemas, start: str, end: str | None, code: str, phone: str, field: str, value: Any
) -> None:
    record = {
        **BASE_KT,
        "start": start,
        "end": end,
        "service_code": code,
        "unit": {"name": "Sone", "phone": phone},
    }
    agree(schemas, KT_RECORD, record)
    agree(schemas, KT_RECORD, {**BASE_KT, field: value})


@settings(max_examples=300, deadline=None)
@given(
    patients=st.lists(PERSON, max_size=3),
    kommuner=st.one_of(st.none(), st.lists(KNR, max_size=2)),
    hours=st.one_of(st.none(), SCALAR),
    extra=st.one_of(st.none(), st.text(max_size=8)),
)
def test_queries(
    schemas: Schemas,
    patients: list[str],
    kommuner: list[str] | None,
    hours: Any,
    extra: str | None,
) -> None:
    body: dict[str, Any] = {"patients": patients}
    if kommuner is not None:
        body["kommuner"] = kommuner
    if hours is not None:
        body["hours"] = hours
        body["include_ended"] = hours
    if extra is not None:
        body[extra] = 1
    agree(schemas, NEWS2_QUERY, body)
    agree(schemas, KT_QUERY, body)


@settings(max_examples=200, deadline=None)
@given(knr=KNR, orgnr=st.one_of(DIGITS, ODD))
def test_tenant_documents(schemas: Schemas, knr: str, orgnr: str) -> None:
    document = {
        "kommunenummer": knr,
        "name": "Testkommune",
        "organisasjonsnummer": orgnr,
        "services": {"news2": {}},
        "sources": [{"client_id": "t-epj", "name": "EPJ", "services": ["news2"]}],
    }
    agree(schemas, TENANT, document)


def test_values_json_does_not_produce_go_to_the_reference(schemas: Schemas) -> None:
    # A tuple is an array to jsonschema-rs but not to python-jsonschema: never judged fast.
    body = {"patients": ("12913230572",)}
    assert not schemas.validator(NEWS2_QUERY).is_valid(body)
    assert schemas.errors(body, NEWS2_QUERY) != []


@pytest.mark.parametrize("value", ["1234567\n", "1234567\n\n", "\n1234567"])
def test_a_pattern_ends_at_the_end_of_the_text(value: str) -> None:
    """Python's ``$`` also matches before a final newline: ``^[0-9]{1,9}$`` took ``1234567\\n``
    as an HPR number. The schemas are validated with every such pattern anchored at the very end,
    and the schema as written (in the OpenAPI document) is untouched."""
    schema_id = SCHEMA_BASE + "test/v1/anchored.schema.json"
    document = {"$id": schema_id, "type": "string", "pattern": "^[0-9]{1,9}$"}
    schemas = Schemas({schema_id: document})
    assert schemas.errors(value, schema_id)
    assert schemas.errors("1234567", schema_id) == []
    assert schemas.documents[schema_id]["pattern"] == "^[0-9]{1,9}$"
