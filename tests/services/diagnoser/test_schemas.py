"""The JSON Schemas of diagnoser (the contract a journal system and a legevakt read), the fast
validator's agreement with the reference one on them, and the demo data."""

from __future__ import annotations

import random
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journalloft.platform.core.identifiers import (
    SYNTHETIC_HPR_PREFIX,
    parse_person_id,
    synthetic_person_id,
)
from journalloft.platform.core.jsonschemas import Schemas
from journalloft.platform.plugins.service_protocol import IngestContext
from journalloft.plugin import OSLO
from journalloft.services.diagnoser import spec
from journalloft.services.diagnoser.codes import parse_exclusions
from journalloft.services.diagnoser.demo import birth_year

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "schemas"
NOW = datetime(2026, 11, 22, 3, 0, tzinfo=OSLO)
RECORD = {
    "id": "GER-D-1",
    "patient": "12913230572",
    "updated": "2026-11-20T14:05:00+01:00",
    "code": {"system": "icpc-2", "code": "T90", "display": "Diabetes type 2"},
    "clinical_status": "active",
    "verification_status": "confirmed",
    "onset": "2019-03-01",
    "abatement": None,
    "recorded_by": {"unit": "Hjemmetjenesten sone Sentrum", "hpr": "1234567"},
    "note": "Insulin morgen og kveld.",
}


@pytest.fixture(scope="module")
def schemas() -> Schemas:
    return Schemas.load(SCHEMA_DIR)


def pointers(schemas: Schemas, instance: Any, schema_id: str) -> list[str]:
    return sorted({e.pointer for e in schemas.errors(instance, schema_id)})


def test_the_examples_are_valid_and_pass_the_rules(schemas: Schemas) -> None:
    [record] = schemas.documents[spec.record_schema]["examples"]
    assert schemas.errors(record, spec.record_schema) == []
    context = IngestContext(kommunenummer="1804", source="bodo-epj", now=NOW, settings={})
    spec.prepare(record, context=context)
    [query] = schemas.documents[spec.query_schema]["examples"]
    assert schemas.errors(query, spec.query_schema) == []
    assert spec.settings_schema is not None
    [example] = schemas.documents[spec.settings_schema]["examples"]
    assert schemas.errors(example, spec.settings_schema) == []
    parse_exclusions(example["excluded_codes"])


def test_the_wire_record_of_the_issue_is_valid(schemas: Schemas) -> None:
    minimal = {k: v for k, v in RECORD.items() if k not in ("onset", "abatement", "note")}
    minimal["recorded_by"] = {"unit": "Hjemmetjenesten sone Sentrum"}
    assert schemas.errors(RECORD, spec.record_schema) == []
    assert schemas.errors(minimal, spec.record_schema) == []


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"code": {"system": "snomed-ct", "code": "44054006", "display": "x"}}, "/code/system"),
        ({"code": {"system": "icpc-2", "code": "", "display": "x"}}, "/code/code"),
        ({"code": {"system": "icpc-2", "code": "T90000000", "display": "x"}}, "/code/code"),
        ({"code": {"system": "icpc-2", "code": "T90", "display": ""}}, "/code/display"),
        ({"code": {"system": "icpc-2", "code": "T90"}}, "/code/display"),
        ({"code": {"system": "icpc-2", "code": 90, "display": "x"}}, "/code/code"),
        ({"code": {"system": "icpc-2", "code": "T90", "display": "x", "url": "y"}}, "/code/url"),
        ({"clinical_status": "chronic"}, "/clinical_status"),
        ({"verification_status": "unconfirmed"}, "/verification_status"),
        ({"verification_status": None}, "/verification_status"),
        ({"onset": "1.3.2019"}, "/onset"),
        ({"abatement": "2026-02-30"}, "/abatement"),
        ({"recorded_by": {"unit": ""}}, "/recorded_by/unit"),
        ({"recorded_by": {"unit": "Sone", "hpr": "123456"}}, "/recorded_by/hpr"),
        ({"recorded_by": {"unit": "Sone", "hpr": "0123456"}}, "/recorded_by/hpr"),
        ({"recorded_by": {"unit": "Sone", "hpr": 1234567}}, "/recorded_by/hpr"),
        ({"recorded_by": {"unit": "Sone", "name": "Kari"}}, "/recorded_by/name"),
        ({"recorded_by": None}, "/recorded_by"),
        ({"note": "x" * 501}, "/note"),
        ({"severity": "high"}, "/severity"),
        ({"patient": "1234"}, "/patient"),
    ],
)
def test_the_record_schema_refuses_what_a_journal_system_gets_wrong(
    schemas: Schemas, change: dict[str, Any], pointer: str
) -> None:
    assert pointers(schemas, {**RECORD, **change}, spec.record_schema) == [pointer]


