"""No health data and no person id in the log: every operation, refusals and forced server errors
included, run with a known person id and a known sensitive description in the input."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from sqlalchemy import text

from journalloft.platform.observability.logs import JsonFormatter, SafeFormatter
from journalloft.platform.operations import sharing
from support import people
from support.platform import TestPlatform
from support.security import an_hour_ago

PERSON = people(1, seed="log-hygiene")[0]
SECRET = "Palliativ pleie etter hjerneslag, ruskartlegging pågår"
AT = an_hour_ago()


def service_record(record_id: str) -> dict[str, Any]:
    return {
        "id": record_id,
        "patient": PERSON,
        "updated": AT,
        "service_code": "015",
        "description": SECRET,
        "unit": {"name": "Hjemmetjenesten", "phone": "+47 75 55 00 00"},
        "start": "2026-01-05",
        "temporary_cessation": False,
    }


def every_operation(platform: TestPlatform, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    epj, lv, drift = (platform.headers(c) for c in ("bodo-epj", "bodo-legevakt", "bodo-drift"))
    records = "/v1/tenants/1804/kommunale-tjenester/records"
    calls: list[Any] = [
        lambda: platform.client.post(
            records, json={"records": [service_record(f"kt-{PERSON}")]}, headers=epj
        ),
        lambda: platform.client.post(
            "/v1/tenants/1804/news2/records",
            json={
                "records": [
                    {"id": PERSON, "patient": PERSON, "updated": AT, "effective": AT}
                    | {"spo2_scale": 1, "pulse": 80}
                ]
            },
            headers=[
                *((k.encode(), v.encode()) for k, v in epj.items()),
                (b"correlation-id", PERSON.encode()),
                (b"X-EPJ-System", SECRET.encode()),
            ],
        ),
        lambda: platform.client.post(
            "/v1/kommunale-tjenester/query", json={"patients": [PERSON]}, headers=lv
        ),
        lambda: platform.client.post("/v1/news2/query", json={"patients": [PERSON]}, headers=lv),
        lambda: platform.client.post(
            "/v1/tenants/1804/audit/query", json={"patient": PERSON}, headers=drift
        ),
        lambda: platform.client.get(f"/v1/tenants/1804/audit/events?since={PERSON}", headers=drift),
        lambda: platform.client.put(
            "/v1/tenants/1804/restrictions",
            json={"patient": PERSON, "restricted": False},
            headers=drift,
        ),
        # refusals: bad input, no token, no grant, unknown record
        lambda: platform.client.post(
            records,
            json={"records": [{**service_record("bad"), "service_code": SECRET}]},
            headers=epj,
        ),
        lambda: platform.client.post(records, content=f'{{"{PERSON}": "{SECRET}"', headers=epj),
        lambda: platform.client.post("/v1/news2/query", json={"patients": [PERSON]}),
        lambda: platform.client.post(
            "/v1/news2/query", json={"patients": [PERSON], "kommuner": ["3201"]}, headers=lv
        ),
        lambda: platform.client.delete(f"{records}/{PERSON}-{SECRET}", headers=epj),
        lambda: platform.client.delete(f"{records}/kt-{PERSON}", headers=epj),
        lambda: platform.client.get(f"/v1/{PERSON}/{SECRET}"),
    ]
    statuses = [call().status_code for call in calls]

    def failing_store(connection: Any, table: Any, *, source: str, rows: Any) -> Any:
        # a server error whose text carries the rows, and a SQL error with bound parameters
        connection.execute(text("INSERT INTO no_such_table VALUES (:d)"), {"d": SECRET})
        raise AssertionError("unreachable")

    monkeypatch.setattr(sharing, "upsert_records", failing_store)
    statuses.append(
        platform.client.post(
            records, json={"records": [service_record("boom")]}, headers=epj
        ).status_code
    )

    def crash(connection: Any, table: Any, *, source: str, rows: Any) -> Any:
        raise ValueError(f"cannot store {rows}")

    monkeypatch.setattr(sharing, "upsert_records", crash)
    statuses.append(
        platform.client.post(
            records, json={"records": [service_record("crash")]}, headers=epj
        ).status_code
    )
    return statuses


def test_no_person_id_or_health_data_reaches_the_log(
    platform: TestPlatform, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    statuses = every_operation(platform, monkeypatch)
    assert statuses[:7] == [200, 200, 200, 200, 200, 422, 200], statuses
    assert statuses[-1] == 500, statuses
    assert statuses[-2] >= 500, statuses
    text = SafeFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    as_json = JsonFormatter()
    assert caplog.records, "the access log wrote nothing"
    errors = [r for r in caplog.records if r.name == "journalloft.error"]
    assert errors, "the forced server errors were not logged"
    # the test's own HTTP client (httpx) logs the URLs it calls; everything else is the server's
    for record in (r for r in caplog.records if not r.name.startswith("httpx")):
        assert "\n" not in as_json.format(record)  # one object a line, whatever the message
        for line in (text.format(record), as_json.format(record)):
            for secret in (PERSON, SECRET, SECRET.split()[0]):
                assert secret not in line, line
                assert json.dumps(secret)[1:-1] not in line, line
    entries = [
        json.loads(as_json.format(r)) for r in caplog.records if r.name == "journalloft.access"
    ]
    ingest = "/v1/tenants/{kommunenummer}/kommunale-tjenester/records"
    pushed = next(e for e in entries if e["route"] == ingest and e["status"] == 200)
    assert pushed["municipality"] == "1804"
    assert pushed["client"] == "bodo-epj"
    assert pushed["level"] == "INFO"
    assert pushed["method"] == "POST"
    assert isinstance(pushed["duration_ms"], float)
    assert pushed["time"].endswith("+00:00")
    assert len(pushed["correlation_id"]) == 36
    assert all("correlation_id" in e and "route" in e and "status" in e for e in entries)
    crashed = [json.loads(as_json.format(r)) for r in errors]
    assert all("correlation_id" in e for e in crashed), crashed
    access = [r.getMessage() for r in caplog.records if r.name == "journalloft.access"]
    assert any(
        "/v1/tenants/{kommunenummer}/kommunale-tjenester/records/{record_id" in a for a in access
    )
