"""Diagnoser over HTTP: a journal system pushes, a legevakt looks up, tenants stay apart, and a
municipality that has not adopted the service shares nothing, without an error."""

from __future__ import annotations

import logging
import random
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from journalloft.platform.core.tenancy import TenantFileError
from journalloft.platform.operations.demo import seed_demo_data
from journalloft.plugin import OSLO
from journalloft.services.diagnoser import spec
from support import people, tenant_document
from support.native import SOURCES, NativeApi, audit, selects_from
from support.platform import TestPlatform

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=OSLO)
TODAY = date(2026, 11, 22)
ALICE, BOB = people(2, seed="diagnoser-api")
SERVICE = "diagnoser"
API = NativeApi(SERVICE)
push, withdraw, look_up, results = API.push, API.withdraw, API.look_up, API.results
REPO = Path(__file__).resolve().parents[3]


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


def a_diagnosis(
    record_id: str, patient: str = ALICE, code: str = "T90", **fields: Any
) -> dict[str, Any]:
    """One record as a journal system sends it: confirmed, active type 2 diabetes by default."""
    record: dict[str, Any] = {
        "id": record_id,
        "patient": patient,
        "updated": "2026-11-20T14:05:00+01:00",
        "code": {"system": "icpc-2", "code": code, "display": "Diabetes type 2"},
        "clinical_status": "active",
        "verification_status": "confirmed",
        "recorded_by": {"unit": "Hjemmetjenesten sone Sentrum"},
    }
    record.update(fields)
    return record


def coded(system: str, code: str, display: str) -> dict[str, str]:
    return {"system": system, "code": code, "display": display}


def ids(entry: dict[str, Any]) -> list[str]:
    return [d["id"] for d in entry["diagnoses"]]


@pytest.fixture
def pilots(platform: TestPlatform) -> TestPlatform:
    platform.set_now(NOW)
    return platform


def test_the_legevakt_sees_what_the_person_has_active_first(pilots: TestPlatform) -> None:
    pushed = push(
        pilots,
        "1804",
        a_diagnosis(
            "D-diabetes",
            onset="2019-03-01",
            abatement=None,
            recorded_by={"unit": "Hjemmetjenesten sone Sentrum", "hpr": "1234567"},
            note="Insulin morgen og kveld.",
        ),
        a_diagnosis("D-heart", onset="2022-06-10")
        | {"code": coded("icd-10", "I50.0", "Kongestiv hjertesvikt")},
        a_diagnosis(
            "D-dementia",
            code="P70",
            onset="2024-09-01",
            verification_status="provisional",
        )
        | {"code": coded("icpc-2", "P70", "Demens")},
        a_diagnosis(
            "D-pneumonia",
            clinical_status="resolved",
            onset=day(-60),
            abatement=day(-45),
        )
        | {"code": coded("icpc-2", "R81", "Lungebetennelse")},
        a_diagnosis("D-stroke", clinical_status="resolved", verification_status="refuted")
        | {"code": coded("icpc-2", "K90", "Hjerneslag")},
        a_diagnosis("D-error", clinical_status=None, verification_status="entered-in-error"),
    )
    assert pushed.status_code == 200, pushed.text
    assert pushed.json() == {"received": 6, "created": 6, "updated": 0, "unchanged": 0, "stale": 0}

    [entry] = results(pilots, "bodo-legevakt", ALICE, BOB)
    assert (entry["patient"], entry["kommunenummer"], entry["active_count"]) == (ALICE, "1804", 3)
    assert ids(entry) == ["D-dementia", "D-heart", "D-diabetes", "D-pneumonia"]
    assert entry["diagnoses"][2] == {
        "id": "D-diabetes",
        "updated": "2026-11-20T13:05:00Z",
        "code": {"system": "icpc-2", "code": "T90", "display": "Diabetes type 2"},
        "clinical_status": "active",
        "verification_status": "confirmed",
        "onset": "2019-03-01",
        "abatement": None,
        "recorded_by": {"unit": "Hjemmetjenesten sone Sentrum", "hpr": "1234567"},
        "note": "Insulin morgen og kveld.",
    }
    assert entry["diagnoses"][1]["code"] == coded("icd-10", "I500", "Kongestiv hjertesvikt")
    assert entry["diagnoses"][0]["verification_status"] == "provisional"
    assert pilots.runtime.schemas.errors(entry, spec.result_schema) == []


