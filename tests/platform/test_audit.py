"""The audit log: complete (every read and write, nothing else), the review feed with its stable
cursor, 503 when the log cannot be written, and retention."""

from __future__ import annotations

import base64
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from journalloft.platform.audit.log import FEED_DELAY_SECONDS
from journalloft.platform.core.tenancy import tenant_schema_name
from journalloft.platform.operations.retention import PurgeResult, purge_all
from support import SERVICES, people, sample_record, tenant_document
from support.platform import Backend, TestPlatform, start_platform
from support.security import read_feed

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
AT = "2026-11-22T02:00:00+00:00"
PERSON_ID = re.compile(r"[0-9]{11}")


@pytest.fixture(scope="module")
def platform(
    module_backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestPlatform]:
    for platform in start_platform(module_backend, tmp_path_factory.mktemp("audit")):
        for kommunenummer in ("1804", "3201", "4601", "4602", "4603"):
            platform.onboard(tenant_document(kommunenummer))
        platform.onboard(tenant_document("4604", policy={"audit_retention_years": 10}))
        yield platform


@pytest.fixture(autouse=True)
def clock(platform: TestPlatform) -> Iterator[None]:
    original = platform.runtime.clock
    platform.set_now(NOW)
    yield
    platform.runtime.clock = original


def measurement(record_id: str, patient: str) -> dict[str, Any]:
    return {"id": record_id, "patient": patient, "updated": AT, "effective": AT, "spo2_scale": 1}


def service(record_id: str, patient: str) -> dict[str, Any]:
    return {
        "id": record_id,
        "patient": patient,
        "updated": AT,
        "service_code": "15",
        "start": "2026-01-05",
        "temporary_cessation": False,
    }


def post(platform: TestPlatform, path: str, body: Any, client: str, **headers: str) -> Any:
    return platform.client.post(path, json=body, headers=platform.headers(client, **headers))


def test_every_read_and_write_is_in_the_log_and_nothing_else(platform: TestPlatform) -> None:
    alice, bob, carl = people(3, seed="audit-completeness")
    epj, legevakt, drift = "k4601-epj", "k4601-legevakt", "k4601-drift"
    news2, kt = "/v1/tenants/4601/news2/records", "/v1/tenants/4601/kommunale-tjenester/records"
    records = [measurement("n-1", alice), measurement("n-2", alice), measurement("n-3", bob)]
    ok = [
        post(platform, news2, {"records": records}, epj, **{"X-EPJ-System": "Gerica/9.1"}),
        post(platform, kt, {"records": [service("k-1", alice)]}, epj),
        post(
            platform,
            "/v1/news2/query",
            {"patients": [alice, bob, carl]},
            legevakt,
            **{"correlation-id": "lv-query-1"},
        ),
        post(platform, "/v1/kommunale-tjenester/query", {"patients": [alice]}, legevakt),
        platform.client.delete(f"{news2}/n-3", headers=platform.headers(epj)),
        platform.client.put(
            "/v1/tenants/4601/restrictions",
            json={"patient": carl, "restricted": True},
            headers=platform.headers(drift),
        ),
        post(platform, "/v1/news2/query", {"patients": [carl]}, legevakt),
        post(platform, "/v1/tenants/4601/audit/query", {"patient": alice}, drift),
    ]
    assert [r.status_code for r in ok] == [200, 200, 200, 200, 204, 200, 200, 200]
    refused = [
        platform.client.delete(f"{news2}/none", headers=platform.headers(epj)),
        post(platform, news2, {"records": records}, legevakt),
        post(
            platform,
            "/v1/news2/query",
            {"patients": [alice], "kommuner": ["4601"]},
            "bodo-legevakt",
        ),
        post(platform, "/v1/news2/query", {"patients": [alice, "12345678901"]}, legevakt),
        post(platform, news2, {"records": [{**records[0], "spo2": 140}]}, epj),
        platform.client.post("/v1/news2/query", json={"patients": [alice]}),
        post(platform, "/v1/tenants/4601/audit/query", {"patient": alice}, "bodo-drift"),
    ]
    assert [r.status_code for r in refused] == [404, 403, 403, 422, 422, 401, 403]

    events = read_feed(platform, "4601", drift)["events"]
    seen = Counter(
        (e["action"], e["service"], e["patient"], e["client_id"], e["result_count"], e["outcome"])
        for e in events
    )
    assert seen == Counter(
        [
            ("write", "news2", alice, epj, 2, "ok"),
            ("write", "news2", bob, epj, 1, "ok"),
            ("write", "kommunale-tjenester", alice, epj, 1, "ok"),
            ("read", "news2", alice, legevakt, 1, "ok"),
            ("read", "news2", bob, legevakt, 1, "ok"),
            ("read", "news2", carl, legevakt, 0, "ok"),
            ("read", "kommunale-tjenester", alice, legevakt, 1, "ok"),
            ("withdraw", "news2", bob, epj, 1, "ok"),
            ("restrict", None, carl, drift, 1, "ok"),
            ("read", "news2", carl, legevakt, 0, "restricted"),
            ("audit-read", None, alice, drift, 4, "ok"),
            # what became of each push, for the usage report: no person in them
            ("push", "news2", None, epj, 3, "created"),
            ("push", "kommunale-tjenester", None, epj, 1, "created"),
            ("push-refused", "news2", None, epj, 1, "invalid-content"),
        ]
    )
    by_action = {(e["action"], e["service"], e["patient"]): e for e in events}
    assert by_action[("write", "news2", alice)]["epj_system"] == "Gerica/9.1"
    assert by_action[("write", "kommunale-tjenester", alice)]["epj_system"] is None
    assert by_action[("read", "news2", bob)]["correlation_id"] == "lv-query-1"
    assert by_action[("read", "news2", bob)]["organisasjonsnummer"] == "974760673"
    assert {datetime.fromisoformat(e["occurred_at"]) for e in events} == {NOW}


