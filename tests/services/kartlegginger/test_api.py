"""Kartlegginger over HTTP on both stores: every instrument's rules with each band edge on both
sides, the refusals at their pointers, the window's edge, the latest two per instrument, tenants
apart, and a municipality that has not adopted the service sharing none without an error."""

from __future__ import annotations

import logging
import random
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from journalloft.platform.operations.demo import seed_demo_data
from journalloft.plugin import OSLO
from journalloft.services.kartlegginger import spec
from journalloft.services.kartlegginger.instruments import INSTRUMENTS, MOBID2_ITEMS
from support import people, tenant_document
from support.native import NativeApi, selects_from
from support.platform import TestPlatform

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=OSLO)
TODAY = date(2026, 11, 22)
ALICE, BOB = people(2, seed="kartlegginger-api")
SERVICE = "kartlegginger"
API = NativeApi(SERVICE)
push, look_up = API.push, API.look_up
REPO = Path(__file__).resolve().parents[3]


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


def an_assessment(
    record_id: str, instrument: str, patient: str = ALICE, **fields: Any
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": record_id,
        "patient": patient,
        "updated": "2026-11-20T14:05:00+01:00",
        "instrument": instrument,
        "assessed": day(-2),
        "assessed_by": {"unit": "Hjemmetjenesten sone Sentrum"},
    }
    record.update(fields)
    return record


def results(platform: TestPlatform, client: str, *patients: str) -> list[dict[str, Any]]:
    response = look_up(platform, client, *patients)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["results"]
    for entry in found:
        assert platform.runtime.schemas.errors(entry, spec.result_schema) == []
    return found


def latest(platform: TestPlatform, patient: str, instrument: str) -> dict[str, Any]:
    [entry] = results(platform, "bodo-legevakt", patient)
    [found] = [i for i in entry["instruments"] if i["instrument"] == instrument]
    latest: dict[str, Any] = found["latest"]
    return latest


def refused(platform: TestPlatform, record: dict[str, Any]) -> dict[str, str]:
    """The pointers and messages of a refused one-record push (nothing stored)."""
    response = push(platform, "1804", record)
    assert response.status_code == 422, response.text
    return {e["pointer"]: e["message"] for e in response.json()["errors"]}


@pytest.fixture
def pilots(platform: TestPlatform) -> TestPlatform:
    platform.set_now(NOW)
    return platform


BAND_EDGES = [
    # (instrument, total, band): each edge of each published rule, on both sides
    ("mst", 0, "not-at-risk"),
    ("mst", 1, "not-at-risk"),
    ("mst", 2, "at-risk"),
    ("mst", 5, "at-risk"),
    ("mna-sf", 0, "malnourished"),
    ("mna-sf", 7, "malnourished"),
    ("mna-sf", 8, "at-risk"),
    ("mna-sf", 11, "at-risk"),
    ("mna-sf", 12, "normal"),
    ("mna-sf", 14, "normal"),
    ("braden", 6, "very-high"),
    ("braden", 9, "very-high"),
    ("braden", 10, "high"),
    ("braden", 12, "high"),
    ("braden", 13, "moderate"),
    ("braden", 14, "moderate"),
    ("braden", 15, "mild"),
    ("braden", 18, "mild"),
    ("braden", 19, "no-risk"),
    ("braden", 23, "no-risk"),
]


def test_every_band_edge_on_both_sides_is_computed_and_a_contrary_band_refused(
    pilots: TestPlatform,
) -> None:
    everyone = people(len(BAND_EDGES), seed="kartlegginger-bands")
    records = [
        an_assessment(f"B-{i}", instrument, person, total=total)
        for i, ((instrument, total, _band), person) in enumerate(
            zip(BAND_EDGES, everyone, strict=True)
        )
    ]
    assert push(pilots, "1804", *records).json()["created"] == len(records)
    found = {e["patient"]: e["instruments"][0] for e in results(pilots, "bodo-legevakt", *everyone)}
    for (instrument, total, band), person in zip(BAND_EDGES, everyone, strict=True):
        entry = found[person]
        assert (entry["instrument"], entry["latest"]["total"]) == (instrument, total)
        assert (entry["latest"]["band"], entry["latest"]["band_by"]) == (band, "rule"), entry
    # the band the rule gives is accepted as sent; any other is refused at /band
    for instrument, total, band in BAND_EDGES:
        sent = an_assessment("agrees", instrument, total=total, band=band)
        assert push(pilots, "1804", sent).status_code == 200
        for other in INSTRUMENTS[instrument].bands:
            if other != band:
                contrary = an_assessment("contrary", instrument, total=total, band=other)
                assert "contradicts" in refused(pilots, contrary)["/records/0/band"]