def test_an_invalid_batch_stores_nothing_and_points_at_every_error(pilots: TestPlatform) -> None:
    response = push(
        pilots,
        "1804",
        a_diagnosis("ok"),
        a_diagnosis("process-code", code="K31"),
        a_diagnosis("icd-as-icpc", code="I50.0"),
        a_diagnosis("bad-system") | {"code": coded("icd-11", "BA00", "Hypertensjon")},
        a_diagnosis("lower-case") | {"code": coded("icd-10", "i50.0", "Hjertesvikt")},
        a_diagnosis("no-display") | {"code": {"system": "icpc-2", "code": "T90"}},
        a_diagnosis("no-clinical-status", clinical_status=None),
        a_diagnosis("error-with-status", verification_status="entered-in-error"),
        a_diagnosis("abated-but-active", onset=day(-10), abatement=day(-1)),
        a_diagnosis(
            "abated-before-onset", clinical_status="resolved", onset=day(-1), abatement=day(-10)
        ),
        a_diagnosis("future-onset", onset=day(1)),
        a_diagnosis("bad-hpr", recorded_by={"unit": "Sone Nord", "hpr": "0123"}),
        a_diagnosis("no-unit", recorded_by={"hpr": "1234567"}),
        a_diagnosis("bad-status", clinical_status="chronic"),
        a_diagnosis("bad-person", patient="12345678901"),
        a_diagnosis("extra-field", severity="severe"),
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    pointers = [e["pointer"] for e in response.json()["errors"]]
    assert set(pointers) == {
        "/records/1/code/code",
        "/records/2/code/code",
        "/records/3/code/system",
        "/records/4/code/code",
        "/records/5/code/display",
        "/records/6/clinical_status",
        "/records/7/clinical_status",
        "/records/8/abatement",
        "/records/9/abatement",
        "/records/10/onset",
        "/records/11/recorded_by/hpr",
        "/records/12/recorded_by/unit",
        "/records/13/clinical_status",
        "/records/14/patient",
        "/records/15/severity",
    }
    messages = {e["pointer"]: e["message"] for e in response.json()["errors"]}
    assert "process code" in messages["/records/1/code/code"]
    assert "icd-10" in messages["/records/2/code/code"]
    assert "capitals" in messages["/records/4/code/code"]
    assert results(pilots, "bodo-legevakt", ALICE, include_resolved=True) == []


def test_ingest_is_idempotent_newer_replaces_older_is_stale(pilots: TestPlatform) -> None:
    first = a_diagnosis("D-1", code="R81", updated="2026-11-10T10:00:00+01:00", onset=day(-14))
    first["code"] = coded("icpc-2", "R81", "Lungebetennelse")
    assert push(pilots, "1804", first).json()["created"] == 1
    assert push(pilots, "1804", first).json() == {
        "received": 1,
        "created": 0,
        "updated": 0,
        "unchanged": 1,
        "stale": 0,
    }
    resolved = {
        **first,
        "updated": "2026-11-20T08:00:00+01:00",
        "clinical_status": "resolved",
        "abatement": day(-3),
    }
    assert push(pilots, "1804", resolved).json()["updated"] == 1
    late_old = {**first, "updated": "2026-11-09T08:00:00+01:00", "clinical_status": "relapse"}
    assert push(pilots, "1804", late_old).json()["stale"] == 1
    [entry] = results(pilots, "bodo-legevakt", ALICE)
    assert [(d["id"], d["clinical_status"], d["abatement"]) for d in entry["diagnoses"]] == [
        ("D-1", "resolved", day(-3))
    ]
    assert entry["active_count"] == 0


def test_a_batch_that_names_one_record_twice_behaves_like_two_pushes(pilots: TestPlatform) -> None:
    older = a_diagnosis("D-1", updated="2026-11-19T08:00:00+01:00")
    newer = {**older, "updated": "2026-11-20T08:00:00+01:00", "clinical_status": "inactive"}
    assert push(pilots, "1804", newer, older).json() == {
        "received": 2,
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "stale": 1,
    }
    assert results(pilots, "bodo-legevakt", ALICE)[0]["diagnoses"][0]["clinical_status"] == (
        "inactive"
    )


def test_withdraw_takes_a_diagnosis_out_of_lookups(pilots: TestPlatform) -> None:
    push(pilots, "1804", a_diagnosis("keep"), a_diagnosis("wrong-person", code="K77"))
    assert withdraw(pilots, "1804", "wrong-person", client="bodo-legevakt").status_code == 403
    assert withdraw(pilots, "1804", "wrong-person").status_code == 204
    assert withdraw(pilots, "1804", "wrong-person").status_code == 404
    assert ids(results(pilots, "bodo-legevakt", ALICE, include_resolved=True)[0]) == ["keep"]
    again = push(pilots, "1804", a_diagnosis("wrong-person", code="K77"))
    assert again.json()["stale"] == 1  # withdrawn until the source sends a newer version
    corrected = a_diagnosis("wrong-person", code="K77", updated="2026-11-21T09:00:00+01:00")
    assert push(pilots, "1804", corrected).json()["updated"] == 1
    assert sorted(ids(results(pilots, "bodo-legevakt", ALICE)[0])) == ["keep", "wrong-person"]
    withdraw(pilots, "1804", "keep")
    withdraw(pilots, "1804", "wrong-person")
    assert results(pilots, "bodo-legevakt", ALICE) == []


def test_tenants_never_see_each_others_diagnoses(pilots: TestPlatform) -> None:
    """Bodø's and Bærum's stores are separate over every endpoint of the service."""
    push(pilots, "1804", a_diagnosis("shared-id", ALICE, note="Bodø"))
    push(pilots, "3201", a_diagnosis("shared-id", BOB, note="Bærum"))

    bodo = results(pilots, "bodo-legevakt", ALICE, BOB)
    baerum = results(pilots, "baerum-legevakt", ALICE, BOB)
    assert [(r["patient"], r["kommunenummer"]) for r in bodo] == [(ALICE, "1804")]
    assert [(r["patient"], r["kommunenummer"]) for r in baerum] == [(BOB, "3201")]
    assert bodo[0]["diagnoses"][0]["note"] == "Bodø"
    assert baerum[0]["diagnoses"][0]["note"] == "Bærum"
    assert look_up(pilots, "bodo-legevakt", BOB, kommuner=["3201"]).status_code == 403
    assert look_up(pilots, "baerum-legevakt", ALICE, kommuner=["1804"]).status_code == 403

    assert push(pilots, "3201", a_diagnosis("sneaky", BOB), client="bodo-epj").status_code == 403
    assert push(pilots, "1804", a_diagnosis("sneaky", ALICE), client="baerum-epj").status_code == (
        403
    )

    assert withdraw(pilots, "3201", "shared-id", client="bodo-epj").status_code == 403
    assert withdraw(pilots, "1804", "shared-id", client="baerum-epj").status_code == 403
    assert withdraw(pilots, "1804", "shared-id").status_code == 204
    assert [r["kommunenummer"] for r in results(pilots, "baerum-legevakt", BOB)] == ["3201"]

    assert audit(pilots, "3201", BOB, "bodo-drift").status_code == 403
    baerum_log = audit(pilots, "3201", BOB, "baerum-drift").json()["events"]
    assert {(e["action"], e["service"]) for e in baerum_log} >= {
        ("write", SERVICE),
        ("read", SERVICE),
    }
    assert {e["client_id"] for e in baerum_log} <= {"baerum-epj", "baerum-legevakt"}
    bodo_log = audit(pilots, "1804", BOB, "bodo-drift").json()["events"]
    assert {e["client_id"] for e in bodo_log} <= {"bodo-epj", "bodo-legevakt"}
    assert all(e["result_count"] == 0 for e in bodo_log)


def shipped(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO / "tenants" / name).read_text("utf-8"))
    return document


