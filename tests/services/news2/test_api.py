"""NEWS2 over HTTP: journal systems push, legevakt boards query, tenants stay apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from journalloft.platform.operations.demo import seed_demo_data
from journalloft.platform.operations.retention import purge_all
from journalloft.services.news2 import spec
from support import measurement as vital_signs
from support import people, tenant_document
from support.native import CONSUMERS, SOURCES, NativeApi
from support.platform import TestPlatform

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
ANNE, BJORN, CECILIE = people(3, seed="news2-api")
EPJ, LEGEVAKT = SOURCES, CONSUMERS
API = NativeApi("news2")
push, look_up = API.push, API.look_up


def measurement(
    record_id: str, patient: str = ANNE, *, ago: timedelta = timedelta(minutes=10), **fields: Any
) -> dict[str, Any]:
    """A complete set of vital signs scoring 0, measured ``ago`` before NOW."""
    return vital_signs(
        record_id,
        patient,
        at=(NOW - ago).isoformat(),
        recorded_by={"name": "Kari Nordmann", "hpr": "1234567"},
        location="Hjemmesykepleien sone nord",
        **fields,
    )


def board(platform: TestPlatform, client: str, *patients: str, **options: Any) -> list[Any]:
    response = look_up(platform, client, *patients, **options)
    assert response.status_code == 200, response.text
    results: list[Any] = response.json()["results"]
    return results


def errors(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return {e["pointer"]: e["message"] for e in response.json()["errors"]}


@pytest.fixture
def pilots(platform: TestPlatform) -> TestPlatform:
    platform.set_now(NOW)
    return platform


def test_a_pushed_series_reaches_the_board_scored_with_its_trend(pilots: TestPlatform) -> None:
    response = push(
        pilots,
        "1804",
        measurement("m-1", ago=timedelta(hours=20)),
        measurement("m-2", ago=timedelta(hours=8), pulse=95, total_score=1),
        measurement(
            "m-3", ago=timedelta(minutes=15), pulse=135, respiration_rate=26, temperature=38.5
        ),
    )
    assert response.json() == {
        "received": 3,
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "stale": 0,
    }
    [result] = board(pilots, "bodo-legevakt", ANNE, BJORN)
    assert (result["patient"], result["kommunenummer"]) == (ANNE, "1804")
    assert [m["id"] for m in result["measurements"]] == ["m-3", "m-2", "m-1"]
    assert result["latest"] == result["measurements"][0]
    assert result["latest"]["score"] == {
        "total": 7,
        "risk": "high",
        "complete": True,
        "parameters": {
            "respiration_rate": 3,
            "spo2": 0,
            "air_or_oxygen": 0,
            "systolic_bp": 0,
            "pulse": 3,
            "consciousness": 0,
            "temperature": 1,
        },
    }
    assert result["trend"] == {"previous_total": 1, "change": "rising"}
    assert result["latest"]["recorded_by"] == {"name": "Kari Nordmann", "hpr": "1234567"}
    assert pilots.runtime.schemas.errors(result, spec.result_schema) == []


def test_hours_narrows_or_widens_the_window(pilots: TestPlatform) -> None:
    push(
        pilots,
        "1804",
        measurement("recent", ago=timedelta(hours=2)),
        measurement("yesterday", ago=timedelta(hours=30)),
        measurement("last-week", ago=timedelta(days=6)),
    )
    ids = [m["id"] for m in board(pilots, "bodo-legevakt", ANNE)[0]["measurements"]]
    assert ids == ["recent", "yesterday"]
    day = board(pilots, "bodo-legevakt", ANNE, hours=24)[0]
    assert [m["id"] for m in day["measurements"]] == ["recent"]
    assert day["trend"] is None
    month = board(pilots, "bodo-legevakt", ANNE, hours=720)[0]
    assert len(month["measurements"]) == 3


@pytest.mark.parametrize("hours", [0, 721, "24", 2.5])
def test_hours_outside_1_to_720_is_refused(pilots: TestPlatform, hours: Any) -> None:
    assert "/hours" in errors(look_up(pilots, "bodo-legevakt", ANNE, hours=hours))


def test_an_unknown_query_option_is_refused(pilots: TestPlatform) -> None:
    assert errors(look_up(pilots, "bodo-legevakt", ANNE, days=3)) == {"/days": "is not allowed"}


def test_an_incomplete_set_is_shown_as_incomplete(pilots: TestPlatform) -> None:
    push(pilots, "1804", measurement("m-1", temperature=None, consciousness=None, total_score=0))
    score = board(pilots, "bodo-legevakt", ANNE)[0]["latest"]["score"]
    assert (score["total"], score["risk"], score["complete"]) == (0, None, False)
    assert score["parameters"]["temperature"] is None


@pytest.mark.parametrize(
    ("bad", "pointer"),
    [
        ({"spo2": 140}, "/records/1/spo2"),
        ({"pulse": 0}, "/records/1/pulse"),
        ({"temperature": 50.5}, "/records/1/temperature"),
        ({"consciousness": "X"}, "/records/1/consciousness"),
        ({"spo2_scale": 3}, "/records/1/spo2_scale"),
        ({"effective": (NOW + timedelta(minutes=6)).isoformat()}, "/records/1/effective"),
        ({"total_score": 4}, "/records/1/total_score"),
    ],
)
def test_one_bad_record_rejects_the_whole_batch(
    pilots: TestPlatform, bad: dict[str, Any], pointer: str
) -> None:
    response = push(pilots, "1804", measurement("good"), measurement("bad", **bad))
    assert list(errors(response)) == [pointer]
    assert board(pilots, "bodo-legevakt", ANNE) == []
    assert push(pilots, "1804", measurement("good")).json()["created"] == 1


def test_every_invalid_record_of_a_batch_is_listed(pilots: TestPlatform) -> None:
    response = push(
        pilots,
        "1804",
        measurement("good"),
        measurement("impossible", BJORN, respiration_rate=95),
        measurement("future", ago=-timedelta(hours=1)),
        measurement("disagrees", CECILIE, pulse=135, total_score=2),
    )
    found = errors(response)
    assert set(found) == {
        "/records/1/respiration_rate",
        "/records/2/effective",
        "/records/2/updated",
        "/records/3/total_score",
    }
    assert "at most 80" in found["/records/1/respiration_rate"]
    assert "future" in found["/records/2/effective"]
    assert "future" in found["/records/2/updated"]
    assert "source's total 2" in found["/records/3/total_score"]
    assert "NEWS2 total 3" in found["/records/3/total_score"]
    assert board(pilots, "bodo-legevakt", ANNE, BJORN, CECILIE) == []


def test_five_minutes_of_clock_skew_are_allowed(pilots: TestPlatform) -> None:
    response = push(pilots, "1804", measurement("ahead", ago=-timedelta(minutes=5)))
    assert response.status_code == 200
    assert board(pilots, "bodo-legevakt", ANNE)[0]["latest"]["id"] == "ahead"


def test_a_withdrawn_measurement_leaves_the_board(pilots: TestPlatform) -> None:
    push(
        pilots,
        "1804",
        measurement("m-1", ago=timedelta(hours=3)),
        measurement("m-2", pulse=135),
    )
    assert board(pilots, "bodo-legevakt", ANNE)[0]["trend"]["change"] == "rising"
    withdrawn = pilots.client.delete(
        "/v1/tenants/1804/news2/records/m-2", headers=pilots.headers("bodo-epj")
    )
    assert withdrawn.status_code == 204
    result = board(pilots, "bodo-legevakt", ANNE)[0]
    assert [m["id"] for m in result["measurements"]] == ["m-1"]
    assert result["trend"] is None


def test_two_tenants_never_see_each_others_measurements(pilots: TestPlatform) -> None:
    """The same person and the same record id in Bodø and Bærum, over every endpoint."""
    push(pilots, "1804", measurement("shared-id", ANNE, pulse=95))
    push(pilots, "3201", measurement("shared-id", ANNE, pulse=135), measurement("b-2", BJORN))

    bodo = board(pilots, "bodo-legevakt", ANNE, BJORN)
    baerum = board(pilots, "baerum-legevakt", ANNE, BJORN)
    assert [(r["patient"], r["kommunenummer"]) for r in bodo] == [(ANNE, "1804")]
    assert [r["latest"]["pulse"] for r in bodo] == [95]
    assert [(r["patient"], r["kommunenummer"]) for r in baerum] == [(ANNE, "3201"), (BJORN, "3201")]
    assert baerum[0]["latest"]["pulse"] == 135

    asks_other = look_up(pilots, "bodo-legevakt", ANNE, kommuner=["3201"])
    assert asks_other.status_code == 403
    writes_other = pilots.client.post(
        "/v1/tenants/3201/news2/records",
        json={"records": [measurement("intruder", BJORN)]},
        headers=pilots.headers("bodo-epj"),
    )
    assert writes_other.status_code == 403
    withdraws_other = pilots.client.delete(
        "/v1/tenants/3201/news2/records/b-2", headers=pilots.headers("bodo-epj")
    )
    assert withdraws_other.status_code == 403
    own_tenant_only = pilots.client.delete(
        "/v1/tenants/1804/news2/records/b-2", headers=pilots.headers("bodo-epj")
    )
    assert own_tenant_only.status_code == 404
    withdrawn = pilots.client.delete(
        "/v1/tenants/1804/news2/records/shared-id", headers=pilots.headers("bodo-epj")
    )
    assert withdrawn.status_code == 204
    assert board(pilots, "bodo-legevakt", ANNE) == []
    assert [r["patient"] for r in board(pilots, "baerum-legevakt", ANNE, BJORN)] == [ANNE, BJORN]

    reads_other_log = pilots.client.post(
        "/v1/tenants/3201/audit/query", json={"patient": ANNE}, headers=pilots.headers("bodo-drift")
    )
    assert reads_other_log.status_code == 403
    baerum_log = pilots.client.post(
        "/v1/tenants/3201/audit/query",
        json={"patient": ANNE},
        headers=pilots.headers("baerum-drift"),
    ).json()["events"]
    assert {e["client_id"] for e in baerum_log} == {"baerum-epj", "baerum-legevakt"}


def test_purge_follows_each_tenants_retention(pilots: TestPlatform) -> None:
    pilots.onboard(tenant_document("1804", services={"news2": {"retention_days": 7}}))
    for kommunenummer in ("1804", "3201"):
        push(
            pilots,
            kommunenummer,
            measurement("fresh", ago=timedelta(days=2)),
            measurement("ten-days", ago=timedelta(days=10)),
            measurement("two-months", ago=timedelta(days=60)),
        )
    deleted = {(r.kommunenummer, r.service): r.deleted for r in purge_all(pilots.runtime)}
    assert deleted[("1804", "news2")] == 2
    assert deleted[("3201", "news2")] == 1
    bodo = board(pilots, "bodo-legevakt", ANNE, hours=720)[0]
    baerum = board(pilots, "baerum-legevakt", ANNE, hours=720)[0]
    assert [m["id"] for m in bodo["measurements"]] == ["fresh"]
    assert [m["id"] for m in baerum["measurements"]] == ["fresh", "ten-days"]


def test_demo_data_goes_through_ingest_and_shows_deterioration(pilots: TestPlatform) -> None:
    seeded = seed_demo_data(pilots.runtime, people=5)
    results = board(pilots, "bodo-legevakt", *seeded["1804"])
    assert len(results) == 5
    risks = {r["latest"]["score"]["risk"] for r in results}
    assert {"high", "medium"} <= risks
    assert any(r["latest"]["spo2_scale"] == 2 for r in results)
    assert any(not r["latest"]["score"]["complete"] for r in results)


def test_openapi_describes_news2_with_its_schemas(pilots: TestPlatform) -> None:
    document = pilots.client.get("/openapi.json").json()
    assert "/v1/tenants/{kommunenummer}/news2/records" in document["paths"]
    assert "/v1/news2/query" in document["paths"]
    assert "news2.v1.record" in document["components"]["schemas"]
