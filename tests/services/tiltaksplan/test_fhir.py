"""Tiltaksplan's FHIR face (CarePlan), brought by the service's own provider: written by
transaction Bundles and conditional PUT/DELETE, searched by patient, category, status and
period, validated by a real FHIR library, and under the same rules as the native lookup."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from journalloft.plugin import OSLO
from support import people
from support.fhir import FNR, transaction, validate
from support.platform import TestPlatform

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=OSLO)
CATEGORY = "https://schemas.journalloft.no/fhir/CodeSystem/tiltaksplan-category"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
FHIR_JSON = {"Content-Type": "application/fhir+json"}
UNIT = "Hjemmetjenesten sone Sentrum"
PHONE = "+47 75 55 10 20"
UPDATED = "2026-11-20T14:05:00+01:00"


@pytest.fixture
def pilots(platform: TestPlatform) -> TestPlatform:
    platform.set_now(NOW)
    return platform


def a_care_plan(
    record_id: str,
    person: str,
    *,
    status: str = "active",
    repeat: dict[str, Any] | None = None,
    **elements: Any,
) -> dict[str, Any]:
    """A CarePlan as a municipal journal system writes it: medicines at 08 and 20."""
    resource: dict[str, Any] = {
        "resourceType": "CarePlan",
        "meta": {"lastUpdated": UPDATED},
        "contained": [
            {
                "resourceType": "Organization",
                "id": "u",
                "name": UNIT,
                "telecom": [{"system": "phone", "value": PHONE}],
            },
            {
                "resourceType": "Goal",
                "id": "g",
                "lifecycleStatus": "active",
                "description": {"text": "Tar medisinene som forskrevet"},
                "subject": {"identifier": {"system": FNR, "value": person}},
            },
        ],
        "identifier": [{"system": "urn:test:gerica", "value": record_id}],
        "status": status,
        "intent": "plan",
        "category": [{"coding": [{"system": CATEGORY, "code": "medication"}]}],
        "title": "Medisinering morgen og kveld",
        "description": "Dosett fra multidose.",
        "subject": {"identifier": {"system": FNR, "value": person}},
        "period": {"start": "2026-01-05"},
        "goal": [{"reference": "#g"}],
        "activity": [
            {
                "detail": {
                    "status": "in-progress",
                    "scheduledTiming": {
                        "repeat": repeat
                        or {"period": 1, "periodUnit": "d", "timeOfDay": ["08:00:00", "20:00:00"]}
                    },
                    "performer": [{"reference": "#u"}],
                }
            }
        ],
    }
    resource.update(elements)
    return resource


def a_measure(record_id: str, person: str, **fields: Any) -> dict[str, Any]:
    """The same measure as a native record."""
    record: dict[str, Any] = {
        "id": record_id,
        "patient": person,
        "updated": UPDATED,
        "title": "Medisinering morgen og kveld",
        "category": "medication",
        "description": "Dosett fra multidose.",
        "schedule": {"times": ["08:00", "20:00"]},
        "unit": {"name": UNIT, "phone": PHONE},
        "start": "2026-01-05",
        "status": "active",
        "goal": "Tar medisinene som forskrevet",
    }
    record.update(fields)
    return record


def write(platform: TestPlatform, *resources: dict[str, Any]) -> Any:
    return platform.client.post(
        "/fhir/1804",
        json=transaction(*resources),
        headers=platform.headers("bodo-epj", **FHIR_JSON),
    )


def push(platform: TestPlatform, *records: dict[str, Any]) -> None:
    pushed = platform.client.post(
        "/v1/tenants/1804/tiltaksplan/records",
        json={"records": list(records)},
        headers=platform.headers("bodo-epj"),
    )
    assert pushed.status_code == 200, pushed.text


def search(platform: TestPlatform, person: str, **params: str) -> dict[str, Any]:
    response = platform.client.post(
        "/fhir/CarePlan/_search",
        data={"patient:identifier": f"{FNR}|{person}", **params},
        headers=platform.headers("bodo-legevakt", **FORM),
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    validate(found)
    return found


def native(platform: TestPlatform, person: str, **options: Any) -> list[dict[str, Any]]:
    response = platform.client.post(
        "/v1/tiltaksplan/query",
        json={"patients": [person], **options},
        headers=platform.headers("bodo-legevakt"),
    )
    assert response.status_code == 200, response.text
    return [m for entry in response.json()["results"] for m in entry["measures"]]


def plans(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def record_ids(bundle: dict[str, Any]) -> list[str]:
    return [p["identifier"][0]["value"] for p in plans(bundle)]


def test_metadata_names_care_plan_and_its_search_parameters(pilots: TestPlatform) -> None:
    statement = pilots.client.get("/fhir/metadata").json()
    validate(statement)
    [care_plan] = [r for r in statement["rest"][0]["resource"] if r["type"] == "CarePlan"]
    assert {p["name"] for p in care_plan["searchParam"]} == {
        "patient",
        "subject",
        "category",
        "status",
        "date",
    }


def test_a_transaction_is_stored_and_found_as_a_care_plan(pilots: TestPlatform) -> None:
    (eva,) = people(1, seed="careplan-write")
    shower = a_care_plan(
        "GER-2",
        eva,
        repeat={"dayOfWeek": ["tue", "fri"], "timeOfDay": ["10:00:00"]},
        title="Dusj",
        category=[{"coding": [{"system": CATEGORY, "code": "personal-care"}]}],
    )
    written = write(pilots, a_care_plan("GER-1", eva), shower)
    assert written.status_code == 200, written.text
    validate(written.json())
    assert [e["response"]["status"] for e in written.json()["entry"]] == ["201 Created"] * 2

    found = search(pilots, eva)
    assert record_ids(found) == ["GER-1", "GER-2"]  # the next occurrence first, as natively
    medicines = plans(found)[0]
    assert (medicines["status"], medicines["intent"]) == ("active", "plan")
    detail = medicines["activity"][0]["detail"]
    assert detail["scheduledTiming"] == {
        "repeat": {"period": 1, "periodUnit": "d", "timeOfDay": ["08:00:00", "20:00:00"]}
    }
    assert detail["status"] == "in-progress"
    organization = next(c for c in medicines["contained"] if c["resourceType"] == "Organization")
    assert organization["name"] == UNIT
    assert organization["telecom"] == [{"system": "phone", "value": PHONE}]
    assert detail["performer"][0]["reference"] == "#" + organization["id"]
    goal = next(c for c in medicines["contained"] if c["resourceType"] == "Goal")
    assert goal["description"]["text"] == "Tar medisinene som forskrevet"
    assert medicines["category"][0]["coding"][0]["display"] == "Legemiddelhåndtering"
    assert plans(found)[1]["activity"][0]["detail"]["scheduledTiming"]["repeat"] == {
        "dayOfWeek": ["tue", "fri"],
        "timeOfDay": ["10:00:00"],
    }
    # the native id is the source's system|value
    [stored] = [m for m in native(pilots, eva) if m["id"] == "urn:test:gerica|GER-2"]
    assert stored["schedule"] == {"times": ["10:00"], "weekdays": ["tue", "fri"]}
    assert stored["next_occurrence"] == "2026-11-24T10:00:00+01:00"
    assert stored["unit"] == {"name": UNIT, "phone": PHONE}


def test_a_care_plan_and_the_native_record_answer_the_same_lookup_the_same_way(
    pilots: TestPlatform,
) -> None:
    eva, bob = people(2, seed="careplan-same")
    cases: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        ("current", {}, {}),
        ("paused", {"status": "on-hold"}, {"status": "on-hold"}),
        (
            "interval",
            {"repeat": {"period": 3, "periodUnit": "d", "timeOfDay": ["11:00:00"]}},
            {"schedule": {"times": ["11:00"], "every_days": 3}},
        ),
        (
            "as-needed",
            {
                "activity": [
                    {
                        "detail": {
                            "status": "in-progress",
                            "scheduledString": "ved behov",
                            "performer": [{"reference": "#u"}],
                        }
                    }
                ]
            },
            {"schedule": {"text": "ved behov"}},
        ),
        (
            "done-lately",
            {"status": "completed", "period": {"start": "2026-01-05", "end": "2026-11-01"}},
            {"status": "completed", "end": "2026-11-01"},
        ),
        (
            "done-long-ago",
            {"status": "completed", "period": {"start": "2026-01-05", "end": "2026-06-01"}},
            {"status": "completed", "end": "2026-06-01"},
        ),
        ("cancelled", {"status": "revoked"}, {"status": "cancelled"}),
        ("lapsed", {"period": {"start": "2026-01-05", "end": "2026-11-21"}}, {"end": "2026-11-21"}),
    ]
    for record_id, elements, _fields in cases:
        written = write(pilots, a_care_plan(f"fhir-{record_id}", eva, **elements))
        assert written.status_code == 200, written.text
    for record_id, _elements, fields in cases:
        push(pilots, a_measure(f"native-{record_id}", bob, **fields))

    def seen(person: str, **params: str) -> list[tuple[Any, ...]]:
        return [
            (
                p["identifier"][0]["value"].split("-", 1)[1],
                p["status"],
                p["period"].get("end"),
                p["activity"][0]["detail"].get("scheduledTiming"),
                p["activity"][0]["detail"].get("scheduledString"),
            )
            for p in plans(search(pilots, person, **params))
        ]

    status = {"active": "active", "on-hold": "on-hold", "completed": "completed",
              "cancelled": "revoked"}  # fmt: skip

    def as_native(person: str, **options: Any) -> list[tuple[Any, ...]]:
        return [
            (m["id"].split("-", 1)[1], status[m["status"]], m["end"], m["next_occurrence"])
            for m in native(pilots, person, **options)
        ]

    assert seen(eva) == seen(bob)
    assert [row[:3] for row in as_native(eva)] == [row[:3] for row in as_native(bob)]
    assert [row[0] for row in seen(eva)] == ["current", "interval", "as-needed", "paused"]
    assert [row[0] for row in as_native(eva)] == [row[0] for row in seen(eva)]
    # the ended ones only when asked, within the window (Bodø's 30 days), on both faces
    ended = seen(eva, status="completed,revoked")
    assert ended == seen(bob, status="completed,revoked")
    # the most recently ended first: lapsed (its end, the 21st), cancelled (its update, the 20th)
    assert [row[0] for row in ended] == ["lapsed", "cancelled", "done-lately"]
    assert [row[0] for row in as_native(eva, include_ended=True) if row[1] != "active"
            and row[1] != "on-hold"] == ["lapsed", "cancelled", "done-lately"]  # fmt: skip


def test_search_by_category_status_and_date(pilots: TestPlatform) -> None:
    (eva,) = people(1, seed="careplan-search")
    write(
        pilots,
        a_care_plan("meds", eva),
        a_care_plan(
            "wound",
            eva,
            category=[{"coding": [{"system": CATEGORY, "code": "wound-care"}]}],
            period={"start": "2026-11-01"},
        ),
        a_care_plan("paused", eva, status="on-hold"),
    )
    assert record_ids(search(pilots, eva, category=f"{CATEGORY}|wound-care")) == ["wound"]
    assert record_ids(search(pilots, eva, status="on-hold")) == ["paused"]
    assert record_ids(search(pilots, eva, date="ge2026-11-01")) == ["meds", "wound", "paused"]
    assert record_ids(search(pilots, eva, date="lt2026-11-01")) == ["meds", "paused"]
    assert record_ids(search(pilots, eva, date="lt2026-11-02")) == ["meds", "wound", "paused"]


def test_conditional_put_and_delete(pilots: TestPlatform) -> None:
    (eva,) = people(1, seed="careplan-put")
    url = "/fhir/1804/CarePlan?identifier=urn:test:gerica|GER-9"
    headers = pilots.headers("bodo-epj", **FHIR_JSON)
    created = pilots.client.put(url, json=a_care_plan("ignored", eva), headers=headers)
    assert created.status_code == 201, created.text
    validate(created.json())
    assert record_ids(search(pilots, eva)) == ["GER-9"]
    assert pilots.client.delete(url, headers=headers).status_code == 204
    assert record_ids(search(pilots, eva)) == []

    backwards = a_care_plan("x", eva, period={"start": "2026-02-01", "end": "2026-01-31"})
    refused = pilots.client.put(url, json=backwards, headers=headers)
    assert refused.status_code == 422
    validate(refused.json())
    assert ["CarePlan.period.end"] in [i.get("expression") for i in refused.json()["issue"]]
    hourly = a_care_plan("x", eva, repeat={"frequency": 3, "period": 1, "periodUnit": "h"})
    refused = pilots.client.put(url, json=hourly, headers=headers)
    assert refused.status_code == 422
    expressions = [e for i in refused.json()["issue"] for e in i.get("expression", [])]
    assert "CarePlan.activity[0].detail.scheduledTiming.repeat.period" in expressions
    assert "CarePlan.activity[0].detail.scheduledTiming.repeat.frequency" in expressions
    two = a_care_plan("x", eva)
    two["activity"] = two["activity"] * 2
    refused = pilots.client.put(url, json=two, headers=headers)
    assert refused.status_code == 422
    assert ["CarePlan.activity"] in [i.get("expression") for i in refused.json()["issue"]]
    reader = pilots.client.put(
        url, json=a_care_plan("x", eva), headers=pilots.headers("bodo-legevakt", **FHIR_JSON)
    )
    assert reader.status_code == 403


@pytest.mark.parametrize(
    "changes",
    [
        {"category": {"coding": []}},
        {"category": [{"coding": [{"system": CATEGORY, "code": "dancing"}]}]},
        {"activity": {"detail": {}}},
        {"activity": [{"detail": "x"}]},
        {"activity": []},
        {"period": "2026-01-05"},
        {"period": {"start": "5. januar"}},
        {"status": ["active"]},
        {"intent": "order"},
        {"title": 7},
        {"contained": "x"},
        {"goal": [{"reference": "#nowhere"}]},
        {"repeat": {"timeOfDay": "08:00:00"}},
        {"repeat": {"timeOfDay": [8, None]}},
        {"repeat": {"timeOfDay": ["08:00:30"]}},
        {"repeat": {"timeOfDay": ["08:00:00"], "dayOfWeek": [1, "mon"]}},
        {"repeat": {"timeOfDay": ["08:00:00"], "period": "2", "periodUnit": "d"}},
        {"repeat": {"timeOfDay": ["08:00:00"], "period": 400, "periodUnit": "d"}},
        {"repeat": {"timeOfDay": ["08:00:00"], "period": True, "periodUnit": "d"}},
        {"repeat": {"when": ["MORN"]}},
        {
            "repeat": {
                "timeOfDay": ["08:00:00"],
                "dayOfWeek": ["mon"],
                "period": 2,
                "periodUnit": "d",
            }
        },
    ],
)
def test_a_care_plan_the_service_cannot_read_is_refused_never_a_server_error(
    pilots: TestPlatform, changes: dict[str, Any]
) -> None:
    (eva,) = people(1, seed="careplan-broken")
    elements = dict(changes)  # the parameter is shared by both backends' runs
    repeat = elements.pop("repeat", None)
    resource = a_care_plan("GER-X", eva, repeat=repeat, **elements)
    answer = pilots.client.put(
        "/fhir/1804/CarePlan?identifier=urn:test:gerica|GER-X",
        json=resource,
        headers=pilots.headers("bodo-epj", **FHIR_JSON),
    )
    assert answer.status_code in (400, 422), answer.text
    validate(answer.json())
    assert record_ids(search(pilots, eva)) == []