def test_a_total_must_be_the_items_sum_and_within_the_instrument_range(
    pilots: TestPlatform,
) -> None:
    mst = {"mst-weight-loss": 2, "mst-appetite": 1}
    assert push(pilots, "1804", an_assessment("mst", "mst", items=mst, total=3)).status_code == 200
    assert (
        "sum of the items (3)"
        in refused(pilots, an_assessment("x", "mst", items=mst, total=2))["/records/0/total"]
    )
    for instrument, low, high in (("mst", 0, 5), ("mna-sf", 0, 14), ("braden", 6, 23),
                                  ("mmse-nr3", 0, 30), ("mobid-2", 0, 10)):  # fmt: skip
        for total in (low, high):
            ok = an_assessment(f"{instrument}-{total}", instrument, total=total)
            assert push(pilots, "1804", ok).status_code == 200, (instrument, total)
        for total in (low - 1, high + 1):
            if total < 0 or total > 30:
                continue  # the schema's own range
            bad = an_assessment("x", instrument, total=total)
            assert f"{low}–{high}" in refused(pilots, bad)["/records/0/total"]
    # the items alone: the platform sums them (Braden 4+4+4+4+4+3 = 23)
    braden = {name: max(scores) for name, scores in INSTRUMENTS["braden"].items.items()}
    assert (
        push(pilots, "1804", an_assessment("braden", "braden", BOB, items=braden)).status_code
        == 200
    )
    found = latest(pilots, BOB, "braden")
    assert (found["total"], found["band"], found["complete"]) == (23, "no-risk", True)


def test_the_item_sets_are_checked_and_a_missing_item_is_never_scored_zero(
    pilots: TestPlatform,
) -> None:
    mmse = {f"mmse-{n}": 1 for n in range(1, 21)}
    cases = {
        "/records/0/items": an_assessment("a", "mmse-nr3", items={k: v for k, v in mmse.items()
                                                                   if k != "mmse-20"}),
        "/records/1/items/mst-weight": an_assessment("b", "mst", items={"mst-weight": 1}),
        "/records/2/items/syn": an_assessment("c", "iplos", items={"syn": 6}),
        "/records/3/items/hukommelse": an_assessment("d", "iplos", items={"hukommelse": 0}),
        "/records/4/items": an_assessment("e", "fall-risk", band="low", items={"x": 1}),
        "/records/5/items/mna-d": an_assessment(
            "f", "mna-sf", items={"mna-a": 2, "mna-b": 3, "mna-c": 2, "mna-d": 1, "mna-e": 2,
                                  "mna-f1": 3}),
        "/records/6/items/braden-friction-shear": an_assessment(
            "g", "braden", items={name: 4 for name in INSTRUMENTS["braden"].items}),
        "/records/7/items/mobid2-skin": an_assessment(
            "h", "mobid-2", total=3, items={"mobid2-skin": 11 - 11 + 10, "mobid2-hands": 0}
        ) | {"items": {"mobid2-skin": 10, "mobid2-sit": -1}},
    }  # fmt: skip
    cases["/records/7/items/mobid2-sit"] = cases.pop("/records/7/items/mobid2-skin")
    response = push(pilots, "1804", *cases.values())
    assert response.status_code == 422
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert set(cases) <= pointers, pointers
    both = {"mna-a": 2, "mna-b": 3, "mna-c": 2, "mna-d": 2, "mna-e": 2, "mna-f1": 3, "mna-f2": 3}
    assert (
        "exactly one of mna-f1 or mna-f2"
        in refused(pilots, an_assessment("x", "mna-sf", items=both))["/records/0/items"]
    )
    neither = {k: v for k, v in both.items() if k not in ("mna-f1", "mna-f2")}
    assert "/records/0/items" in refused(pilots, an_assessment("x", "mna-sf", items=neither))

    calf = {k: v for k, v in both.items() if k != "mna-f1"}  # F2 when BMI is missing
    iplos = {"syn": 5, "horsel": 9, "hukommelse": 1}
    pushed = push(
        pilots,
        "1804",
        an_assessment("mna", "mna-sf", items=calf),
        an_assessment("iplos", "iplos", items=iplos),
        an_assessment("mmse", "mmse-nr3", items=mmse),
    )
    assert pushed.status_code == 200, pushed.text
    [entry] = results(pilots, "bodo-legevakt", ALICE)
    by = {i["instrument"]: i["latest"] for i in entry["instruments"]}
    assert (by["mna-sf"]["total"], by["mna-sf"]["band"]) == (14, "normal")
    assert by["iplos"] | {"updated": None} == {
        "id": "iplos", "updated": None, "assessed": day(-2), "total": None, "items": iplos,
        "complete": False, "band": None, "band_by": None,
        "assessed_by": {"unit": "Hjemmetjenesten sone Sentrum", "hpr": None}, "note": None,
    }  # fmt: skip
    assert (by["mmse-nr3"]["total"], by["mmse-nr3"]["band"]) == (20, None)
    assert [i["instrument"] for i in entry["instruments"]] == ["iplos", "mmse-nr3", "mna-sf"]


