"""The usage and data-quality report (issue 26): figures from the audit log and the stores, per
service, consumer organisation, day and hour in Norway; small-cell suppression; no person in any
format; the report's own reading audited; the API and the command line alike."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from journalloft.cli import main
from journalloft.platform.audit.log import AUDIT_EVENT
from journalloft.platform.audit.seal import canonical_event
from journalloft.platform.auth.tokens import ORGNR_PARENT
from journalloft.platform.core.settings import get_settings
from journalloft.platform.operations.usage_report import cell, rate
from support import SERVICES, people, tenant_document
from support.live import open_events, served_platform
from support.platform import REPO, Backend, TestPlatform, start_platform
from support.security import FakeHelseID

KT = "kommunale-tjenester"
NEWS2 = "news2"
BODO_ORGNR = "972418013"
NORDLANDSSYKEHUSET = "983974910"
"""Nordlandssykehuset HF, the health trust of Bodø's region (a public body's real
organisasjonsnummer; the people in these tests are synthetic)."""
TRUST_CLIENT = "nlsh-dips-helseid"
EVENING = datetime(2026, 11, 20, 19, 30, tzinfo=UTC)
"""20:30 in Bodø (CET, UTC+1) on Friday 20 November 2026."""
LATE = datetime(2026, 11, 20, 23, 0, tzinfo=UTC)
"""00:00 in Bodø on Saturday 21 November: a day later in Norway than in UTC."""
JUST_BEFORE = LATE - timedelta(minutes=1)
"""23:59 in Bodø on Friday 20 November."""
COVERED = people(7, seed="report-covered")
UNKNOWN = people(3, seed="report-unknown")
HOURS = (1, 2, 3, 4, 5, 6, 7)
"""The age in hours of the newest record of each covered person at :data:`EVENING`."""
PERSON_ID = re.compile(r"(?<![0-9])[0-9]{11}(?![0-9])")


def kt_record(record_id: str, patient: str, updated: datetime) -> dict[str, Any]:
    return {
        "id": record_id,
        "patient": patient,
        "updated": updated.isoformat(),
        "service_code": "6",
        "start": "2026-01-05",
        "description": "Fritekst som aldri skal i rapporten",
    }


def post(platform: TestPlatform, path: str, body: Any, client: str) -> Any:
    return platform.client.post(path, json=body, headers=platform.headers(client))


def report(platform: TestPlatform, client: str = "bodo-drift", **query: str) -> Any:
    return platform.client.get(
        "/v1/tenants/1804/report",
        params={"from": "2026-11-01", "to": "2026-11-30", **query},
        headers=platform.headers(client),
    )


@pytest.fixture(scope="module")
def helseid() -> FakeHelseID:
    return FakeHelseID()


@pytest.fixture(scope="module")
def platform(
    module_backend: Backend, tmp_path_factory: pytest.TempPathFactory, helseid: FakeHelseID
) -> Iterator[TestPlatform]:
    """Bodø with a specialist-care consumer: Nordlandssykehuset's system, a HelseID client
    (an external issuer), granted kommunale-tjenester only; and a week of traffic."""
    tmp = tmp_path_factory.mktemp("report")
    jwks = helseid.write_jwks(tmp / "helseid-jwks.json")
    for platform in start_platform(module_backend, tmp, trusted_issuers=[helseid.trusted(jwks)]):
        platform.onboard(
            tenant_document(
                "1804",
                extra_consumers=[
                    {"client_id": TRUST_CLIENT, "name": "Nordlandssykehuset", "services": [KT]}
                ],
            )
        )
        platform.onboard(tenant_document("3201"))
        traffic(platform, helseid)
        yield platform


def traffic(platform: TestPlatform, helseid: FakeHelseID) -> None:
    records = "/v1/tenants/1804/kommunale-tjenester/records"
    platform.set_now(EVENING - timedelta(hours=1))
    first = [
        kt_record(f"rec-{i}", p, EVENING - timedelta(hours=h))
        for i, (p, h) in enumerate(zip(COVERED, HOURS, strict=True))
    ]
    assert post(platform, records, {"records": first}, "bodo-epj").status_code == 200
    again = [
        first[0],  # unchanged
        {**first[1], "description": "endret"},  # the same updated, other content: updated
        kt_record("rec-2", COVERED[2], EVENING - timedelta(hours=9)),  # older: stale
    ]
    answer = post(platform, records, {"records": again}, "bodo-epj")
    assert answer.json() == {"received": 3, "created": 0, "updated": 1, "unchanged": 1, "stale": 1}
    refused = post(
        platform, records, {"records": [{**first[3], "service_code": "x"}, first[4]]}, "bodo-epj"
    )
    assert refused.status_code == 422
    withdrawn = platform.client.delete(f"{records}/rec-6", headers=platform.headers("bodo-epj"))
    assert withdrawn.status_code == 204

    platform.set_now(EVENING)
    # kommunale-tjenester: 5 people asked by the legevakt, 5 found (rec-6 is withdrawn: the
    # first five have data); news2: 4 people asked, none found
    asked = post(
        platform, "/v1/kommunale-tjenester/query", {"patients": COVERED[:5]}, "bodo-legevakt"
    )
    assert len(asked.json()["results"]) == 5
    asked = post(platform, "/v1/news2/query", {"patients": COVERED[:4]}, "bodo-legevakt")
    assert asked.json()["results"] == []
    # the health trust, through HelseID: its own organisation
    organisation: dict[str, Any] = {ORGNR_PARENT: NORDLANDSSYKEHUSET}
    token = helseid.token(TRUST_CLIENT, scope=[f"{KT}:read"], **organisation)
    for when, patients in ((JUST_BEFORE, COVERED[:3] + UNKNOWN[:2]), (LATE, UNKNOWN)):
        platform.set_now(when)
        found = platform.client.post(
            "/v1/kommunale-tjenester/query",
            json={"patients": patients},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert found.status_code == 200, found.text


@pytest.fixture
def now(platform: TestPlatform) -> datetime:
    moment = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    platform.set_now(moment)
    return moment


def by(rows: list[dict[str, Any]], **keys: Any) -> dict[str, Any]:
    [found] = [r for r in rows if all(r[k] == v for k, v in keys.items())]
    return found


def test_suppression_shows_1_to_4_as_less_than_5_and_5_as_it_is() -> None:
    assert [cell(n) for n in (0, 1, 4, 5, 6)] == [0, "<5", "<5", 5, 6]
    assert rate(5, 5) == 1.0
    assert rate(4, 10) is None  # a share of a suppressed count would tell it
    assert rate(0, 4) is None
    assert rate(0, 5) == 0.0
    assert rate(0, 0) is None


def test_lookups_per_service_and_consumer_organisation(platform: TestPlatform, now: Any) -> None:
    answer = report(platform)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["kommunenummer"], body["from"], body["to"]) == ("1804", "2026-11-01", "2026-11-30")
    kt = by(body["lookups"], service=KT)
    # 5 by the legevakt (5 found) + 5 then 3 by the trust (3 found): 13 lookups, 8 hits
    assert kt["lookups"] == 13
    assert kt["hits"] == 8
    assert kt["people"] == 8  # 5 covered people + 3 unknown
    assert kt["hit_rate"] == round(8 / 13, 4)
    assert (kt["restricted"], kt["break_the_glass"]) == (0, 0)
    news2 = by(body["lookups"], service=NEWS2)
    assert (news2["lookups"], news2["people"], news2["hits"]) == ("<5", "<5", 0)
    assert news2["hit_rate"] is None
    legevakt = by(body["consumers"], service=KT, organisasjonsnummer=BODO_ORGNR)
    assert (legevakt["lookups"], legevakt["people"], legevakt["hits"]) == (5, 5, 5)
    assert legevakt["hit_rate"] == 1.0
    trust = by(body["consumers"], service=KT, organisasjonsnummer=NORDLANDSSYKEHUSET)
    assert (trust["lookups"], trust["people"], trust["hits"]) == (8, 6, "<5")
    assert trust["hit_rate"] is None


def test_data_age_median_and_90th_percentile_per_service(platform: TestPlatform, now: Any) -> None:
    kt = by(report(platform).json()["lookups"], service=KT)
    # hits and their ages: legevakt at 20:30 for people aged 1–5 h; the trust at 23:59 for the
    # first three at 23:59 (3 h 29 min later)
    late = (JUST_BEFORE - EVENING).total_seconds()
    ages = sorted([h * 3600 for h in HOURS[:5]] + [int(h * 3600 + late) for h in HOURS[:3]])
    assert kt["data_age_lookups"] == 8
    assert kt["data_age_median_seconds"] == ages[3]  # nearest rank: ceil(0.5 · 8) = 4th
    assert kt["data_age_p90_seconds"] == ages[7]  # ceil(0.9 · 8) = 8th
    news2 = by(report(platform).json()["lookups"], service=NEWS2)
    assert news2["data_age_median_seconds"] is None


def test_per_day_and_hour_of_the_day_in_norway(platform: TestPlatform, now: Any) -> None:
    body = report(platform).json()
    friday = by(body["lookups_per_day"], date="2026-11-20", service=KT)
    saturday = by(body["lookups_per_day"], date="2026-11-21", service=KT)
    assert (friday["lookups"], friday["hits"]) == (10, 8)  # 20:30 and 23:59 in Bodø
    assert (saturday["lookups"], saturday["hits"]) == ("<5", 0)  # 00:00 in Bodø, 23:00 UTC
    assert by(body["lookups_per_day"], date="2026-11-19", service=KT)["lookups"] == 0
    hours = {e["hour"]: e["lookups"] for e in body["hour_profile"] if e["service"] == KT}
    assert (hours[20], hours[23], hours[0], hours[19], hours[22]) == (5, 5, "<5", 0, 0)
    assert len(body["lookups_per_day"]) == 30 * len(SERVICES)
    assert [e["hour"] for e in body["hour_profile"]] == [h for h in range(24) for _ in SERVICES]


def test_pushes_by_outcome_and_source_and_people_covered(platform: TestPlatform, now: Any) -> None:
    body = report(platform).json()
    pushes = by(body["pushes"], service=KT, source="bodo-epj")
    assert pushes == {
        "service": KT,
        "source": "bodo-epj",
        "created": 7,
        "updated": "<5",
        "unchanged": "<5",
        "stale": "<5",
        "withdrawn": "<5",
        "refused": {"invalid-content": "<5"},
    }
    day = by(body["pushes_per_day"], date="2026-11-20", service=KT)
    assert (day["created"], day["refused"], day["withdrawn"]) == (7, "<5", "<5")
    coverage = by(body["coverage"], service=KT)
    assert (coverage["people_now"], coverage["new_in_period"]) == (6, 7)
    assert by(coverage["new_per_day"], date="2026-11-20")["new"] == 7
    assert by(body["coverage"], service=NEWS2)["people_now"] == 0


def test_a_period_before_the_traffic_is_all_zeros(platform: TestPlatform, now: Any) -> None:
    body = report(platform, **{"from": "2026-10-01", "to": "2026-10-31"}).json()
    assert {e["lookups"] for e in body["lookups"]} == {0}
    assert body["pushes"] == []
    assert body["consumers"] == []
    assert by(body["coverage"], service=KT)["new_in_period"] == 0


def test_no_person_record_or_free_text_in_any_format(platform: TestPlatform, now: Any) -> None:
    texts = [
        report(platform).text,
        report(platform, format="csv").text,
        report(platform, format="html").text,
    ]
    for text in texts:
        assert not PERSON_ID.search(text)
        for person in COVERED + UNKNOWN:
            assert person not in text
        assert "rec-" not in text
        assert "Fritekst" not in text
        assert "endret" not in text
    rows = list(csv.reader(io.StringIO(texts[1])))
    assert rows[0] == [
        "section",
        "date",
        "hour",
        "service",
        "organisasjonsnummer",
        "source",
        "measure",
        "value",
    ]
    assert ["lookups", "", "", NEWS2, "", "", "lookups", "<5"] in rows
    assert ["consumers", "", "", KT, NORDLANDSSYKEHUSET, "", "lookups", "8"] in rows
    assert ["pushes", "", "", KT, "", "bodo-epj", "refused:invalid-content", "<5"] in rows


def test_only_the_municipalitys_operators_read_it_and_it_is_audited(
    platform: TestPlatform, now: datetime
) -> None:
    assert report(platform, "bodo-legevakt").status_code == 403
    assert report(platform, "baerum-drift").status_code == 403
    with platform.runtime.stores.tenant_engine("1804").connect() as connection:
        before = connection.execute(
            select(AUDIT_EVENT.c.client_id, AUDIT_EVENT.c.patient).where(
                AUDIT_EVENT.c.action == "usage-report"
            )
        ).all()
    assert report(platform, format="html").status_code == 200
    with platform.runtime.stores.tenant_engine("1804").connect() as connection:
        after = connection.execute(
            select(AUDIT_EVENT.c.client_id, AUDIT_EVENT.c.patient).where(
                AUDIT_EVENT.c.action == "usage-report"
            )
        ).all()
    assert after[len(before) :] == [("bodo-drift", None)]


@pytest.mark.parametrize(
    ("query", "pointer"),
    [
        ({"from": "2026-13-01"}, "/query/from"),
        ({"to": "yesterday"}, "/query/to"),
        ({"from": "2026-11-02", "to": "2026-11-01"}, "/query/to"),
        ({"from": "2025-01-01", "to": "2026-01-02"}, "/query/to"),  # 367 days
        ({"from": "0001-01-01"}, "/query/from"),
    ],
)
def test_a_period_that_is_not_valid_is_422(
    platform: TestPlatform, now: Any, query: dict[str, str], pointer: str
) -> None:
    answer = report(platform, **query)
    assert answer.status_code == 422, answer.text[:300]
    assert [e["pointer"] for e in answer.json()["errors"]] == [pointer]


def test_a_year_is_the_longest_period_and_a_format_must_be_known(
    platform: TestPlatform, now: Any
) -> None:
    assert report(platform, **{"from": "2025-01-01", "to": "2026-01-01"}).status_code == 200
    assert report(platform, format="xml").status_code == 422


def test_the_seal_of_an_event_without_the_later_columns_is_as_before() -> None:
    event: dict[str, Any] = {column.key: None for column in AUDIT_EVENT.c}
    event.update(id=1, occurred_at=EVENING, action="read", client_id="c", correlation_id="x")
    old = json.loads(canonical_event(event))
    assert len(old) == len(AUDIT_EVENT.c) - 2  # the two later columns are left out when unset
    aged = json.loads(canonical_event({**event, "data_age_seconds": 60}))
    assert aged == [*old, ["data_age_seconds", 60]]


@pytest.fixture
def env(backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("JOURNALLOFT_ENVIRONMENT", "test")
    monkeypatch.setenv("JOURNALLOFT_HOME", str(REPO))
    monkeypatch.setenv("JOURNALLOFT_DATA_DIR", str(tmp_path / "var"))
    if backend.database_url:
        monkeypatch.setenv("JOURNALLOFT_DATABASE_URL", backend.database_url)
    if backend.redis_url:
        monkeypatch.setenv("JOURNALLOFT_REDIS_URL", backend.redis_url)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_the_command_line_writes_the_same_report(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pilots = [str(REPO / "tenants" / "bodo.yaml"), str(REPO / "tenants" / "baerum.yaml")]
    assert main(["tenants", "onboard", *pilots]) == 0
    capsys.readouterr()
    assert main(["report", "1804", "--from", "2026-11-01", "--to", "2026-11-30"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["kommunenummer"] == "1804"
    assert {e["service"] for e in body["lookups"]} == {
        "diagnoser",
        KT,
        NEWS2,
        "kartlegginger",
        "tiltaksplan",
    }
    period = ["--from", "2026-11-01", "--to", "2026-11-30"]
    assert main(["report", *period, "--format", "html", "--output-dir", str(env / "out")]) == 0
    written = sorted(p.name for p in (env / "out").iterdir())
    assert written == ["1804-2026-11-01-2026-11-30.html", "3201-2026-11-01-2026-11-30.html"]
    assert "Bærum kommune" in (env / "out" / written[1]).read_text(encoding="utf-8")
    assert main(["report", "--from", "2026-11-30", "--to", "2026-11-01", "1804"]) == 1
    assert "must not be before from" in capsys.readouterr().err
    assert main(["report"]) == 1  # every municipality, but nowhere to write them


def test_live_streams_count_subscriptions_opens_reconnects_and_events_delivered(
    backend: Backend, tmp_path: Path
) -> None:
    """A stream's snapshot and updates are deliveries, not lookups; five of each show as 5."""
    who = people(5, seed="report-streams")
    with served_platform(backend, tmp_path, heartbeat_seconds=0.5) as live:
        live.onboard(tenant_document("1804"))
        now = datetime.now(UTC)
        records = [kt_record(f"s-{i}", p, now - timedelta(hours=1)) for i, p in enumerate(who)]
        pushed = post(live, f"/v1/tenants/1804/{KT}/records", {"records": records}, "bodo-epj")
        assert pushed.status_code == 200, pushed.text
        legevakt = live.headers("bodo-legevakt")
        made = [
            post(live, f"/v1/{KT}/subscriptions", {"patients": who}, "bodo-legevakt").json()
            for _ in range(5)
        ]
        for i, subscription in enumerate(made):
            with open_events(live.client, subscription["id"], legevakt) as events:
                [snapshot] = events.take(1)
                assert snapshot.event == "snapshot"
                if i == 0:  # the only stream open yet: one update, read for it alone
                    changed = {**records[0], "updated": now.isoformat(), "description": "ny"}
                    again = post(
                        live, f"/v1/tenants/1804/{KT}/records", {"records": [changed]}, "bodo-epj"
                    )
                    assert again.status_code == 200
                    [snapshot] = events.take(1)
                    assert snapshot.event == "update"
            with open_events(live.client, subscription["id"], legevakt, last_event_id=snapshot.id):
                pass
        body = live.client.get("/v1/tenants/1804/report", headers=live.headers("bodo-drift")).json()
    [stream] = body["streams"]
    assert stream == {
        "service": KT,
        "organisasjonsnummer": BODO_ORGNR,
        "subscriptions": 5,
        "streams_opened": 5,
        "reconnects": 5,
        "events_delivered": 5 * 5 + 1,  # five snapshots of five people, one update
    }
    assert by(body["lookups"], service=KT)["lookups"] == 0
    assert body["consumers"] == []