def test_a_municipality_that_has_not_adopted_diagnoser_shares_none_without_an_error(
    empty_platform: TestPlatform,
) -> None:
    """The pilot files as shipped: Bodø adopted diagnoser, Bærum did not. A legevakt that both
    municipalities trust gets Bodø's diagnoses and nothing from Bærum, though Bærum holds other
    data on the same person."""
    platform = empty_platform
    platform.set_now(NOW)
    salten = {"client_id": "salten-legevakt", "name": "Salten legevakt"}
    bodo, baerum = shipped("bodo.yaml"), shipped("baerum.yaml")
    assert "diagnoser" in bodo["services"]
    assert "diagnoser" not in baerum["services"]
    bodo["consumers"].append({**salten, "services": sorted(bodo["services"])})
    baerum["consumers"].append({**salten, "services": sorted(baerum["services"])})
    platform.onboard(bodo)
    platform.onboard(baerum)

    assert push(platform, "1804", a_diagnosis("D-1", ALICE)).status_code == 200
    service = {"id": "K-1", "patient": ALICE, "updated": "2026-11-20T14:05:00+01:00",
               "service_code": "6", "start": "2026-01-05"}  # fmt: skip
    for kommunenummer in ("1804", "3201"):
        pushed = platform.client.post(
            f"/v1/tenants/{kommunenummer}/kommunale-tjenester/records",
            json={"records": [service]},
            headers=platform.headers(SOURCES[kommunenummer]),
        )
        assert pushed.status_code == 200, pushed.text

    answer = look_up(platform, "salten-legevakt", ALICE)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"results": answer.json()["results"]}  # nothing listed as refused
    found = answer.json()["results"]
    assert [(r["kommunenummer"], ids(r)) for r in found] == [("1804", ["D-1"])]
    elsewhere = platform.client.post(
        "/v1/kommunale-tjenester/query",
        json={"patients": [ALICE]},
        headers=platform.headers("salten-legevakt"),
    )
    assert [r["kommunenummer"] for r in elsewhere.json()["results"]] == ["1804", "3201"]

    asked = look_up(platform, "salten-legevakt", ALICE, kommuner=["3201"])
    assert asked.status_code == 404
    assert asked.json()["title"] == "Service not enabled for this municipality"
    own = platform.client.post(
        f"/v1/{SERVICE}/query",
        json={"patients": [ALICE]},
        headers=platform.headers("baerum-legevakt"),
    )
    assert own.status_code == 403  # Bærum's own legevakt holds no diagnoser:read at all
    assert push(platform, "3201", a_diagnosis("D-2", ALICE)).status_code == 403


