"""``GET /metrics``: who may read it, what it counts, and that no label is a person id or a string
a client chose."""

from __future__ import annotations

from typing import Any

import pytest
from joserfc.jwk import ECKey
from prometheus_client.parser import text_string_to_metric_families

from journalloft.platform.auth.clients import add_key, register_client
from support import people
from support.platform import TestPlatform
from support.security import an_hour_ago

PEOPLE = people(2, seed="metrics")
AT = an_hour_ago()
RECORDS = "/v1/tenants/1804/kommunale-tjenester/records"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def service_record(record_id: str, patient: str) -> dict[str, Any]:
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


def with_admin(platform: TestPlatform) -> dict[str, str]:
    key = ECKey.generate_key("P-256", auto_kid=True)
    with platform.runtime.stores.platform_engine.begin() as connection:
        register_client(connection, client_id="ops", name="ops", admin=True)
        add_key(connection, client_id="ops", jwk=key.as_dict(private=False))
    platform.keys["ops"] = key
    return platform.headers("ops")


def scrape(platform: TestPlatform, headers: dict[str, str]) -> tuple[str, Samples]:
    response = platform.client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return response.text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def test_metrics_need_the_metrics_scope(platform: TestPlatform) -> None:
    assert platform.client.get("/metrics").status_code == 401
    drift = platform.client.get("/metrics", headers=platform.headers("bodo-drift"))
    assert drift.status_code == 403
    admin = with_admin(platform)
    assert platform.client.get("/metrics", headers=admin).status_code == 200


def test_metrics_count_requests_records_lookups_audit_and_refusals(
    platform: TestPlatform,
) -> None:
    admin = with_admin(platform)
    _, before = scrape(platform, admin)
    epj = platform.headers("bodo-epj")
    batch = {"records": [service_record(f"kt-{i}", PEOPLE[i % 2]) for i in range(3)]}
    assert platform.client.post(RECORDS, json=batch, headers=epj).status_code == 200
    assert platform.client.post(RECORDS, json=batch, headers=epj).status_code == 200
    looked = platform.client.post(
        "/v1/kommunale-tjenester/query",
        json={"patients": PEOPLE, "kommuner": ["1804"]},
        headers=platform.headers("bodo-legevakt"),
    )
    assert looked.status_code == 200, looked.text
    refused = platform.client.post(
        "/v1/news2/query",
        json={"patients": PEOPLE},
        headers={"Authorization": "Bearer not-a-token"},
    )
    assert refused.status_code == 401
    unknown = platform.client.get(f"/v1/{PEOPLE[0]}", headers={"correlation-id": "probe"})
    assert unknown.status_code == 404
    text, after = scrape(platform, admin)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    service = {"service": "kommunale-tjenester", "kommunenummer": "1804"}
    assert delta("journalloft_records_total", **service, outcome="created") == 3
    assert delta("journalloft_records_total", **service, outcome="unchanged") == 3
    assert delta("journalloft_ingest_batches_total", **service) == 2
    assert delta("journalloft_lookups_total", **service) == 1
    assert delta("journalloft_patients_looked_up_total", **service) == 2
    assert delta("journalloft_audit_events_written_total", action="write") == 4
    assert delta("journalloft_audit_events_written_total", action="read") == 2
    assert delta("journalloft_auth_refusals_total", reason="invalid_token") == 1
    route = "/v1/tenants/{kommunenummer}/kommunale-tjenester/records"
    assert delta("journalloft_http_requests_total", route=route, method="POST", status="200") == 2
    assert delta("journalloft_http_requests_total", route="(no route)", method="GET", status="404")
    durations = "journalloft_http_request_duration_seconds_count"
    assert delta(durations, route=route, method="POST") == 2
    group = "journalloft_audit_group_commit_size_count"
    assert total(after, group) - total(before, group) >= 1
    assert ("journalloft_db_pool_in_use", frozenset()) not in after
    assert any(name == "journalloft_db_pool_in_use" for name, _ in after)
    for person in PEOPLE:
        assert person not in text
    assert "probe" not in text


def test_rate_limit_refusals_are_counted_by_municipality(empty_platform: TestPlatform) -> None:
    from support import tenant_document

    empty_platform.onboard(tenant_document("1804", policy={"rate_limit_per_minute": 1}))
    admin = with_admin(empty_platform)
    _, before = scrape(empty_platform, admin)
    epj = empty_platform.headers("bodo-epj")
    batch = {"records": [service_record("kt-rate", PEOPLE[0])]}
    statuses = [
        empty_platform.client.post(RECORDS, json=batch, headers=epj).status_code for _ in range(3)
    ]
    assert statuses[0] == 200
    assert 429 in statuses
    _, after = scrape(empty_platform, admin)
    name = "journalloft_rate_limit_refusals_total"
    refusals = value(after, name, kommunenummer="1804") - value(before, name, kommunenummer="1804")
    assert refusals == statuses.count(429)


def test_a_failed_audit_write_is_counted_and_no_data_leaves(
    platform: TestPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = with_admin(platform)
    epj = platform.headers("bodo-epj")
    batch = {"records": [service_record("kt-audit", PEOPLE[0])]}
    assert platform.client.post(RECORDS, json=batch, headers=epj).status_code == 200
    _, before = scrape(platform, admin)

    async def refuse(group: str, parts: Any) -> None:
        raise OSError("the audit table is gone")

    monkeypatch.setattr(platform.runtime.query_path, "_write", refuse)
    looked = platform.client.post(
        "/v1/kommunale-tjenester/query",
        json={"patients": PEOPLE[:1], "kommuner": ["1804"]},
        headers=platform.headers("bodo-legevakt"),
    )
    assert looked.status_code == 503, looked.text
    assert PEOPLE[0] not in looked.text
    monkeypatch.undo()
    _, after = scrape(platform, admin)
    name = "journalloft_audit_write_failures_total"
    assert value(after, name) - value(before, name) == 1
    lookups = "journalloft_lookups_total"
    labels = {"service": "kommunale-tjenester", "kommunenummer": "1804"}
    assert value(after, lookups, **labels) == value(before, lookups, **labels)