def test_a_store_that_cannot_be_read_is_503_naming_the_municipality(tmp_path: Path) -> None:
    for platform in start_platform(Backend("sqlite", None, None), tmp_path):
        platform.onboard(tenant_document("3201"))
        path = platform.runtime.stores.sqlite_path("3201")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)  # the disk lost it
        answer = platform.client.get(
            "/v1/tenants/3201/report", headers=platform.headers("baerum-drift")
        )
        assert answer.status_code == 503, answer.text
        assert answer.json()["type"] == "urn:journalloft:problem:service-unavailable"
        assert answer.json()["detail"].startswith("municipality 3201: its database did not answer")


def test_a_stream_opens_though_a_municipality_cannot_count_it(tmp_path: Path) -> None:
    """Counting a stream's opening is not an access: a store that cannot take the count leaves
    it uncounted, and the stream opens with the others, as a lookup answers without it."""
    who = people(2, seed="report-stream-down")
    grant = {"client_id": "bodo-legevakt", "name": "Legevakt", "services": [KT]}
    with served_platform(Backend("sqlite", None, None), tmp_path, heartbeat_seconds=0.5) as live:
        live.onboard(tenant_document("1804"))
        live.onboard(tenant_document("3201", extra_consumers=[grant]))
        made = post(live, f"/v1/{KT}/subscriptions", {"patients": who}, "bodo-legevakt")
        assert made.status_code == 201, made.text
        path = live.runtime.stores.sqlite_path("3201")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)  # the disk lost it
        live.runtime.stores.tenant_engine("3201").dispose()  # and no connection holds it open
        headers = live.headers("bodo-legevakt")
        with open_events(live.client, made.json()["id"], headers) as events:
            [snapshot] = events.take(1)
        assert snapshot.event == "snapshot"
        assert [r["kommunenummer"] for r in snapshot.json()["refused"]] == ["3201"]
        body = live.client.get("/v1/tenants/1804/report", headers=live.headers("bodo-drift"))
    [stream] = body.json()["streams"]
    assert (stream["subscriptions"], stream["streams_opened"]) == ("<5", "<5")