def test_nothing_is_computed_that_the_instrument_does_not_define(pilots: TestPlatform) -> None:
    iplos = {"syn": 3}
    cases = [
        (an_assessment("a", "iplos", items=iplos, total=3), "/total", "defines no total"),
        (an_assessment("b", "fall-risk", band="high", total=2), "/total", "defines no total"),
        (an_assessment("c", "iplos", items=iplos, band="high"), "/band", "no published band"),
        (an_assessment("d", "mmse-nr3", total=22, band="at-risk"), "/band", "no published band"),
        (an_assessment("e", "mobid-2", total=5, band="high"), "/band", "no published band"),
        (an_assessment("f", "fall-risk"), "/band", "the level assessed"),
        (an_assessment("g", "fall-risk", band="at-risk"), "/band", "the level assessed"),
        (an_assessment("h", "iplos"), "/items", "is required"),
        (an_assessment("i", "mst"), "/total", "is required"),
        (an_assessment("j", "mobid-2", items=dict.fromkeys(MOBID2_ITEMS, 2)), "/total", "required"),
    ]
    for record, pointer, message in cases:
        assert message in refused(pilots, record)["/records/0" + pointer], record
    # MOBID-2's total is the staff's overall judgement, not the items' sum
    mobid = dict.fromkeys(MOBID2_ITEMS, 1) | {"mobid2-hands": 6}
    pushed = push(
        pilots,
        "1804",
        an_assessment("mobid", "mobid-2", items=mobid, total=4),
        an_assessment("fall", "fall-risk", band="medium"),
    )
    assert pushed.status_code == 200, pushed.text
    assert latest(pilots, ALICE, "mobid-2")["total"] == 4
    assert latest(pilots, ALICE, "fall-risk")["band_by"] == "source"


def test_the_date_and_the_assessor_are_checked(pilots: TestPlatform) -> None:
    future = an_assessment("a", "mst", total=1, assessed=day(1))
    assert "after today" in refused(pilots, future)["/records/0/assessed"]
    assert (
        push(pilots, "1804", an_assessment("b", "mst", total=1, assessed=day(0))).status_code == 200
    )
    for bad in ("0123456", "123456", "1234567890", "12345a7"):
        record = an_assessment("c", "mst", total=1, assessed_by={"unit": "Sone", "hpr": bad})
        assert "/records/0/assessed_by/hpr" in refused(pilots, record), bad
    for good in ("991234567", "990000001"):  # synthetic (99…, nine digits)
        record = an_assessment(good, "mst", total=1, assessed_by={"unit": "Sone", "hpr": good})
        assert push(pilots, "1804", record).status_code == 200


def test_the_latest_and_the_one_before_per_instrument_with_the_change(
    pilots: TestPlatform,
) -> None:
    pushed = push(
        pilots,
        "1804",
        an_assessment("mst-old", "mst", total=0, assessed=day(-400)),
        an_assessment("mst-mid", "mst", total=1, assessed=day(-200)),
        an_assessment("mst-new", "mst", total=3, assessed=day(-10)),
        an_assessment("braden-only", "braden", total=16, assessed=day(-30)),
    )
    assert pushed.status_code == 200
    [entry] = results(pilots, "bodo-legevakt", ALICE)
    mst, braden = entry["instruments"]
    assert (mst["latest"]["id"], mst["previous"]["id"], mst["change"]) == ("mst-new", "mst-mid", 2)
    assert (mst["latest"]["band"], mst["previous"]["band"]) == ("at-risk", "not-at-risk")
    assert (braden["previous"], braden["change"]) == (None, None)


