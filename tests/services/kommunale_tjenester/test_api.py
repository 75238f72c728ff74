"""kommunale-tjenester over HTTP: a journal system pushes, a legevakt reads."""

from __future__ import annotations

import logging
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from journalloft.plugin import OSLO
from journalloft.services.kommunale_tjenester import spec
from support import people, tenant_document
from support.native import NativeApi, audit, selects_from
from support.platform import TestPlatform

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=OSLO)
TODAY = date(2026, 11, 22)
ALICE, BOB = people(2, seed="kommunale-tjenester-api")
SERVICE = "kommunale-tjenester"
API = NativeApi(SERVICE)
push, withdraw, look_up, results = API.push, API.withdraw, API.look_up, API.results


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


def a_service(record_id: str, patient: str = ALICE, **fields: Any) -> dict[str, Any]:
    """One record as a journal system sends it; home nursing since 100 days ago by default."""
    return {
        "id": record_id,
        "patient": patient,
        "updated": "2026-11-20T14:05:00+01:00",
        "service_code": "15",
        "description": "Medisinhåndtering morgen og kveld",
        "unit": {"name": "Hjemmetjenesten sone Sentrum", "phone": "+47 75 55 12 34"},
        "start": day(-100),
        "temporary_cessation": False,
        **fields,
    }


@pytest.fixture
def pilots(platform: TestPlatform) -> TestPlatform:
    platform.set_now(NOW)
    return platform


def test_legevakt_sees_names_status_and_whom_to_call_active_first(pilots: TestPlatform) -> None:
    pushed = push(
        pilots,
        "1804",
        a_service(
            "GER-ended",
            service_code="019",
            start=day(-40),
            end=day(-5),
            unit={"name": "Rehabiliteringsavdelingen"},
            stay_type="korttidsopphold",
        ),
        a_service(
            "GER-alarm",
            service_code="06",
            start=day(-700),
            unit={"name": "Responssenteret", "phone": "+47 75 55 40 00"},
        ),
        a_service(
            "GER-hjemmesykepleie", service_code="015", start=day(-30), weekly_extent="14 besøk"
        ),
        a_service("GER-planned", service_code="4", start=day(7), weekly_extent="2 dager"),
        a_service("GER-paused", service_code="1", start=day(-300), temporary_cessation=True),
    )
    assert pushed.status_code == 200, pushed.text
    assert pushed.json() == {"received": 5, "created": 5, "updated": 0, "unchanged": 0, "stale": 0}

    [entry] = results(pilots, "bodo-legevakt", ALICE)
    assert (entry["patient"], entry["kommunenummer"], entry["active_count"]) == (ALICE, "1804", 2)
    assert [(s["id"], s["status"]) for s in entry["services"]] == [
        ("GER-hjemmesykepleie", "active"),
        ("GER-alarm", "active"),
        ("GER-planned", "planned"),
        ("GER-paused", "paused"),
        ("GER-ended", "ended"),
    ]
    nursing = entry["services"][0]
    assert nursing == {
        "id": "GER-hjemmesykepleie",
        "service_code": "15",
        "service_name": "Helsetjenester i hjemmet (hjemmesykepleie)",
        "description": "Medisinhåndtering morgen og kveld",
        "unit": {"name": "Hjemmetjenesten sone Sentrum", "phone": "+47 75 55 12 34"},
        "start": day(-30),
        "end": None,
        "temporary_cessation": False,
        "weekly_extent": "14 besøk",
        "stay_type": None,
        "status": "active",
        "updated": "2026-11-20T13:05:00Z",
    }
    assert entry["services"][-1]["unit"] == {"name": "Rehabiliteringsavdelingen", "phone": None}
    assert pilots.runtime.schemas.errors(entry, spec.result_schema) == []