def test_the_review_feed_pages_with_a_stable_cursor_and_no_person_in_the_url(
    platform: TestPlatform,
) -> None:
    patients = people(9, seed="audit-feed")
    for minute, patient in enumerate(patients[:7], 1):
        platform.set_now(NOW + timedelta(minutes=minute))
        post(platform, "/v1/news2/query", {"patients": [patient]}, "k4602-legevakt")
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 3}
        params |= {"cursor": cursor} if cursor else {"since": NOW.isoformat()}
        page = read_feed(platform, "4602", "k4602-drift", **params)
        pages.append(page)
        cursor = page["next_cursor"]
        assert not PERSON_ID.search(base64.urlsafe_b64decode(cursor + "==").decode())
        if not page["more"]:
            break
    assert [len(p["events"]) for p in pages] == [3, 3, 1]
    assert [e["patient"] for p in pages for e in p["events"]] == patients[:7]

    again = read_feed(platform, "4602", "k4602-drift", cursor=pages[0]["next_cursor"], limit=3)
    assert again["events"] == pages[1]["events"]

    for minute, patient in enumerate(patients[7:], 20):
        platform.set_now(NOW + timedelta(minutes=minute))
        post(platform, "/v1/news2/query", {"patients": [patient]}, "k4602-legevakt")
    newer = read_feed(platform, "4602", "k4602-drift", cursor=cursor)
    reads = [e["patient"] for e in newer["events"] if e["action"] == "read"]
    assert reads == patients[7:]
    feed_reads = [e for e in newer["events"] if e["action"] == "audit-feed"]
    assert len(feed_reads) == len(pages) + 1
    assert {e["patient"] for e in feed_reads} == {None}
    assert {e["client_id"] for e in feed_reads} == {"k4602-drift"}


def test_the_feed_shows_an_event_only_once_it_is_past_the_feed_delay(
    platform: TestPlatform,
) -> None:
    (eva,) = people(1, seed="audit-delay")
    post(platform, "/v1/news2/query", {"patients": [eva]}, "k4603-legevakt")

    def feed_at(seconds: int) -> list[Any]:
        platform.set_now(NOW + timedelta(seconds=seconds))
        response = platform.client.get(
            "/v1/tenants/4603/audit/events",
            params={"since": NOW.isoformat()},
            headers=platform.headers("k4603-drift"),
        )
        assert response.status_code == 200, response.text
        return [e["patient"] for e in response.json()["events"]]

    assert eva not in feed_at(FEED_DELAY_SECONDS - 1)
    assert eva in feed_at(FEED_DELAY_SECONDS)


def test_only_the_tenants_own_operators_read_the_feed(platform: TestPlatform) -> None:
    url = "/v1/tenants/1804/audit/events"
    assert platform.client.get(url, headers=platform.headers("bodo-legevakt")).status_code == 403
    assert platform.client.get(url, headers=platform.headers("baerum-drift")).status_code == 403
    assert platform.client.get(url).status_code == 401
    drift = platform.headers("bodo-drift")
    for params, pointer in (
        ({"cursor": "not-a-cursor"}, "/query/cursor"),
        ({"since": "2026-11-22T03:00:00"}, "/query/since"),
        ({"since": "yesterday"}, "/query/since"),
        ({"limit": 0}, "/query/limit"),
        ({"limit": 1001}, "/query/limit"),
    ):
        response = platform.client.get(url, params=params, headers=drift)
        assert response.status_code == 422, params
        assert pointer in {e["pointer"] for e in response.json()["errors"]}
    unencoded_plus = platform.client.get(f"{url}?since=2026-11-22T04:00:00+01:00", headers=drift)
    assert unencoded_plus.status_code == 200