def test_the_window_and_the_exclusions_come_from_the_tenant_file(pilots: TestPlatform) -> None:
    settings = {
        "resolved_window_years": 1,
        "excluded_codes": {"icpc-2": ["P15-P19"], "icd-10": ["F10-F19"]},
    }
    pilots.onboard(tenant_document("1804", services={SERVICE: settings}))
    pushed = push(
        pilots,
        "1804",
        a_diagnosis("current"),
        a_diagnosis("over-this-year", code="R81", clinical_status="resolved", abatement=day(-300)),
        a_diagnosis(
            "over-two-years-ago", code="U71", clinical_status="resolved", abatement=day(-730)
        ),
        a_diagnosis("alcohol-icpc", code="P15"),
        a_diagnosis("alcohol-icd") | {"code": coded("icd-10", "F10.2", "Alkoholavhengighet")},
        a_diagnosis("dementia", code="P70"),
    )
    assert pushed.json()["created"] == 6
    [entry] = results(pilots, "bodo-legevakt", ALICE)
    assert sorted(ids(entry)) == ["current", "dementia", "over-this-year"]
    assert entry["active_count"] == 2
    [everything] = results(pilots, "bodo-legevakt", ALICE, include_resolved=True)
    assert sorted(ids(everything)) == [
        "current",
        "dementia",
        "over-this-year",
        "over-two-years-ago",
    ]
    log = audit(pilots, "1804", ALICE, "bodo-drift").json()["events"]
    assert [e["result_count"] for e in log if e["action"] == "write"] == [6]