def test_an_invalid_batch_stores_nothing_and_points_at_every_error(pilots: TestPlatform) -> None:
    response = push(
        pilots,
        "1804",
        a_service("ok"),
        a_service("unknown-code", service_code="99"),
        a_service("retired-code", service_code="016"),
        a_service("end-before-start", start="2026-05-02", end="2026-05-01"),
        a_service("bad-stay", stay_type="langtidsopphold"),
        a_service("bad-person", patient="12345678901"),
        a_service("bad-phone", unit={"name": "Sone Nord", "phone": "ring sentralbordet"}),
        a_service("extra-field", colour="blue"),
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    pointers = [e["pointer"] for e in response.json()["errors"]]
    assert set(pointers) == {
        "/records/1/service_code",
        "/records/2/service_code",
        "/records/3/end",
        "/records/4/stay_type",
        "/records/5/patient",
        "/records/6/unit/phone",
        "/records/7/colour",
    }
    assert results(pilots, "bodo-legevakt", ALICE) == []


def test_rule_errors_are_reported_even_when_the_schema_passes(pilots: TestPlatform) -> None:
    response = push(
        pilots,
        "1804",
        a_service("a", service_code="10"),
        a_service("b", start=day(0), end=day(-1)),
        a_service("c"),
    )
    assert response.status_code == 422
    errors = {e["pointer"]: e["message"] for e in response.json()["errors"]}
    assert set(errors) == {"/records/0/service_code", "/records/1/end"}
    assert "retired" in errors["/records/0/service_code"]
    assert results(pilots, "bodo-legevakt", ALICE) == []


def test_ingest_is_idempotent_newer_replaces_older_is_stale(pilots: TestPlatform) -> None:
    first = a_service("GER-1", updated="2026-11-20T10:00:00+01:00")
    assert push(pilots, "1804", first).json()["created"] == 1
    assert push(pilots, "1804", first).json() == {
        "received": 1,
        "created": 0,
        "updated": 0,
        "unchanged": 1,
        "stale": 0,
    }
    paused = {**first, "updated": "2026-11-21T08:00:00+01:00", "temporary_cessation": True}
    assert push(pilots, "1804", paused).json()["updated"] == 1
    late_old = {**first, "updated": "2026-11-19T08:00:00+01:00", "end": day(-50)}
    assert push(pilots, "1804", late_old).json()["stale"] == 1
    [entry] = results(pilots, "bodo-legevakt", ALICE)
    assert [(s["id"], s["status"]) for s in entry["services"]] == [("GER-1", "paused")]
    assert entry["active_count"] == 0


def test_withdraw_takes_a_service_out_of_queries(pilots: TestPlatform) -> None:
    push(pilots, "1804", a_service("keep"), a_service("wrong-person", service_code="6"))
    assert withdraw(pilots, "1804", "wrong-person", client="bodo-legevakt").status_code == 403
    assert withdraw(pilots, "1804", "wrong-person").status_code == 204
    assert withdraw(pilots, "1804", "wrong-person").status_code == 404
    [entry] = results(pilots, "bodo-legevakt", ALICE)
    assert [s["id"] for s in entry["services"]] == ["keep"]
    assert push(pilots, "1804", a_service("keep")).json()["unchanged"] == 1
    withdraw(pilots, "1804", "keep")
    assert results(pilots, "bodo-legevakt", ALICE) == []


def test_tenants_never_see_each_others_services(pilots: TestPlatform) -> None:
    """Bodø's and Bærum's stores are separate over every endpoint of the service."""
    push(pilots, "1804", a_service("shared-id", ALICE, unit={"name": "Bodø sone Sentrum"}))
    push(pilots, "3201", a_service("shared-id", BOB, unit={"name": "Bærum sone Øst"}))

    # Query: each legevakt gets its own municipality's people only, and cannot ask the other.
    bodo = results(pilots, "bodo-legevakt", ALICE, BOB)
    baerum = results(pilots, "baerum-legevakt", ALICE, BOB)
    assert [(r["patient"], r["kommunenummer"]) for r in bodo] == [(ALICE, "1804")]
    assert [(r["patient"], r["kommunenummer"]) for r in baerum] == [(BOB, "3201")]
    assert bodo[0]["services"][0]["unit"]["name"] == "Bodø sone Sentrum"
    assert baerum[0]["services"][0]["unit"]["name"] == "Bærum sone Øst"
    assert look_up(pilots, "bodo-legevakt", BOB, kommuner=["3201"]).status_code == 403
    assert look_up(pilots, "baerum-legevakt", ALICE, kommuner=["1804"]).status_code == 403

    # Ingest: a source cannot write into the other municipality.
    assert push(pilots, "3201", a_service("sneaky", BOB), client="bodo-epj").status_code == 403
    assert push(pilots, "1804", a_service("sneaky", ALICE), client="baerum-epj").status_code == 403

    # Withdraw: neither across tenants, nor the other tenant's record in one's own tenant.
    assert withdraw(pilots, "3201", "shared-id", client="bodo-epj").status_code == 403
    assert withdraw(pilots, "1804", "shared-id", client="baerum-epj").status_code == 403
    assert withdraw(pilots, "1804", "shared-id").status_code == 204
    assert [r["kommunenummer"] for r in results(pilots, "baerum-legevakt", BOB)] == ["3201"]

    # Audit: each log holds its own clients only, and only its own operators may read it.
    assert audit(pilots, "3201", BOB, "bodo-drift").status_code == 403
    baerum_log = audit(pilots, "3201", BOB, "baerum-drift").json()["events"]
    assert baerum_log
    assert {e["client_id"] for e in baerum_log} <= {"baerum-epj", "baerum-legevakt"}
    bodo_log = audit(pilots, "1804", BOB, "bodo-drift").json()["events"]
    assert {e["client_id"] for e in bodo_log} <= {"bodo-epj", "bodo-legevakt"}
    assert all(e["result_count"] == 0 for e in bodo_log)


def test_ended_window_comes_from_the_tenant_file(pilots: TestPlatform) -> None:
    pilots.onboard(
        tenant_document("1804", services={SERVICE: {"ended_window_days": 30}, "news2": {}})
    )
    push(
        pilots,
        "1804",
        a_service("current"),
        a_service("ended-30-days-ago", start=day(-200), end=day(-30)),
        a_service("ended-31-days-ago", start=day(-200), end=day(-31)),
    )
    [entry] = results(pilots, "bodo-legevakt", ALICE)
    assert [s["id"] for s in entry["services"]] == ["current", "ended-30-days-ago"]
    [everything] = results(pilots, "bodo-legevakt", ALICE, include_ended=True)
    assert [s["id"] for s in everything["services"]][-1] == "ended-31-days-ago"


def test_default_window_is_90_days_and_old_services_alone_mean_absent(
    pilots: TestPlatform,
) -> None:
    push(
        pilots,
        "1804",
        a_service("ended-90", ALICE, start=day(-200), end=day(-90)),
        a_service("ended-91", BOB, start=day(-200), end=day(-91)),
    )
    found = results(pilots, "bodo-legevakt", ALICE, BOB)
    assert [(r["patient"], [s["id"] for s in r["services"]]) for r in found] == [
        (ALICE, ["ended-90"])
    ]
    with_ended = results(pilots, "bodo-legevakt", BOB, include_ended=True)
    assert [s["status"] for s in with_ended[0]["services"]] == ["ended"]


def test_query_options_are_checked(pilots: TestPlatform) -> None:
    response = look_up(pilots, "bodo-legevakt", ALICE, include_ended="yes", hours=3)
    assert response.status_code == 422
    assert {e["pointer"] for e in response.json()["errors"]} == {"/include_ended", "/hours"}


def test_status_turns_at_midnight_in_oslo(pilots: TestPlatform) -> None:
    push(pilots, "1804", a_service("starts-monday", start="2026-11-23"))
    pilots.set_now(datetime(2026, 11, 22, 22, 59, 59, tzinfo=UTC))
    assert results(pilots, "bodo-legevakt", ALICE)[0]["services"][0]["status"] == "planned"
    pilots.set_now(datetime(2026, 11, 22, 23, 0, 0, tzinfo=UTC))
    assert results(pilots, "bodo-legevakt", ALICE)[0]["services"][0]["status"] == "active"


def test_two_hundred_people_in_one_request_and_one_select(
    pilots: TestPlatform, caplog: pytest.LogCaptureFixture
) -> None:
    everyone = people(200, seed="kommunale-tjenester-200")
    records = [a_service(f"GER-{i}", p) for i, p in enumerate(everyone)]
    assert push(pilots, "1804", *records).json()["created"] == 200
    with caplog.at_level(logging.DEBUG, logger="journalloft.sql"):
        found = results(pilots, "bodo-legevakt", *everyone)
    selects = selects_from(caplog, "kommunal_tjeneste")
    assert [r["patient"] for r in found] == everyone
    assert len(selects) == 1, selects


def test_demo_records_are_accepted_by_the_platform(pilots: TestPlatform) -> None:
    everyone = people(25, seed="kommunale-tjenester-demo")
    records = spec.demo_records(rng=random.Random(1804), patients=everyone, now=NOW)
    response = push(pilots, "1804", *records)
    assert response.status_code == 200, response.text
    found = results(pilots, "bodo-legevakt", *everyone, include_ended=True)
    assert {r["patient"] for r in found} == set(everyone)
    for entry in found:
        assert pilots.runtime.schemas.errors(entry, spec.result_schema) == []


def test_openapi_describes_the_service_with_its_schemas(pilots: TestPlatform) -> None:
    document = pilots.client.get("/openapi.json").json()
    assert f"/v1/{SERVICE}/query" in document["paths"]
    assert f"/v1/tenants/{{kommunenummer}}/{SERVICE}/records" in document["paths"]
    assert any("kommunale_tjenester" in name for name in document["components"]["schemas"])