@pytest.mark.parametrize(
    "missing", ["code", "clinical_status", "verification_status", "recorded_by"]
)
def test_the_record_schema_requires(schemas: Schemas, missing: str) -> None:
    record = {k: v for k, v in RECORD.items() if k != missing}
    assert pointers(schemas, record, spec.record_schema) == [f"/{missing}"]


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"patients": ["22750884907"], "include_resolved": True}, []),
        ({"patients": ["22750884907"], "kommuner": ["1804"]}, []),
        ({"patients": ["22750884907"], "include_resolved": "yes"}, ["/include_resolved"]),
        ({"patients": ["22750884907"], "include_ended": True}, ["/include_ended"]),
        ({"patients": []}, ["/patients"]),
    ],
)
def test_the_query_schema(schemas: Schemas, body: dict[str, Any], errors: list[str]) -> None:
    assert pointers(schemas, body, spec.query_schema) == errors


@pytest.mark.parametrize(
    ("settings_", "errors"),
    [
        ({}, []),
        ({"resolved_window_years": 0}, []),
        ({"resolved_window_years": 100}, []),
        ({"resolved_window_years": 101}, ["/resolved_window_years"]),
        ({"resolved_window_years": -1}, ["/resolved_window_years"]),
        ({"excluded_codes": {"icpc-2": ["P", "P70", "P70-P99", "P-R", "X"]}}, []),
        ({"excluded_codes": {"icd-10": ["F", "F00-F99", "F32.1", "F321", "F32.0-F32.9"]}}, []),
        ({"excluded_codes": {"icpc-2": ["C"]}}, ["/excluded_codes/icpc-2/0"]),
        ({"excluded_codes": {"icpc-2": ["P00"]}}, ["/excluded_codes/icpc-2/0"]),
        ({"excluded_codes": {"icpc-2": ["p"]}}, ["/excluded_codes/icpc-2/0"]),
        ({"excluded_codes": {"icpc-2": ["P\n"]}}, ["/excluded_codes/icpc-2/0"]),
        ({"excluded_codes": {"icd-10": ["F00-"]}}, ["/excluded_codes/icd-10/0"]),
        ({"excluded_codes": {"icd-10": ["F 00"]}}, ["/excluded_codes/icd-10/0"]),
        ({"excluded_codes": {"icd-10": ["F00", "F00"]}}, ["/excluded_codes/icd-10"]),
        ({"excluded_codes": {"icd-11": ["6A00"]}}, ["/excluded_codes/icd-11"]),
        ({"window": 3}, ["/window"]),
    ],
)
def test_the_settings_schema(
    schemas: Schemas, settings_: dict[str, Any], errors: list[str]
) -> None:
    assert spec.settings_schema is not None
    assert pointers(schemas, settings_, spec.settings_schema) == errors
    if not errors:
        parse_exclusions(settings_.get("excluded_codes", {}))


# The fast validator never says "valid" where the reference one does not


ODD = st.text(alphabet="0123456789ABCDEFIKPTZaipt.- \n\u0660", min_size=0, max_size=10)
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8))


def agree(schemas: Schemas, schema_id: str, instance: Any) -> None:
    fast = schemas.fast_validator(schema_id)
    assert fast is not None
    reference = schemas.validator(schema_id).is_valid(instance)
    if fast.is_valid(instance):
        assert reference, f"fast validator accepted what the reference refuses: {instance!r}"
    assert (schemas.errors(instance, schema_id) == []) == reference


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    system=st.one_of(st.sampled_from(["icpc-2", "icd-10"]), ODD),
    code=ODD,
    hpr=st.one_of(st.none(), ODD, st.from_regex(r"\A[0-9]{5,10}\n?\Z")),
    onset=st.one_of(st.none(), ODD, st.dates().map(str)),
    field=st.sampled_from(sorted(RECORD)),
    value=SCALAR,
)
def test_the_record_schema_agrees(
    schemas: Schemas,
    system: str,
    code: str,
    hpr: str | None,
    onset: str | None,
    field: str,
    value: Any,
) -> None:
    record = {
        **RECORD,
        "code": {"system": system, "code": code, "display": "x"},
        "recorded_by": {"unit": "Sone", "hpr": hpr},
        "onset": onset,
    }
    agree(schemas, spec.record_schema, record)
    agree(schemas, spec.record_schema, {**RECORD, field: value})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(icpc=st.lists(ODD, max_size=3), icd=st.lists(ODD, max_size=3), years=SCALAR)
