"""The platform's generic behaviour over HTTP, with NEWS2 records as the vehicle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from support import SERVICES, people, tenant_document
from support.platform import Backend, TestPlatform, start_platform

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
ALICE, BOB, CARL = people(3, seed="platform-api")
PROBLEM = "application/problem+json"


def measurement(
    record_id: str = "m-1", patient: str = ALICE, *, minutes_ago: int = 10, **fields: Any
) -> dict[str, Any]:
    at = (NOW - timedelta(minutes=minutes_ago)).isoformat()
    record = {
        "id": record_id,
        "patient": patient,
        "updated": at,
        "effective": at,
        "respiration_rate": 18,
        "spo2": 97,
        "spo2_scale": 1,
        "supplemental_oxygen": False,
        "systolic_bp": 120,
        "pulse": 80,
        "consciousness": "A",
        "temperature": 37.0,
    }
    record.update(fields)
    return record


def push(
    platform: TestPlatform, kommunenummer: str, *records: dict[str, Any], client: str = ""
) -> Any:
    client = client or {"1804": "bodo-epj", "3201": "baerum-epj"}[kommunenummer]
    return platform.client.post(
        f"/v1/tenants/{kommunenummer}/news2/records",
        json={"records": list(records)},
        headers=platform.headers(client),
    )


def look_up(platform: TestPlatform, client: str, *patients: str, **options: Any) -> Any:
    return platform.client.post(
        "/v1/news2/query",
        json={"patients": list(patients), **options},
        headers=platform.headers(client),
    )


@pytest.fixture
def pilots(platform: TestPlatform) -> TestPlatform:
    platform.set_now(NOW)
    return platform


def test_health_and_readiness_need_no_token(pilots: TestPlatform) -> None:
    assert pilots.client.get("/healthz").json() == {"status": "ok"}
    ready = pilots.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["tenant_1804"] == "ok"


def test_correlation_id_is_echoed_or_generated(pilots: TestPlatform) -> None:
    echoed = pilots.client.get("/healthz", headers={"correlation-id": "abc-123"})
    assert echoed.headers["correlation-id"] == "abc-123"
    generated = pilots.client.get("/healthz")
    assert len(generated.headers["correlation-id"]) == 36
    refused = pilots.client.get("/healthz", headers={"correlation-id": "bad id\twith spaces"})
    assert refused.headers["correlation-id"] != "bad id\twith spaces"
    assert "UUID" in refused.headers["correlation-id-replaced"]
    uuid_given = "6F9619FF-8B86-D011-B42D-00C04FC964FF"
    accepted = pilots.client.get("/healthz", headers={"correlation-id": uuid_given})
    assert accepted.headers["correlation-id"] == uuid_given.lower()
    assert "correlation-id-replaced" not in accepted.headers


@pytest.mark.parametrize(
    "given",
    [ALICE, f"trace-{ALICE}", "tel-75550000", "972418013", "x" * 65, "a/b", "a b"],
)
def test_a_correlation_id_that_could_hold_a_person_id_is_replaced(
    pilots: TestPlatform, given: str
) -> None:
    """A client's correlation id is logged and audited, so a person id, a phone number or an
    organisation number (any run of six digits) is never taken: a new id answers instead."""
    response = pilots.client.get("/healthz", headers={"correlation-id": given})
    assert response.headers["correlation-id"] != given
    assert len(response.headers["correlation-id"]) == 36
    assert response.headers["correlation-id-replaced"]


def test_missing_and_invalid_tokens_get_401_with_a_challenge(pilots: TestPlatform) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Basic x"}):
        response = pilots.client.post(
            "/v1/news2/query", json={"patients": [ALICE]}, headers=headers
        )
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["status"] == 401


def test_malformed_json_wrong_type_and_oversized_bodies(pilots: TestPlatform) -> None:
    url = "/v1/tenants/1804/news2/records"
    auth = pilots.headers("bodo-epj")
    malformed = pilots.client.post(
        url, content=b'{"records": [', headers={**auth, "content-type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.headers["content-type"] == PROBLEM
    wrong_type = pilots.client.post(
        url, content=b"records", headers={**auth, "content-type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    huge = b'{"records": [' + b" " * (5 * 1024 * 1024) + b"]}"
    too_large = pilots.client.post(
        url, content=huge, headers={**auth, "content-type": "application/json"}
    )
    assert too_large.status_code == 413
    assert too_large.json()["title"] == "Request body too large"


def test_unknown_tenant_service_and_route_are_404_problems(pilots: TestPlatform) -> None:
    auth = pilots.headers("bodo-epj")
    unknown_tenant = pilots.client.post(
        "/v1/tenants/9999/news2/records", json={"records": []}, headers=auth
    )
    assert unknown_tenant.status_code == 404
    assert unknown_tenant.json()["title"] == "Unknown tenant"
    unknown_service = pilots.client.post(
        "/v1/tenants/1804/news3/records", json={"records": []}, headers=auth
    )
    assert unknown_service.status_code == 404
    assert unknown_service.json()["title"] == "Unknown service"
    assert "news2" in unknown_service.json()["detail"]
    nothing = pilots.client.get("/v2/anything")
    assert nothing.status_code == 404
    assert nothing.headers["content-type"] == PROBLEM


def test_writing_a_service_the_tenant_has_not_adopted_is_refused(pilots: TestPlatform) -> None:
    pilots.onboard(tenant_document("5501", name="Tromsø kommune", organisasjonsnummer="940101808",
                                   services={"kommunale-tjenester": {}}))  # fmt: skip
    response = push(pilots, "5501", measurement(), client="k5501-epj")
    assert response.status_code == 403  # its source holds no news2:write scope at all
    kt = pilots.client.post(
        "/v1/tenants/5501/news2/records",
        json={"records": [measurement()]},
        headers=pilots.headers("bodo-epj"),
    )
    assert kt.status_code == 404
    assert kt.json()["title"] == "Service not enabled for this municipality"


def test_an_invalid_batch_stores_nothing_and_lists_every_error(pilots: TestPlatform) -> None:
    response = push(
        pilots,
        "1804",
        measurement("ok-1"),
        measurement("bad-1", spo2=140),
        measurement("bad-2", patient="12345678901"),
        {"id": "bad-3", "patient": ALICE, "updated": "yesterday", "spo2_scale": 1},
    )
    assert response.status_code == 422
    body = response.json()
    pointers = {e["pointer"] for e in body["errors"]}
    assert {"/records/1/spo2", "/records/2/patient", "/records/3/updated"} <= pointers
    assert "/records/3/effective" in pointers
    assert not any(p.startswith("/records/0") for p in pointers)
    assert look_up(pilots, "bodo-legevakt", ALICE).json() == {"results": []}


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({}, "/records"),
        ({"records": []}, "/records"),
        ({"records": [{}] * 1001}, "/records"),
        ({"records": "none"}, "/records"),
        ([], ""),
    ],
)
def test_the_envelope_is_checked(pilots: TestPlatform, body: Any, pointer: str) -> None:
    response = pilots.client.post(
        "/v1/tenants/1804/news2/records", json=body, headers=pilots.headers("bodo-epj")
    )
    assert response.status_code == 422
    assert pointer in {e["pointer"] for e in response.json()["errors"]}


def test_ingest_is_idempotent_and_ordered_by_updated(pilots: TestPlatform) -> None:
    first = push(pilots, "1804", measurement("m-1", minutes_ago=30), measurement("m-2"))
    assert first.json() == {"received": 2, "created": 2, "updated": 0, "unchanged": 0, "stale": 0}
    again = push(pilots, "1804", measurement("m-1", minutes_ago=30), measurement("m-2"))
    assert again.json() == {"received": 2, "created": 0, "updated": 0, "unchanged": 2, "stale": 0}
    newer = measurement("m-1", minutes_ago=30, pulse=131)
    newer["updated"] = (NOW - timedelta(minutes=5)).isoformat()
    older = measurement("m-2", minutes_ago=60, pulse=40)
    changed = push(pilots, "1804", newer, older)
    assert changed.json() == {"received": 2, "created": 0, "updated": 1, "unchanged": 0, "stale": 1}
    results = look_up(pilots, "bodo-legevakt", ALICE).json()["results"]
    pulses = {m["id"]: m["pulse"] for m in results[0]["measurements"]}
    assert pulses == {"m-1": 131, "m-2": 80}


def test_the_same_id_from_two_sources_is_two_records(pilots: TestPlatform) -> None:
    pilots.onboard(
        {
            **tenant_document("1804"),
            "sources": [
                {"client_id": "bodo-epj", "name": "EPJ", "services": ["news2"]},
                {"client_id": "bodo-epj2", "name": "EPJ 2", "services": ["news2"]},
            ],
        }
    )
    assert push(pilots, "1804", measurement("same")).json()["created"] == 1
    assert push(pilots, "1804", measurement("same"), client="bodo-epj2").json()["created"] == 1


def test_withdraw_removes_a_record_from_queries_for_its_own_source_only(
    pilots: TestPlatform,
) -> None:
    push(pilots, "1804", measurement("m-1"), measurement("m-2", minutes_ago=20))
    url = "/v1/tenants/1804/news2/records/m-1"
    assert pilots.client.delete(url, headers=pilots.headers("bodo-legevakt")).status_code == 403
    assert pilots.client.delete(url, headers=pilots.headers("bodo-epj")).status_code == 204
    assert pilots.client.delete(url, headers=pilots.headers("bodo-epj")).status_code == 404
    ids = [
        m["id"]
        for m in look_up(pilots, "bodo-legevakt", ALICE).json()["results"][0]["measurements"]
    ]
    assert ids == ["m-2"]
    replay = push(pilots, "1804", measurement("m-1"))
    assert replay.json()["stale"] == 1


@pytest.mark.parametrize("sent_as", ["2026/117", "2026%2F117"])
def test_a_record_id_with_a_slash_can_be_withdrawn(pilots: TestPlatform, sent_as: str) -> None:
    """Before: an id with "/" was stored but could never be withdrawn (404 either way)."""
    push(pilots, "1804", measurement("2026/117"))
    url = f"/v1/tenants/1804/news2/records/{sent_as}"
    assert pilots.client.delete(url, headers=pilots.headers("bodo-epj")).status_code == 204
    assert look_up(pilots, "bodo-legevakt", ALICE).json() == {"results": []}


def test_scopes_and_grants_decide_what_a_client_may_do(pilots: TestPlatform) -> None:
    push(pilots, "1804", measurement())
    reader_writes = pilots.client.post(
        "/v1/tenants/1804/news2/records",
        json={"records": [measurement()]},
        headers=pilots.headers("bodo-legevakt"),
    )
    assert reader_writes.status_code == 403
    assert reader_writes.json()["title"] == "Missing scope"
    foreign_source = push(pilots, "3201", measurement(), client="bodo-epj")
    assert foreign_source.status_code == 403
    foreign_tenant = look_up(pilots, "bodo-legevakt", ALICE, kommuner=["3201"])
    assert foreign_tenant.status_code == 403
    unknown = look_up(pilots, "bodo-legevakt", ALICE, kommuner=["9999"])
    assert unknown.status_code == 404
    scope_refused = pilots.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
    )
    assert scope_refused.status_code == 401


def test_tenants_never_see_each_others_data(pilots: TestPlatform) -> None:
    push(pilots, "1804", measurement("b-1", ALICE))
    push(pilots, "3201", measurement("b-1", BOB, pulse=140))
    bodo = look_up(pilots, "bodo-legevakt", ALICE, BOB).json()["results"]
    baerum = look_up(pilots, "baerum-legevakt", ALICE, BOB).json()["results"]
    assert [(r["patient"], r["kommunenummer"]) for r in bodo] == [(ALICE, "1804")]
    assert [(r["patient"], r["kommunenummer"]) for r in baerum] == [(BOB, "3201")]
    cross_withdraw = pilots.client.delete(
        "/v1/tenants/3201/news2/records/b-1", headers=pilots.headers("bodo-epj")
    )
    assert cross_withdraw.status_code == 403
    cross_audit = pilots.client.post(
        "/v1/tenants/3201/audit/query", json={"patient": BOB}, headers=pilots.headers("bodo-drift")
    )
    assert cross_audit.status_code == 403
    baerum_log = pilots.client.post(
        "/v1/tenants/3201/audit/query",
        json={"patient": ALICE},
        headers=pilots.headers("baerum-drift"),
    ).json()
    assert all(e["client_id"].startswith("baerum") for e in baerum_log["events"])


def test_a_consumer_granted_by_two_tenants_sees_both(pilots: TestPlatform) -> None:
    shared = {"client_id": "salten-legevakt", "name": "Salten", "services": ["news2"]}
    for kommunenummer in ("1804", "3201"):
        pilots.onboard(tenant_document(kommunenummer, extra_consumers=[shared]))
    push(pilots, "1804", measurement("x", ALICE))
    push(pilots, "3201", measurement("y", ALICE))
    results = look_up(pilots, "salten-legevakt", ALICE).json()["results"]
    assert [r["kommunenummer"] for r in results] == ["1804", "3201"]


def test_every_access_is_in_the_tenants_audit_log(pilots: TestPlatform) -> None:
    push(pilots, "1804", measurement())
    look_up(pilots, "bodo-legevakt", ALICE, BOB)
    log = pilots.client.post(
        "/v1/tenants/1804/audit/query",
        json={"patient": ALICE},
        headers=pilots.headers("bodo-drift", **{"X-EPJ-System": "Tavla/2.1"}),
    )
    assert log.status_code == 200
    events = log.json()["events"]
    assert [(e["action"], e["client_id"], e["result_count"]) for e in events] == [
        ("read", "bodo-legevakt", 1),
        ("write", "bodo-epj", 1),
    ]
    assert events[0]["organisasjonsnummer"] == "972418013"
    bob = pilots.client.post(
        "/v1/tenants/1804/audit/query", json={"patient": BOB}, headers=pilots.headers("bodo-drift")
    ).json()["events"]
    assert [(e["action"], e["result_count"]) for e in bob] == [("read", 0)]
    consumer_reads_log = pilots.client.post(
        "/v1/tenants/1804/audit/query",
        json={"patient": ALICE},
        headers=pilots.headers("bodo-legevakt"),
    )
    assert consumer_reads_log.status_code == 403


def test_the_admin_lists_tenants_and_no_one_else_may(pilots: TestPlatform) -> None:
    from joserfc.jwk import ECKey

    from journalloft.platform.auth.clients import add_key, register_client

    key = ECKey.generate_key("P-256", auto_kid=True)
    with pilots.runtime.stores.platform_engine.begin() as connection:
        register_client(connection, client_id="ops", name="ops", admin=True)
        add_key(connection, client_id="ops", jwk=key.as_dict(private=False))
    pilots.keys["ops"] = key
    listed = pilots.client.get("/v1/tenants", headers=pilots.headers("ops"))
    assert listed.status_code == 200
    assert [t["kommunenummer"] for t in listed.json()["tenants"]] == ["1804", "3201"]
    assert listed.json()["tenants"][0]["services"] == sorted(SERVICES)
    assert pilots.client.get("/v1/tenants", headers=pilots.headers("bodo-drift")).status_code == 403


def test_query_patients_are_checked(pilots: TestPlatform) -> None:
    response = look_up(pilots, "bodo-legevakt", ALICE, "12345678901", "abc")
    assert response.status_code == 422
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert "/patients/2" in pointers
    too_many = look_up(pilots, "bodo-legevakt", *people(201, seed="many"))
    assert too_many.status_code == 422
    checksum = look_up(pilots, "bodo-legevakt", ALICE, "12345678901")
    assert {e["pointer"] for e in checksum.json()["errors"]} == {"/patients/1"}


def test_production_refuses_synthetic_people(backend: Backend, tmp_path: Path) -> None:
    for strict in start_platform(backend, tmp_path, allow_synthetic_ids=False):
        strict.onboard(tenant_document("1804"))
        strict.set_now(NOW)
        response = push(strict, "1804", measurement())
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "/records/0/patient"


def test_the_access_log_names_no_person(
    pilots: TestPlatform, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="journalloft.access"):
        push(pilots, "1804", measurement())
        look_up(pilots, "bodo-legevakt", ALICE)
        push(pilots, "1804", measurement(spo2=140))
    lines = [r.getMessage() for r in caplog.records if r.name == "journalloft.access"]
    assert any("/v1/news2/query 200" in line and "client=bodo-legevakt" in line for line in lines)
    assert not any(ALICE in line for line in caplog.text.splitlines())