def test_a_tenant_file_with_a_bad_exclusion_is_refused_at_its_pointer(
    pilots: TestPlatform,
) -> None:
    bad = {"excluded_codes": {"icpc-2": ["P", "C10"], "icd-10": ["F00-F99\n"]}}
    with pytest.raises(TenantFileError) as refused:
        pilots.onboard(tenant_document("1804", services={SERVICE: bad}))
    assert {e.pointer for e in refused.value.errors} == {
        "/services/diagnoser/excluded_codes/icpc-2/1",
        "/services/diagnoser/excluded_codes/icd-10/0",
    }


def test_query_options_are_checked(pilots: TestPlatform) -> None:
    response = look_up(pilots, "bodo-legevakt", ALICE, include_resolved="yes", include_ended=True)
    assert response.status_code == 422
    assert {e["pointer"] for e in response.json()["errors"]} == {
        "/include_resolved",
        "/include_ended",
    }


def test_two_hundred_people_in_one_request_and_one_select(
    pilots: TestPlatform, caplog: pytest.LogCaptureFixture
) -> None:
    everyone = people(200, seed="diagnoser-200")
    records = [a_diagnosis(f"D-{i}", p) for i, p in enumerate(everyone)]
    assert push(pilots, "1804", *records).json()["created"] == 200
    with caplog.at_level(logging.DEBUG, logger="journalloft.sql"):
        found = results(pilots, "bodo-legevakt", *everyone)
    selects = selects_from(caplog, "diagnose")
    assert [r["patient"] for r in found] == everyone
    assert len(selects) == 1, selects


def test_demo_data_goes_through_ingest_and_shows_every_case(pilots: TestPlatform) -> None:
    seeded = seed_demo_data(pilots.runtime, people=12)
    found = results(pilots, "bodo-legevakt", *seeded["1804"], include_resolved=True)
    assert {r["patient"] for r in found} == set(seeded["1804"])
    diagnoses = [d for r in found for d in r["diagnoses"]]
    codes = {d["code"]["code"] for d in diagnoses}
    assert {"T90", "K77", "P70", "I500"} <= codes
    assert {d["verification_status"] for d in diagnoses} == {
        "confirmed",
        "provisional",
        "differential",
    }
    for entry in found:
        assert pilots.runtime.schemas.errors(entry, spec.result_schema) == []


def test_demo_records_are_accepted_by_the_platform(pilots: TestPlatform) -> None:
    everyone = people(30, seed="diagnoser-demo")
    records = spec.demo_records(rng=random.Random(1804), patients=everyone, now=NOW)
    response = push(pilots, "1804", *records)
    assert response.status_code == 200, response.text
    assert response.json()["created"] == len(records)


def test_openapi_describes_the_service_with_its_schemas(pilots: TestPlatform) -> None:
    document = pilots.client.get("/openapi.json").json()
    assert f"/v1/{SERVICE}/query" in document["paths"]
    assert f"/v1/tenants/{{kommunenummer}}/{SERVICE}/records" in document["paths"]
    assert "diagnoser.v1.record" in document["components"]["schemas"]


def test_the_built_in_issuer_offers_the_diagnoser_scopes(pilots: TestPlatform) -> None:
    metadata = pilots.client.get("/.well-known/oauth-authorization-server").json()
    assert {"diagnoser:read", "diagnoser:write"} <= set(metadata["scopes_supported"])
