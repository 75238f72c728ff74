"""Diagnoser's FHIR face (Condition), brought by the service's own provider: written by
transaction Bundles and conditional PUT/DELETE, searched by patient, code, clinical status and
onset, validated by a real FHIR library, and under the same rules as the native lookup."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from journalloft.plugin import OSLO
from support import people, tenant_document
from support.fhir import FNR, transaction, validate
from support.platform import TestPlatform

pytestmark = pytest.mark.usefixtures("fhir_answers_checked")

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=OSLO)
ICPC2 = "urn:oid:2.16.578.1.12.4.1.1.7170"
ICD10 = "urn:oid:2.16.578.1.12.4.1.1.7110"
HPR = "urn:oid:2.16.578.1.12.4.1.4.4"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
UNIT = "Hjemmetjenesten sone Sentrum"


@pytest.fixture
def pilots(platform: TestPlatform) -> TestPlatform:
    platform.set_now(NOW)
    return platform


def a_condition(
    record_id: str,
    person: str,
    *,
    system: str = ICPC2,
    code: str = "T90",
    clinical: str | None = "active",
    verification: str = "confirmed",
    **elements: Any,
) -> dict[str, Any]:
    """A Condition as a municipal journal system writes it: confirmed, active type 2 diabetes."""
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "meta": {"lastUpdated": "2026-11-20T14:05:00+01:00"},
        "contained": [
            {
                "resourceType": "PractitionerRole",
                "id": "r",
                "practitioner": {"identifier": {"system": HPR, "value": "1234567"}},
                "organization": {"display": UNIT},
            }
        ],
        "identifier": [{"system": "urn:test:gerica", "value": record_id}],
        "verificationStatus": {"coding": [{"system": VERIFICATION, "code": verification}]},
        "code": {"coding": [{"system": system, "code": code, "display": "Diabetes type 2"}]},
        "subject": {"identifier": {"system": FNR, "value": person}},
        "recorder": {"reference": "#r"},
    }
    if clinical is not None:
        resource["clinicalStatus"] = {"coding": [{"system": CLINICAL, "code": clinical}]}
    resource.update(elements)
    return resource


def a_diagnosis(record_id: str, person: str, **fields: Any) -> dict[str, Any]:
    """The same diagnosis as a native record."""
    record: dict[str, Any] = {
        "id": record_id,
        "patient": person,
        "updated": "2026-11-20T14:05:00+01:00",
        "code": {"system": "icpc-2", "code": "T90", "display": "Diabetes type 2"},
        "clinical_status": "active",
        "verification_status": "confirmed",
        "recorded_by": {"unit": UNIT, "hpr": "1234567"},
    }
    record.update(fields)
    return record


def write(platform: TestPlatform, *resources: dict[str, Any], client: str = "bodo-epj") -> Any:
    return platform.client.post(
        "/fhir/1804",
        json=transaction(*resources),
        headers=platform.headers(client, **{"Content-Type": "application/fhir+json"}),
    )


def push(platform: TestPlatform, *records: dict[str, Any]) -> None:
    pushed = platform.client.post(
        "/v1/tenants/1804/diagnoser/records",
        json={"records": list(records)},
        headers=platform.headers("bodo-epj"),
    )
    assert pushed.status_code == 200, pushed.text


def search(platform: TestPlatform, person: str, **params: str) -> Any:
    response = platform.client.post(
        "/fhir/Condition/_search",
        data={"patient:identifier": f"{FNR}|{person}", **params},
        headers=platform.headers("bodo-legevakt", **FORM),
    )
    assert response.status_code == 200, response.text
    validate(response.json())
    return response.json()


def native(platform: TestPlatform, person: str, **options: Any) -> list[dict[str, Any]]:
    response = platform.client.post(
        "/v1/diagnoser/query",
        json={"patients": [person], **options},
        headers=platform.headers("bodo-legevakt"),
    )
    assert response.status_code == 200, response.text
    return [d for entry in response.json()["results"] for d in entry.get("diagnoses", [])]


def conditions(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def record_ids(bundle: dict[str, Any]) -> list[str]:
    return [c["identifier"][0]["value"] for c in conditions(bundle)]


def test_metadata_names_condition_and_its_search_parameters(pilots: TestPlatform) -> None:
    statement = pilots.client.get("/fhir/metadata").json()
    validate(statement)
    [condition] = [r for r in statement["rest"][0]["resource"] if r["type"] == "Condition"]
    assert {p["name"] for p in condition["searchParam"]} == {
        "patient",
        "subject",
        "code",
        "clinical-status",
        "onset-date",
    }


def test_a_transaction_is_stored_and_found_as_hl7_norway_writes_it(pilots: TestPlatform) -> None:
    (eva,) = people(1, seed="condition-write")
    heart = a_condition(
        "GER-2",
        eva,
        system="http://hl7.org/fhir/sid/icd-10-no",
        code="I50.0",
        onsetDateTime="2024-09-01",
        note=[{"text": "Diuretika morgen."}],
    )
    written = write(pilots, a_condition("GER-1", eva, onsetDateTime="2019-03-01"), heart)
    assert written.status_code == 200, written.text
    validate(written.json())
    assert [e["response"]["status"] for e in written.json()["entry"]] == ["201 Created"] * 2
    again = write(pilots, a_condition("GER-1", eva, onsetDateTime="2019-03-01"))
    assert again.json()["entry"][0]["response"]["outcome"]["issue"][0]["diagnostics"] == (
        "unchanged: this version is already stored"
    )

    found = search(pilots, eva)
    assert record_ids(found) == ["GER-2", "GER-1"]  # the most recent onset first, as natively
    heart_failure = conditions(found)[0]
    assert heart_failure["code"]["coding"] == [
        {"system": ICD10, "code": "I500", "display": "Diabetes type 2"}
    ]
    assert heart_failure["clinicalStatus"]["coding"][0]["code"] == "active"
    assert heart_failure["verificationStatus"]["coding"][0]["code"] == "confirmed"
    assert heart_failure["onsetDateTime"] == "2024-09-01"
    assert heart_failure["note"] == [{"text": "Diuretika morgen."}]
    [role] = heart_failure["contained"]
    assert role["organization"]["display"] == UNIT
    assert role["practitioner"]["identifier"] == {"system": HPR, "value": "1234567"}
    assert heart_failure["recorder"]["reference"] == "#" + role["id"]
    assert heart_failure["subject"]["identifier"] == {"system": FNR, "value": eva}
    # the native id is the source's system|value
    [stored] = [d for d in native(pilots, eva) if d["id"] == "urn:test:gerica|GER-2"]
    assert stored["code"] == {"system": "icd-10", "code": "I500", "display": "Diabetes type 2"}
    assert stored["recorded_by"] == {"unit": UNIT, "hpr": "1234567"}


def test_a_condition_and_the_native_record_answer_the_same_lookup_the_same_way(
    pilots: TestPlatform,
) -> None:
    eva, bob = people(2, seed="condition-same")
    pilots.onboard(
        tenant_document(
            "1804",
            services={
                "diagnoser": {
                    "resolved_window_years": 1,
                    "excluded_codes": {"icpc-2": ["P15-P19"]},
                },
                "news2": {},
                "kommunale-tjenester": {},
            },
        )
    )
    cases: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        ("active", {"onsetDateTime": "2019-03-01"}, {"onset": "2019-03-01"}),
        ("alcohol", {"code": "P15"}, {"code": {"system": "icpc-2", "code": "P15", "display": "x"}}),
        ("refuted", {"verification": "refuted"}, {"verification_status": "refuted"}),
        (
            "in-error",
            {"verification": "entered-in-error", "clinical": None},
            {"verification_status": "entered-in-error", "clinical_status": None},
        ),
        (
            "resolved-lately",
            {"clinical": "resolved", "abatementDateTime": "2026-06-01"},
            {"clinical_status": "resolved", "abatement": "2026-06-01"},
        ),
        (
            "resolved-long-ago",
            {"clinical": "resolved", "abatementDateTime": "2020-06-01"},
            {"clinical_status": "resolved", "abatement": "2020-06-01"},
        ),
    ]
    for record_id, elements, _fields in cases:
        code = elements.pop("code", "T90")
        written = write(pilots, a_condition(f"fhir-{record_id}", eva, code=code, **elements))
        assert written.status_code == 200, written.text
    for record_id, _elements, fields in cases:
        if "code" in fields:
            fields["code"]["display"] = "Diabetes type 2"
        push(pilots, a_diagnosis(f"native-{record_id}", bob, **fields))

    def seen(person: str, **params: str) -> list[tuple[Any, ...]]:
        return [
            (
                c["identifier"][0]["value"].split("-", 1)[1],
                c["code"]["coding"][0]["code"],
                c.get("clinicalStatus", {}).get("coding", [{}])[0].get("code"),
                c["verificationStatus"]["coding"][0]["code"],
                c.get("onsetDateTime"),
                c.get("abatementDateTime"),
                c["contained"][0]["organization"]["display"],
            )
            for c in conditions(search(pilots, person, **params))
        ]

    def as_native(person: str, **options: Any) -> list[tuple[Any, ...]]:
        return [
            (
                d["id"].split("-", 1)[1],
                d["code"]["code"],
                d["clinical_status"],
                d["verification_status"],
                d["onset"],
                d["abatement"],
                d["recorded_by"]["unit"],
            )
            for d in native(pilots, person, **options)
        ]

    # the same diagnoses, written through FHIR (Eva's) or natively (Bob's), answer the same way
    # on both faces:
    # never refuted, entered in error or excluded; the window by default; all when asked
    assert seen(eva) == seen(bob) == as_native(eva) == as_native(bob)
    assert [row[0] for row in seen(eva)] == ["active", "resolved-lately"]
    everything = seen(eva, **{"clinical-status": "resolved"})
    assert everything == seen(bob, **{"clinical-status": "resolved"})
    assert everything == [
        row for row in as_native(bob, include_resolved=True) if row[2] == "resolved"
    ]
    assert [row[0] for row in everything] == ["resolved-lately", "resolved-long-ago"]


def test_search_by_code_clinical_status_and_onset(pilots: TestPlatform) -> None:
    (eva,) = people(1, seed="condition-search")
    write(
        pilots,
        a_condition("diabetes", eva, onsetDateTime="2019-03-01"),
        a_condition("dementia", eva, code="P70", onsetDateTime="2024-09-01"),
        a_condition(
            "heart", eva, system=ICD10, code="I50", clinical="remission", onsetDateTime="2021-02-03"
        ),
    )
    assert record_ids(search(pilots, eva, code=f"{ICPC2}|P70")) == ["dementia"]
    assert record_ids(search(pilots, eva, code="http://hl7.org/fhir/sid/icpc-2|T90")) == [
        "diabetes"
    ]
    assert record_ids(search(pilots, eva, code=f"{ICPC2}|I50")) == []
    assert record_ids(search(pilots, eva, **{"clinical-status": "remission"})) == ["heart"]
    assert record_ids(search(pilots, eva, **{"onset-date": "ge2021-02-03"})) == [
        "dementia",
        "heart",
    ]
    assert record_ids(search(pilots, eva, **{"onset-date": "lt2021-02-03"})) == ["diabetes"]
    assert record_ids(search(pilots, eva, **{"onset-date": "2021-02-03"})) == ["heart"]
    assert record_ids(search(pilots, eva, _sort="onset-date")) == ["diabetes", "heart", "dementia"]
    unknown = pilots.client.post(
        "/fhir/Condition/_search",
        data={"patient:identifier": f"{FNR}|{eva}", "date": "ge2020-01-01"},
        headers=pilots.headers("bodo-legevakt", **FORM),
    )
    assert unknown.status_code == 400
    assert "onset-date" in unknown.json()["issue"][1]["diagnostics"]


def test_conditional_put_and_delete(pilots: TestPlatform) -> None:
    (eva,) = people(1, seed="condition-put")
    url = "/fhir/1804/Condition?identifier=urn:test:gerica|GER-9"
    headers = pilots.headers("bodo-epj", **{"Content-Type": "application/fhir+json"})
    created = pilots.client.put(url, json=a_condition("ignored", eva), headers=headers)
    assert created.status_code == 201, created.text
    validate(created.json())
    again = pilots.client.put(
        url,
        json=a_condition("ignored", eva),
        headers={**headers, "Prefer": "return=OperationOutcome"},
    )
    assert again.status_code == 200
    assert again.json()["issue"][0]["diagnostics"].startswith("unchanged")
    assert record_ids(search(pilots, eva)) == ["GER-9"]
    assert pilots.client.delete(url, headers=headers).status_code == 204
    assert record_ids(search(pilots, eva)) == []

    abated = a_condition("x", eva, abatementDateTime="2026-01-01")
    refused = pilots.client.put(url, json=abated, headers=headers)
    assert refused.status_code == 422
    validate(refused.json())
    assert ["Condition.abatementDateTime"] in [i.get("expression") for i in refused.json()["issue"]]
    nameless = a_condition("x", eva, contained=[], recorder={"reference": "#r"})
    refused = pilots.client.put(url, json=nameless, headers=headers)
    assert refused.status_code == 422
    assert ["Condition.recorder"] in [i.get("expression") for i in refused.json()["issue"]]
    reader = pilots.client.put(
        url,
        json=a_condition("x", eva),
        headers=pilots.headers("bodo-legevakt", **{"Content-Type": "application/fhir+json"}),
    )
    assert reader.status_code == 403