def test_the_settings_schema_agrees(
    schemas: Schemas, icpc: list[str], icd: list[str], years: Any
) -> None:
    assert spec.settings_schema is not None
    instance = {"resolved_window_years": years, "excluded_codes": {"icpc-2": icpc, "icd-10": icd}}
    agree(schemas, spec.settings_schema, instance)
    if schemas.errors({"excluded_codes": instance["excluded_codes"]}, spec.settings_schema) == []:
        parse_exclusions(instance["excluded_codes"])  # what the schema lets through parses


# Demo data


def person(seed: int) -> str:
    return synthetic_person_id(random.Random(seed))


def test_demo_records_are_valid_and_fit_the_peoples_ages(schemas: Schemas) -> None:
    patients = [person(seed) for seed in range(40)]
    records = spec.demo_records(rng=random.Random(7), patients=patients, now=NOW)
    context = IngestContext(kommunenummer="1804", source="bodo-epj", now=NOW, settings={})
    for record in records:
        assert schemas.errors(record, spec.record_schema) == [], record
        spec.prepare(record, context=context)
        assert datetime.fromisoformat(record["updated"]) <= NOW
    assert len({r["id"] for r in records}) == len(records)
    assert {r["patient"] for r in records} == set(patients)
    pairs = {(r["clinical_status"], r["verification_status"]) for r in records}
    assert {
        ("active", "confirmed"),
        ("active", "provisional"),
        ("active", "differential"),
        ("resolved", "refuted"),
        (None, "entered-in-error"),
        ("resolved", "confirmed"),
        ("remission", "confirmed"),
    } <= pairs
    codes = {(r["code"]["system"], r["code"]["code"]) for r in records}
    assert {("icpc-2", "T90"), ("icpc-2", "K77"), ("icpc-2", "P70"), ("icd-10", "I50.0")} <= codes
    assert {("icpc-2", "P15"), ("icd-10", "F10.2")} <= codes  # what Bodø excludes
    for patient in patients:
        active = [
            r["code"]["code"]
            for r in records
            if r["patient"] == patient and r["clinical_status"] in ("active", "relapse")
        ]
        assert len(active) == len(set(active)), (patient, active)
    hprs = {r["recorded_by"].get("hpr") for r in records} - {None}
    assert hprs, "some records name who recorded them"
    assert all(len(h) == 9 and h.startswith(SYNTHETIC_HPR_PREFIX) for h in hprs)  # no real one


def test_the_oldest_demo_person_has_diabetes_heart_failure_and_dementia() -> None:
    patients = [person(seed) for seed in range(20)]
    records = spec.demo_records(rng=random.Random(1), patients=patients, now=NOW)
    born = {p: parse_person_id(p, allow_synthetic=True).birth_date for p in patients}
    oldest = min(patients, key=lambda p: born[p] or date.max)
    held = {r["code"]["code"] for r in records if r["patient"] == oldest}
    assert {"T90", "K77", "P70"} <= held


def test_demo_records_are_reproducible_from_the_seed() -> None:
    patients = [person(seed) for seed in range(10)]
    first = spec.demo_records(rng=random.Random(3), patients=patients, now=NOW)
    again = spec.demo_records(rng=random.Random(3), patients=patients, now=NOW)
    assert first == again
    assert spec.demo_records(rng=random.Random(3), patients=[], now=NOW) == []


@pytest.mark.parametrize("style", ["tenor", "nhn"])
def test_the_demo_reads_the_birth_year_as_the_platform_does(style: str) -> None:
    rng = random.Random(style)
    for _ in range(500):
        patient = synthetic_person_id(rng, style=style, d_number=rng.random() < 0.3)  # type: ignore[arg-type]
        born = parse_person_id(patient, allow_synthetic=True).birth_date
        assert born is not None
        assert birth_year(patient) == born.year
    assert birth_year("81234567890") is None  # an FH-nummer encodes no birth date
    assert birth_year("1234") is None