@pytest.mark.parametrize("years", [3, 1])
def test_the_window_edge_on_both_sides(pilots: TestPlatform, years: int) -> None:
    if years != 3:
        pilots.onboard(tenant_document("1804", services={SERVICE: {"window_years": years}}))
    edge = TODAY.replace(year=TODAY.year - years)
    pushed = push(
        pilots,
        "1804",
        an_assessment("on-the-edge", "mst", total=1, assessed=edge.isoformat()),
        an_assessment(
            "a-day-older", "mst", total=4, assessed=(edge - timedelta(days=1)).isoformat()
        ),
        an_assessment("only-outside", "braden", total=12, assessed="2020-01-01"),
    )
    assert pushed.status_code == 200
    [entry] = results(pilots, "bodo-legevakt", ALICE)
    [mst] = entry["instruments"]
    assert (mst["latest"]["id"], mst["previous"]) == ("on-the-edge", None)
    pilots.set_now(NOW + timedelta(days=1))
    assert results(pilots, "bodo-legevakt", ALICE) == []


def test_tenants_never_see_each_others_assessments(pilots: TestPlatform) -> None:
    assert push(pilots, "1804", an_assessment("bodo", "mst", total=2)).status_code == 200
    assert push(pilots, "3201", an_assessment("baerum", "mst", BOB, total=3)).status_code == 200
    [bodo] = results(pilots, "bodo-legevakt", ALICE, BOB)
    assert (bodo["kommunenummer"], bodo["patient"]) == ("1804", ALICE)
    [baerum] = results(pilots, "baerum-legevakt", ALICE, BOB)
    assert (baerum["kommunenummer"], baerum["patient"]) == ("3201", BOB)
    wrong = pilots.client.post(
        f"/v1/tenants/3201/{SERVICE}/records",
        json={"records": [an_assessment("x", "mst", total=1)]},
        headers=pilots.headers("bodo-epj"),
    )
    assert wrong.status_code in (403, 404)


def shipped(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO / "tenants" / name).read_text("utf-8"))
    return document


def test_baerum_has_not_adopted_kartlegginger_and_shares_none_without_an_error(
    empty_platform: TestPlatform,
) -> None:
    platform = empty_platform
    platform.set_now(NOW)
    salten = {"client_id": "salten-legevakt", "name": "Salten legevakt"}
    bodo, baerum = shipped("bodo.yaml"), shipped("baerum.yaml")
    assert SERVICE in bodo["services"]
    assert SERVICE not in baerum["services"]
    bodo["consumers"].append({**salten, "services": sorted(bodo["services"])})
    baerum["consumers"].append({**salten, "services": sorted(baerum["services"])})
    platform.onboard(bodo)
    platform.onboard(baerum)
    assert push(platform, "1804", an_assessment("K-1", "mst", total=2)).status_code == 200

    answer = look_up(platform, "salten-legevakt", ALICE)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"results": answer.json()["results"]}
    assert [r["kommunenummer"] for r in answer.json()["results"]] == ["1804"]
    asked = look_up(platform, "salten-legevakt", ALICE, kommuner=["3201"])
    assert asked.status_code == 404
    own = look_up(platform, "baerum-legevakt", ALICE)
    assert own.status_code == 403


def test_demo_records_are_accepted_and_seeded(pilots: TestPlatform) -> None:
    everyone = people(20, seed="kartlegginger-demo")
    records = spec.demo_records(rng=random.Random(1804), patients=everyone, now=NOW)
    response = push(pilots, "1804", *records)
    assert response.status_code == 200, response.text
    assert response.json()["created"] == len(records)
    found = results(pilots, "bodo-legevakt", *everyone)
    shown = {i["instrument"] for e in found for i in e["instruments"]}
    assert shown == set(INSTRUMENTS)
    seeded = seed_demo_data(pilots.runtime, people=6)
    assert results(pilots, "bodo-legevakt", *seeded["1804"])


def test_two_hundred_people_in_one_request_and_one_select(
    pilots: TestPlatform, caplog: pytest.LogCaptureFixture
) -> None:
    everyone = people(200, seed="kartlegginger-200")
    records = [an_assessment(f"K-{i}", "mst", p, total=i % 6) for i, p in enumerate(everyone)]
    assert push(pilots, "1804", *records).json()["created"] == 200
    with caplog.at_level(logging.DEBUG, logger="journalloft.sql"):
        found = results(pilots, "bodo-legevakt", *everyone)
    selects = selects_from(caplog, "kartlegging")
    assert [r["patient"] for r in found] == everyone
    assert len(selects) == 1, selects
