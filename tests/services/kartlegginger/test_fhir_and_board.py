"""Kartlegginger's FHIR part (Observation, category survey) and board part.

These tests hold the mapping to the native rules: an Observation read into a native record and
the native record answer the same lookup the same way (both stores), a refusal points at the
FHIR element, and every lookup entry maps to Observations that read back to the same record.
The face serving it beside NEWS2's Observations: ``tests/faces/test_fhir_observations.py``."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

import pytest

from journalloft.plugin import OSLO, board, fhir
from journalloft.services.kartlegginger import spec
from journalloft.services.kartlegginger.board import PARTS
from journalloft.services.kartlegginger.fhir import (
    BANDS,
    FIELD_PATHS,
    LOINC,
    PLATFORM,
    PROVIDERS,
    record_of,
)
from support import people
from support.platform import TestPlatform

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=OSLO)
NATIVE, FROM_FHIR = people(2, seed="kartlegginger-fhir")
UNIT = "Sykehjemmet, avdeling 2"


@pytest.fixture
def pilots(platform: TestPlatform) -> TestPlatform:
    platform.set_now(NOW)
    return platform


def push(platform: TestPlatform, *records: dict[str, Any]) -> Any:
    return platform.client.post(
        "/v1/tenants/1804/kartlegginger/records",
        json={"records": list(records)},
        headers=platform.headers("bodo-epj"),
    )


def lookup(platform: TestPlatform, *patients: str) -> list[dict[str, Any]]:
    response = platform.client.post(
        "/v1/kartlegginger/query",
        json={"patients": list(patients)},
        headers=platform.headers("bodo-legevakt"),
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["results"]
    return found


def braden_observation(person: str, record_id: str, **changes: Any) -> dict[str, Any]:
    """A Braden assessment as an EPJ would send it: LOINC total and subscales."""
    subscales = {"38222-6": 2, "38229-1": 3, "38223-4": 2, "38224-2": 2, "38225-9": 3,
                 "38226-7": 1}  # fmt: skip
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "identifier": [{"system": "urn:epj", "value": record_id}],
        "meta": {"lastUpdated": "2026-11-20T14:05:00+01:00"},
        "status": "final",
        "category": [{"coding": [{"system": "x", "code": "survey"}]}],
        "code": {"coding": [{"system": LOINC, "code": "38227-5"}]},
        "subject": fhir.person_reference(person),
        "effectiveDateTime": "2026-11-18",
        "valueInteger": 13,
        "interpretation": [{"coding": [{"system": BANDS, "code": "moderate"}]}],
        "component": [
            {"code": {"coding": [{"system": LOINC, "code": code}]}, "valueInteger": score}
            for code, score in subscales.items()
        ],
        "performer": [
            {"type": "Organization", "display": UNIT},
            {
                "type": "Practitioner",
                "identifier": {"system": "urn:oid:2.16.578.1.12.4.1.4.4", "value": "991234567"},
            },
        ],
        "note": [{"text": "Trykkavlastende madrass."}],
    }
    return resource | changes


def native_braden(person: str, record_id: str) -> dict[str, Any]:
    return {
        "id": record_id,
        "patient": person,
        "updated": "2026-11-20T14:05:00+01:00",
        "instrument": "braden",
        "assessed": "2026-11-18",
        "total": 13,
        "band": "moderate",
        "items": {"braden-sensory": 2, "braden-moisture": 3, "braden-activity": 2,
                  "braden-mobility": 2, "braden-nutrition": 3, "braden-friction-shear": 1},
        "assessed_by": {"unit": UNIT, "hpr": "991234567"},
        "note": "Trykkavlastende madrass.",
    }  # fmt: skip


def read(resource: dict[str, Any]) -> dict[str, Any]:
    errors = fhir.Errors()
    record = record_of(resource, errors)
    assert not errors.found, errors.found
    return record


def test_the_provider_meets_the_protocol_of_the_fhir_face() -> None:
    assert spec.face_parts["fhir"] == PROVIDERS  # served
    [provider] = fhir.providers_of(PROVIDERS, service=spec.name)
    assert provider.resource_type == "Observation"
    assert set(provider.search_parameters) == {"code", "category", "date", "status"}
    assert set(FIELD_PATHS) >= {"instrument", "assessed", "total", "items", "band"}


def test_an_observation_and_the_native_record_answer_the_same_lookup_the_same_way(
    pilots: TestPlatform,
) -> None:
    from_fhir = read(braden_observation(FROM_FHIR, "K-fhir"))
    # the native id is the source's system|value
    assert from_fhir == native_braden(FROM_FHIR, "urn:epj|K-fhir")
    assert push(pilots, native_braden(NATIVE, "K-native"), from_fhir).status_code == 200
    found = {e["patient"]: e["instruments"] for e in lookup(pilots, NATIVE, FROM_FHIR)}
    [native], [translated] = found[NATIVE], found[FROM_FHIR]
    assert native["latest"].pop("id") == "K-native"
    assert translated["latest"].pop("id") == "urn:epj|K-fhir"
    assert native == translated
    assert (native["latest"]["band"], native["latest"]["band_by"]) == ("moderate", "rule")

    contrary = read(braden_observation(FROM_FHIR, "K-2", valueInteger=15))
    response = push(pilots, contrary)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["pointer"] == "/records/0/total"  # 15 is not the subscales' sum, 13
    assert FIELD_PATHS["total"] == "/valueInteger"
    wrong_band = read(braden_observation(FROM_FHIR, "K-3", interpretation=[
        {"coding": [{"system": BANDS, "code": "high"}]}]))  # fmt: skip
    [error] = push(pilots, wrong_band).json()["errors"]
    assert (error["pointer"], FIELD_PATHS["band"]) == ("/records/0/band", "/interpretation")


def test_every_lookup_entry_maps_to_observations_that_read_back_the_same(
    pilots: TestPlatform,
) -> None:
    everyone = people(12, seed="kartlegginger-fhir-demo")
    records = spec.demo_records(rng=random.Random(7), patients=everyone, now=NOW)
    assert push(pilots, *records).status_code == 200
    [provider] = PROVIDERS
    by_id = {r["id"]: r for r in records}
    seen = 0
    for entry in lookup(pilots, *everyone):
        for resource, included in provider.resources(
            entry, patient=entry["patient"], kommunenummer="1804"
        ):
            assert included == []
            assert provider.is_main(resource)
            assert ("http://terminology.hl7.org/CodeSystem/observation-category", "survey") in (
                fhir.codes_of_concept(resource["category"][0])
            )
            back = read(resource)
            sent = by_id[back["id"]]
            for field in ("instrument", "assessed", "items", "note"):
                assert back.get(field) == sent.get(field), field
            assert back["assessed_by"]["unit"] == sent["assessed_by"]["unit"]
            if "total" in sent:
                assert back["total"] == sent["total"]
            seen += 1
    assert seen >= len(everyone) * 3


def test_an_observation_without_an_instrument_or_unit_is_refused_at_its_elements() -> None:
    errors = fhir.Errors()
    record_of(
        braden_observation(NATIVE, "K-1", code={"coding": [{"system": PLATFORM, "code": "x"}]},
                           performer=[]),
        errors,
    )  # fmt: skip
    assert {e.pointer for e in errors.found} == {"/code", "/performer"}


def test_the_board_shows_the_latest_per_instrument_with_its_band_and_date() -> None:
    [part] = PARTS
    assert isinstance(part, board.BoardPart)
    latest = {"total": 3, "items": None, "band": "at-risk", "assessed": "2026-11-01",
              "assessed_by": {"unit": UNIT, "hpr": None}}  # fmt: skip
    entry = {
        "instruments": [
            {"instrument": "mst", "title": "MST (ernæring)", "version": "2022",
             "latest": latest, "previous": None, "change": 2},
            {"instrument": "fall-risk", "title": "Fallrisiko", "version": "2024",
             "latest": latest | {"total": None, "band": "high"}, "previous": None,
             "change": None},
        ]
    }  # fmt: skip
    cells = part.cells([entry])
    texts = [item["text"] for item in cells["assessments"]["items"]]
    assert texts == ["MST (ernæring) 3: risiko (+2)", "Fallrisiko: høy"]
    assert cells["assessments"]["items"][0]["since"] == "2026-11-01"
    assert part.cells([{"instruments": []}]) == {}