def _rename_audit_table(platform: TestPlatform, kommunenummer: str, old: str, new: str) -> None:
    stores = platform.runtime.stores
    qualified = f"{tenant_schema_name(kommunenummer)}.{old}" if stores.postgres else old
    with stores.tenant_engine(kommunenummer).begin() as connection:
        connection.exec_driver_sql(f"ALTER TABLE {qualified} RENAME TO {new}")


def test_a_failing_audit_write_fails_the_request_and_stores_nothing(
    platform: TestPlatform,
) -> None:
    (eva,) = people(1, seed="audit-down")
    news2 = "/v1/tenants/3201/news2/records"
    pushed = post(platform, news2, {"records": [measurement("x", eva)]}, "baerum-epj")
    assert pushed.status_code == 200
    _rename_audit_table(platform, "3201", "audit_event", "audit_event_offline")
    try:
        write = post(
            platform,
            "/v1/tenants/3201/news2/records",
            {"records": [measurement("y", eva)]},
            "baerum-epj",
        )
        read = post(platform, "/v1/news2/query", {"patients": [eva]}, "baerum-legevakt")
        restriction = platform.client.put(
            "/v1/tenants/3201/restrictions",
            json={"patient": eva, "restricted": True},
            headers=platform.headers("baerum-drift"),
        )
    finally:
        _rename_audit_table(platform, "3201", "audit_event_offline", "audit_event")
    for response in (write, read, restriction):
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"]
        assert response.json()["title"] == "Audit log unavailable"
        assert eva not in response.text
    found = post(platform, "/v1/news2/query", {"patients": [eva]}, "baerum-legevakt").json()
    assert [m["id"] for m in found["results"][0]["measurements"]] == ["x"]
    assert "restricted" not in found["results"][0]
    trail = post(platform, "/v1/tenants/3201/audit/query", {"patient": eva}, "baerum-drift")
    assert [e["action"] for e in trail.json()["events"]] == ["read", "write"]


def test_audit_events_are_kept_five_years_unless_the_tenant_says_otherwise(
    platform: TestPlatform,
) -> None:
    (eva,) = people(1, seed="audit-retention")
    for years in (6, 4):
        platform.set_now(NOW.replace(year=NOW.year - years))
        for consumer in ("bodo-legevakt", "k4604-legevakt"):
            assert (
                post(platform, "/v1/news2/query", {"patients": [eva]}, consumer).status_code == 200
            )
    platform.set_now(NOW)
    results = purge_all(platform.runtime)
    assert PurgeResult("1804", "audit", 1) in results
    assert PurgeResult("4604", "audit", 0) in results
    for kommunenummer, operator, kept in (("1804", "bodo-drift", 1), ("4604", "k4604-drift", 2)):
        log = post(platform, f"/v1/tenants/{kommunenummer}/audit/query", {"patient": eva}, operator)
        read_years = [e["occurred_at"][:4] for e in log.json()["events"] if e["action"] == "read"]
        assert read_years == [str(NOW.year - 4), str(NOW.year - 6)][:kept]


@pytest.mark.parametrize("service", SERVICES)
def test_every_services_writes_reads_and_withdrawals_are_in_the_log(
    platform: TestPlatform, service: str
) -> None:
    alice, bob = people(2, seed=f"audit-every-{service}")
    records = f"/v1/tenants/4603/{service}/records"
    written = post(
        platform,
        records,
        {"records": [sample_record(service, f"{service}-{p}", p, at=AT) for p in (alice, bob)]},
        "k4603-epj",
    )
    assert written.status_code == 200, written.text
    read = post(platform, f"/v1/{service}/query", {"patients": [alice, bob]}, "k4603-legevakt")
    assert [r["patient"] for r in read.json()["results"]] == [alice, bob]
    withdrawn = platform.client.delete(
        f"{records}/{service}-{bob}", headers=platform.headers("k4603-epj")
    )
    assert withdrawn.status_code == 204
    post(platform, f"/v1/{service}/query", {"patients": [bob]}, "k4603-legevakt")
    trail = [
        (e["action"], e["service"], e["client_id"], e["result_count"], e["outcome"])
        for person in (alice, bob)
        for e in reversed(
            post(
                platform, "/v1/tenants/4603/audit/query", {"patient": person}, "k4603-drift"
            ).json()["events"]
        )
    ]
    assert trail == [
        ("write", service, "k4603-epj", 1, "ok"),
        ("read", service, "k4603-legevakt", 1, "ok"),
        ("write", service, "k4603-epj", 1, "ok"),
        ("read", service, "k4603-legevakt", 1, "ok"),
        ("withdraw", service, "k4603-epj", 1, "ok"),
        ("read", service, "k4603-legevakt", 0, "ok"),
    ]
