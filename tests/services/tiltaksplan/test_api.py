"""Tiltaksplan over HTTP, on both stores: a journal system sends measures one by one or a
person's whole plan as a snapshot; a legevakt looks up the current plan with each measure's
next occurrence from its own ``now``; ended measures only when asked, within the window;
Bodø and Bærum both share it, apart."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from journalloft.platform.operations.demo import seed_demo_data
from journalloft.plugin import OSLO
from journalloft.services.tiltaksplan import spec
from journalloft.services.tiltaksplan.board import PlanPart
from support import people, tenant_document
from support.native import SOURCES, NativeApi
from support.platform import TestPlatform

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=OSLO)
TODAY = date(2026, 11, 22)
ALICE, BOB = people(2, seed="tiltaksplan-api")
SERVICE = "tiltaksplan"
API = NativeApi(SERVICE)
push, results = API.push, API.results
UPDATED = "2026-11-20T14:05:00+01:00"
REPO = Path(__file__).resolve().parents[3]


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


def a_measure(record_id: str, patient: str = ALICE, **fields: Any) -> dict[str, Any]:
    """One measure as a journal system sends it: medicines at 08 and 20, active."""
    record: dict[str, Any] = {
        "id": record_id,
        "patient": patient,
        "updated": UPDATED,
        "title": "Medisinering morgen og kveld",
        "category": "medication",
        "description": "Dosett fra multidose.",
        "schedule": {"times": ["08:00", "20:00"]},
        "unit": {"name": "Hjemmetjenesten sone Sentrum", "phone": "+47 75 55 10 20"},
        "start": "2026-01-05",
        "end": None,
        "status": "active",
        "goal": "Tar medisinene som forskrevet",
    }
    record.update(fields)
    return record


def snapshot(
    platform: TestPlatform, patient: str, *records: dict[str, Any], kommunenummer: str = "1804"
) -> Any:
    return platform.client.post(
        f"/v1/tenants/{kommunenummer}/{SERVICE}/plans",
        json={"patient": patient, "records": list(records)},
        headers=platform.headers(SOURCES[kommunenummer]),
    )


def measures(platform: TestPlatform, patient: str = ALICE, **options: Any) -> list[dict[str, Any]]:
    return [
        m for r in results(platform, "bodo-legevakt", patient, **options) for m in r["measures"]
    ]


def ids(platform: TestPlatform, patient: str = ALICE, **options: Any) -> list[str]:
    return [m["id"] for m in measures(platform, patient, **options)]


@pytest.fixture
def pilots(platform: TestPlatform) -> TestPlatform:
    platform.set_now(NOW)
    return platform


def test_the_legevakt_sees_the_current_plan_with_the_next_visit_first(pilots: TestPlatform) -> None:
    pushed = push(
        pilots,
        "1804",
        a_measure("T-medicines"),
        a_measure(
            "T-night",
            title="Tilsyn natt",
            category="supervision",
            schedule={"times": ["23:00", "03:00"]},
        ),
        a_measure("T-walk", title="Gåtur", category="mobilisation", schedule={"text": "ved behov"}),
        a_measure("T-shower", title="Dusj", category="personal-care", status="on-hold"),
        a_measure("T-old", title="Øyedråper", status="completed", end=day(-3)),
    )
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["created"] == 5

    [entry] = results(pilots, "bodo-legevakt", ALICE, BOB)
    assert (entry["patient"], entry["kommunenummer"], entry["active_count"]) == (ALICE, "1804", 3)
    found = entry["measures"]
    assert [m["id"] for m in found] == ["T-night", "T-medicines", "T-walk", "T-shower"]
    assert [m["next_occurrence"] for m in found] == [
        "2026-11-22T03:00:00+01:00",
        "2026-11-22T08:00:00+01:00",
        None,
        None,  # on hold: no next visit
    ]
    medicines = found[1]
    assert medicines == {
        "id": "T-medicines",
        "title": "Medisinering morgen og kveld",
        "category": "medication",
        "category_name": "Legemiddelhåndtering",
        "description": "Dosett fra multidose.",
        "schedule": {"times": ["08:00", "20:00"]},
        "next_occurrence": "2026-11-22T08:00:00+01:00",
        "unit": {"name": "Hjemmetjenesten sone Sentrum", "phone": "+47 75 55 10 20"},
        "start": "2026-01-05",
        "end": None,
        "status": "active",
        "goal": "Tar medisinene som forskrevet",
        "updated": "2026-11-20T13:05:00Z",
    }


def test_the_next_occurrence_is_from_the_callers_now_across_the_march_switch(
    pilots: TestPlatform,
) -> None:
    assert push(pilots, "1804", a_measure("T-1")).status_code == 200
    pilots.set_now(datetime(2026, 3, 28, 20, 30, tzinfo=OSLO))
    assert [m["next_occurrence"] for m in measures(pilots)] == ["2026-03-29T08:00:00+02:00"]
    pilots.set_now(datetime(2026, 3, 29, 8, 0, 1, tzinfo=OSLO))
    assert [m["next_occurrence"] for m in measures(pilots)] == ["2026-03-29T20:00:00+02:00"]
    pilots.set_now(datetime(2026, 10, 24, 20, 0, tzinfo=OSLO))
    assert [m["next_occurrence"] for m in measures(pilots)] == ["2026-10-24T20:00:00+02:00"]
    pilots.set_now(datetime(2026, 10, 24, 20, 0, 1, tzinfo=OSLO))
    assert [m["next_occurrence"] for m in measures(pilots)] == ["2026-10-25T08:00:00+01:00"]


def test_ended_measures_only_when_asked_and_within_the_window(pilots: TestPlatform) -> None:
    """The window (Bodø's default, 30 days) counts from the day a measure ended: its end, or
    the day of the update that completed or cancelled it."""
    push(
        pilots,
        "1804",
        a_measure("T-current"),
        a_measure("T-ended-30", status="completed", end=day(-30)),
        a_measure("T-ended-31", status="completed", end=day(-31)),
        a_measure("T-lapsed-30", end=day(-30)),  # active, but its last day is past
        a_measure("T-lapsed-31", end=day(-31)),
        a_measure("T-last-day", end=day(0)),
        a_measure("T-cancelled-now", status="cancelled", updated="2026-11-21T10:00:00+01:00"),
        a_measure("T-cancelled-old", status="cancelled", updated="2026-10-22T10:00:00+02:00"),
        a_measure(
            "T-cancelled-edge", status="cancelled", updated="2026-10-23T00:30:00+02:00"
        ),  # 22 October in UTC, 23 October in Norway: 30 days ago
    )
    assert ids(pilots) == ["T-current", "T-last-day"]
    assert ids(pilots, include_ended=False) == ["T-current", "T-last-day"]
    with_ended = measures(pilots, include_ended=True)
    assert [m["id"] for m in with_ended] == [
        "T-current",
        "T-last-day",
        "T-cancelled-now",
        "T-cancelled-edge",
        "T-ended-30",
        "T-lapsed-30",
    ]
    statuses = {m["id"]: (m["status"], m["next_occurrence"]) for m in with_ended}
    assert statuses["T-lapsed-30"] == ("completed", None)
    assert statuses["T-cancelled-now"] == ("cancelled", None)
    assert statuses["T-last-day"] == ("active", "2026-11-22T08:00:00+01:00")


def test_the_window_is_the_municipalitys(pilots: TestPlatform) -> None:
    pilots.onboard(tenant_document("1804", services={"tiltaksplan": {"ended_window_days": 7}}))
    push(
        pilots,
        "1804",
        a_measure("T-7", status="completed", end=day(-7)),
        a_measure("T-8", status="completed", end=day(-8)),
    )
    assert ids(pilots, include_ended=True) == ["T-7"]


def test_status_rules(pilots: TestPlatform) -> None:
    refused = push(
        pilots,
        "1804",
        a_measure("T-1", start="2026-02-01", end="2026-01-31"),
        a_measure("T-2", status="completed", end="2026-11-21", updated="2026-11-20T23:30:00Z"),
        a_measure("T-3", status="stopped"),
        a_measure("T-4", schedule={"weekdays": ["mon"]}),
        a_measure("T-5", category="dancing"),
        a_measure("T-6", unit={"phone": "+47 75 55 10 20"}),
    )
    assert refused.status_code == 422
    pointers = {e["pointer"] for e in refused.json()["errors"]}
    assert {
        "/records/0/end",
        "/records/2/status",
        "/records/3/schedule/times",
        "/records/4/category",
    } <= pointers
    assert any(p.startswith("/records/5/unit") for p in pointers)
    # 2026-11-20T23:30Z is the 21st in Norway: completed on the 21st is fine, the 22nd is not
    assert not any(p.startswith("/records/1") for p in pointers)
    assert ids(pilots, include_ended=True) == []  # all or nothing
    late = push(
        pilots,
        "1804",
        a_measure("T-2", status="completed", end="2026-11-22", updated="2026-11-20T23:30:00Z"),
    )
    assert late.status_code == 422
    assert [e["pointer"] for e in late.json()["errors"]] == ["/records/0/end"]
    same_day = push(pilots, "1804", a_measure("T-9", start="2026-02-01", end="2026-02-01"))
    assert same_day.status_code == 200, same_day.text


def test_single_measures_are_idempotent_with_updated(pilots: TestPlatform) -> None:
    assert push(pilots, "1804", a_measure("T-1")).json()["created"] == 1
    assert push(pilots, "1804", a_measure("T-1")).json()["unchanged"] == 1
    newer = a_measure("T-1", status="on-hold", updated="2026-11-21T09:00:00+01:00")
    assert push(pilots, "1804", newer).json()["updated"] == 1
    older = a_measure("T-1", status="cancelled", updated="2026-11-19T09:00:00+01:00")
    assert push(pilots, "1804", older).json()["stale"] == 1
    assert [m["status"] for m in measures(pilots)] == ["on-hold"]


def test_a_snapshot_replaces_what_the_source_sent_before_for_the_person(
    pilots: TestPlatform,
) -> None:
    push(pilots, "1804", a_measure("T-1"), a_measure("T-2"), a_measure("T-bob", patient=BOB))
    first = snapshot(pilots, ALICE, a_measure("T-2", title="Dosett"), a_measure("T-3"))
    assert first.status_code == 200, first.text
    assert first.json() == {
        "kommunenummer": "1804",
        "received": 2,
        "created": 1,
        "updated": 1,  # T-2's title changed
        "unchanged": 0,
        "stale": 0,
        "withdrawn": 1,
    }
    assert sorted(ids(pilots, include_ended=True)) == ["T-2", "T-3"]
    assert ids(pilots, BOB) == ["T-bob"]  # another person's plan is untouched

    newer = a_measure("T-3", status="on-hold", updated="2026-11-21T09:00:00+01:00")
    again = snapshot(pilots, ALICE, newer)
    assert again.json()["updated"] == 1
    assert again.json()["withdrawn"] == 1
    assert [(m["id"], m["status"]) for m in measures(pilots)] == [("T-3", "on-hold")]
    # the same snapshot again changes nothing
    assert snapshot(pilots, ALICE, newer).json()["withdrawn"] == 0

    # a measure sent again after a snapshot withdrew it comes back with a newer version
    back = push(pilots, "1804", a_measure("T-1", updated="2026-11-21T10:00:00+01:00"))
    assert back.status_code == 200, back.text
    assert sorted(ids(pilots)) == ["T-1", "T-3"]

    empty = snapshot(pilots, ALICE)
    assert empty.json()["withdrawn"] == 2
    assert ids(pilots, include_ended=True) == []
    assert ids(pilots, BOB) == ["T-bob"]
    log = pilots.client.post(
        "/v1/tenants/1804/audit/query",
        json={"patient": ALICE},
        headers=pilots.headers("bodo-drift"),
    ).json()["events"]
    withdrawals = [e["result_count"] for e in log if e["action"] == "withdraw"]
    assert sorted(withdrawals) == [1, 1, 2]  # each snapshot's withdrawals, audited


def test_a_snapshot_is_all_or_nothing_and_of_one_person(pilots: TestPlatform) -> None:
    push(pilots, "1804", a_measure("T-1"))
    mixed = snapshot(pilots, ALICE, a_measure("T-2"), a_measure("T-bob", patient=BOB))
    assert mixed.status_code == 422
    broken = snapshot(pilots, ALICE, a_measure("T-2"), a_measure("T-3", category="dancing"))
    assert broken.status_code == 422
    assert [e["pointer"] for e in broken.json()["errors"]] == ["/records/1/category"]
    assert ids(pilots) == ["T-1"]
    bodies: list[Any] = [{"records": []}, {"patient": "123", "records": []}, {"patient": ALICE}, []]
    for body in bodies:
        answer = pilots.client.post(
            "/v1/tenants/1804/tiltaksplan/plans", json=body, headers=pilots.headers("bodo-epj")
        )
        assert answer.status_code == 422, (body, answer.text)
    extra = pilots.client.post(
        "/v1/tenants/1804/tiltaksplan/plans",
        json={"patient": ALICE, "records": [], "note": "x"},
        headers=pilots.headers("bodo-epj"),
    )
    assert extra.status_code == 422
    assert ids(pilots) == ["T-1"]


def test_a_snapshot_needs_the_write_grant_and_touches_only_its_own_source(
    pilots: TestPlatform,
) -> None:
    pilots.onboard(
        tenant_document(
            "1804",
            extra_consumers=[],
        )
        | {
            "sources": [
                {"client_id": "bodo-epj", "name": "EPJ", "services": [SERVICE]},
                {"client_id": "bodo-epj-2", "name": "EPJ 2", "services": [SERVICE]},
            ]
        }
    )
    push(pilots, "1804", a_measure("T-1"))
    other = pilots.client.post(
        "/v1/tenants/1804/tiltaksplan/plans",
        json={"patient": ALICE, "records": [a_measure("X-1")]},
        headers=pilots.headers("bodo-epj-2"),
    )
    assert other.status_code == 200, other.text
    assert other.json()["withdrawn"] == 0
    assert sorted(ids(pilots)) == ["T-1", "X-1"]
    reader = pilots.client.post(
        "/v1/tenants/1804/tiltaksplan/plans",
        json={"patient": ALICE, "records": []},
        headers=pilots.headers("bodo-legevakt"),
    )
    assert reader.status_code == 403
    elsewhere = pilots.client.post(
        "/v1/tenants/3201/tiltaksplan/plans",
        json={"patient": ALICE, "records": []},
        headers=pilots.headers("bodo-epj"),
    )
    assert elsewhere.status_code == 403
    assert sorted(ids(pilots)) == ["T-1", "X-1"]


def shipped(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO / "tenants" / name).read_text("utf-8"))
    return document


def test_bodo_and_baerum_both_share_the_plan_and_stay_apart(empty_platform: TestPlatform) -> None:
    """The pilot files as shipped: both adopted tiltaksplan. A legevakt both trust gets both
    plans; each municipality's own legevakt gets only its own; a source writes only its own."""
    platform = empty_platform
    platform.set_now(NOW)
    salten = {"client_id": "salten-legevakt", "name": "Salten legevakt"}
    bodo, baerum = shipped("bodo.yaml"), shipped("baerum.yaml")
    assert SERVICE in bodo["services"]
    assert SERVICE in baerum["services"]
    bodo["consumers"].append({**salten, "services": sorted(bodo["services"])})
    baerum["consumers"].append({**salten, "services": sorted(baerum["services"])})
    platform.onboard(bodo)
    platform.onboard(baerum)

    assert push(platform, "1804", a_measure("B-1")).status_code == 200
    assert push(platform, "3201", a_measure("R-1", title="Sårstell")).status_code == 200
    assert snapshot(platform, ALICE, kommunenummer="3201").json()["withdrawn"] == 1

    both = results(platform, "salten-legevakt", ALICE)
    assert [(r["kommunenummer"], [m["id"] for m in r["measures"]]) for r in both] == [
        ("1804", ["B-1"])
    ]
    assert push(platform, "3201", a_measure("R-2")).status_code == 200
    both = results(platform, "salten-legevakt", ALICE)
    assert [(r["kommunenummer"], [m["id"] for m in r["measures"]]) for r in both] == [
        ("1804", ["B-1"]),
        ("3201", ["R-2"]),
    ]
    own = results(platform, "baerum-legevakt", ALICE)
    assert [(r["kommunenummer"], [m["id"] for m in r["measures"]]) for r in own] == [
        ("3201", ["R-2"])
    ]
    assert [r["kommunenummer"] for r in results(platform, "bodo-legevakt", ALICE)] == ["1804"]
    cross = platform.client.post(
        "/v1/tenants/1804/tiltaksplan/records",
        json={"records": [a_measure("R-3")]},
        headers=platform.headers("baerum-epj"),
    )
    assert cross.status_code == 403


def test_the_demo_plans_are_valid_records(pilots: TestPlatform) -> None:
    patients = people(12, seed="tiltaksplan-demo")
    records = spec.demo_records(rng=random.Random(7), patients=patients, now=NOW)
    pushed = push(pilots, "1804", *records)
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["created"] == len(records)


def test_demo_data_goes_through_ingest_and_answers_by_the_result_schema(
    pilots: TestPlatform,
) -> None:
    seeded = seed_demo_data(pilots.runtime, people=12)
    for kommunenummer, client in (("1804", "bodo-legevakt"), ("3201", "baerum-legevakt")):
        found = results(pilots, client, *seeded[kommunenummer], include_ended=True)
        assert {r["patient"] for r in found} == set(seeded[kommunenummer])
        found_measures = [m for r in found for m in r["measures"]]
        assert {m["status"] for m in found_measures} >= {"active", "completed"}
        assert any(m["next_occurrence"] for m in found_measures)
        for entry in found:
            assert pilots.runtime.schemas.errors(entry, spec.result_schema) == []


def test_the_board_shows_the_next_scheduled_measure_across_municipalities(
    pilots: TestPlatform,
) -> None:
    push(pilots, "1804", a_measure("T-1"), a_measure("T-2", status="on-hold"))
    push(
        pilots,
        "3201",
        a_measure("T-3", title="Tilsyn", schedule={"times": ["06:30"]}, unit={"name": "Nord"}),
    )
    entries = results(pilots, "bodo-legevakt", ALICE) + results(pilots, "baerum-legevakt", ALICE)
    part = PlanPart(clock=lambda: NOW)
    cell = part.cells(entries)["next_measure"]
    assert [i["text"] for i in cell["items"]] == ["22.11. 06:30 Tilsyn"]
    assert cell["items"][0]["title"] == "Nord"
    assert [m["text"] for m in cell["marks"]] == ["på vent"]
    only_bodo = part.cells(results(pilots, "bodo-legevakt", ALICE))["next_measure"]
    assert [i["text"] for i in only_bodo["items"]] == ["22.11. 08:00 Medisinering morgen og kveld"]
    assert only_bodo["items"][0]["title"] == "Hjemmetjenesten sone Sentrum, tlf. +47 75 55 10 20"
    assert part.cells([]) == {}


def test_the_board_moves_on_with_its_clock_from_the_entries_it_has(pilots: TestPlatform) -> None:
    """The board keeps the entries the stream last sent (at 02:00 here); the next measure is
    the one after the board's own clock, on both sides of each time, across the night."""
    push(
        pilots,
        "1804",
        a_measure("T-1"),
        a_measure("T-2", title="Tilsyn", schedule={"times": ["03:00"]}),
    )
    entries = results(pilots, "bodo-legevakt", ALICE)

    def shown(at: datetime) -> list[str]:
        cell = PlanPart(clock=lambda: at).cells(entries)
        return [i["text"] for i in cell["next_measure"]["items"]]

    assert shown(NOW) == ["22.11. 03:00 Tilsyn"]
    assert shown(NOW.replace(hour=3)) == ["22.11. 03:00 Tilsyn"]
    assert shown(NOW.replace(hour=3, minute=1)) == ["22.11. 08:00 Medisinering morgen og kveld"]
    assert shown(NOW.replace(hour=8, minute=1)) == ["22.11. 20:00 Medisinering morgen og kveld"]
    assert shown(NOW.replace(hour=20, minute=1)) == ["23.11. 03:00 Tilsyn"]
