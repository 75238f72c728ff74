"""The status and date rules of a diagnosis, and what a lookup shows: active first, the inactive
ones within the municipality's window, never refuted or entered in error, never an excluded code
range. Run through the real lookup statement in a tenant store."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from journalloft.platform.core.identifiers import synthetic_person_id
from journalloft.platform.core.jsonschemas import Schemas
from journalloft.platform.plugins.service_protocol import (
    IngestContext,
    QueryContext,
    RecordRejected,
)
from journalloft.platform.storage.engines import Stores
from journalloft.platform.storage.records import IngestCounts, content_hash, upsert_records
from journalloft.plugin import OSLO
from journalloft.services.diagnoser import spec
from journalloft.services.diagnoser.service import resolved_window_years
from journalloft.services.diagnoser.status import (
    ACTIVE,
    CLINICAL_STATUSES,
    INACTIVE,
    VERIFICATION_STATUSES,
    years_before,
)
from support import query_service
from support.stores import migrated_stores, service_schemas

BODO = "1804"
SOURCE = "bodo-epj"
NOW = datetime(2026, 11, 22, 3, 0, tzinfo=OSLO)
TODAY = date(2026, 11, 22)


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    with migrated_stores(tmp_path, spec, (BODO,)) as stores:
        yield stores


@pytest.fixture(scope="module")
def schemas() -> Schemas:
    return service_schemas("diagnoser")


def person(seed: int) -> str:
    return synthetic_person_id(random.Random(seed))


def day(offset: int) -> str:
    """A date relative to TODAY, as a journal system writes it."""
    return (TODAY + timedelta(days=offset)).isoformat()


_ids = itertools.count(1)


def a_diagnosis(
    patient: str,
    code: str = "T90",
    *,
    system: str = "icpc-2",
    display: str = "Diabetes type 2",
    **fields: Any,
) -> dict[str, Any]:
    """One record as a journal system sends it: confirmed, active type 2 diabetes by default."""
    return {
        "id": f"GER-D-{next(_ids):06d}",
        "patient": patient,
        "updated": "2026-11-20T14:05:00+01:00",
        "code": {"system": system, "code": code, "display": display},
        "clinical_status": "active",
        "verification_status": "confirmed",
        "recorded_by": {"unit": "Hjemmetjenesten sone Sentrum"},
        **fields,
    }


def prepare(record: Mapping[str, Any], *, now: datetime = NOW) -> dict[str, Any]:
    context = IngestContext(kommunenummer=BODO, source=SOURCE, now=now, settings={})
    return spec.prepare(record, context=context)


def rejected(record: dict[str, Any], *, now: datetime = NOW) -> list[tuple[str, str]]:
    with pytest.raises(RecordRejected) as caught:
        prepare(record, now=now)
    return [(e.pointer, e.message) for e in caught.value.errors]


def ingest(stores: Stores, *records: dict[str, Any]) -> IngestCounts:
    """What the platform's ingest does with a valid batch."""
    rows = [
        {
            **prepare(record),
            "source": SOURCE,
            "record_id": record["id"],
            "patient": record["patient"],
            "updated": datetime.fromisoformat(record["updated"]),
            "content_hash": content_hash(record),
            "received_at": NOW,
        }
        for record in records
    ]
    with stores.tenant_transaction(BODO) as connection:
        return upsert_records(connection, spec.table, source=SOURCE, rows=rows)


def query(
    stores: Stores,
    *patients: str,
    now: datetime = NOW,
    settings: Mapping[str, Any] | None = None,
    **options: Any,
) -> dict[str, dict[str, Any]]:
    context = QueryContext(
        kommunenummer=BODO,
        now=now,
        settings={} if settings is None else settings,
        options={"patients": list(patients), **options},
    )
    return query_service(stores, spec, BODO, patients=patients, context=context)


def ids(found: Mapping[str, Any]) -> list[str]:
    return [d["id"] for d in found["diagnoses"]]


# Status rules at ingest


COMBINATIONS = [
    (clinical, verification)
    for clinical in (*CLINICAL_STATUSES, None)
    for verification in VERIFICATION_STATUSES
]


@pytest.mark.parametrize(("clinical", "verification"), COMBINATIONS)
def test_clinical_status_is_null_exactly_when_entered_in_error(
    clinical: str | None, verification: str
) -> None:
    record = a_diagnosis(person(1), clinical_status=clinical, verification_status=verification)
    if (clinical is None) == (verification == "entered-in-error"):
        columns = prepare(record)
        assert (columns["clinical_status"], columns["verification_status"]) == (
            clinical,
            verification,
        )
    else:
        [(pointer, message)] = rejected(record)
        assert pointer == "/clinical_status"
        assert ("con-5" in message) if clinical is not None else ("is required" in message)


@pytest.mark.parametrize("clinical", [*CLINICAL_STATUSES, None])
def test_an_abatement_only_with_inactive_remission_or_resolved(clinical: str | None) -> None:
    verification = "entered-in-error" if clinical is None else "confirmed"
    record = a_diagnosis(
        person(1),
        clinical_status=clinical,
        verification_status=verification,
        onset=day(-100),
        abatement=day(-10),
    )
    if clinical in INACTIVE:
        assert prepare(record)["abatement_date"] == TODAY - timedelta(days=10)
    else:
        [(pointer, message)] = rejected(record)
        assert pointer == "/abatement"
        assert "con-4" in message
        assert (clinical or "null") in message


@pytest.mark.parametrize("clinical", sorted(INACTIVE))
def test_inactive_remission_and_resolved_need_no_abatement(clinical: str) -> None:
    assert prepare(a_diagnosis(person(1), clinical_status=clinical))["abatement_date"] is None


def test_abatement_before_onset_is_refused_at_the_abatement() -> None:
    record = a_diagnosis(
        person(1), clinical_status="resolved", onset="2025-05-02", abatement="2025-05-01"
    )
    assert rejected(record) == [("/abatement", "must not be before the onset (2025-05-02)")]
    same_day = {**record, "abatement": "2025-05-02"}
    assert prepare(same_day)["abatement_date"] == date(2025, 5, 2)


def test_dates_after_today_in_norway_are_refused() -> None:
    future = a_diagnosis(person(1), clinical_status="resolved", onset=day(1), abatement=day(2))
    assert [pointer for pointer, _ in rejected(future)] == ["/abatement", "/onset"]
    assert "after today in Norway (2026-11-22)" in rejected(future)[0][1]
    # 23:30 UTC on the 22nd is already the 23rd in Oslo: that day's date is today
    late = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    assert prepare(a_diagnosis(person(1), onset="2026-11-23"), now=late)["onset_date"] == date(
        2026, 11, 23
    )
    assert rejected(a_diagnosis(person(1), onset="2026-11-23"))[0][0] == "/onset"


@pytest.mark.parametrize("value", ["2026-02-30", "20260101", "2026-1-5"])
def test_a_date_that_is_not_a_date_is_refused(value: str) -> None:
    assert rejected(a_diagnosis(person(1), onset=value)) == [
        ("/onset", "is not a valid date (YYYY-MM-DD)")
    ]


@pytest.mark.parametrize("hpr", ["1234567\n", "0123456", "123456", "1234567890", "12 34567"])
def test_an_hpr_number_of_the_wrong_form_is_refused(hpr: str) -> None:
    record = a_diagnosis(person(1), recorded_by={"unit": "Sone Nord", "hpr": hpr})
    assert rejected(record) == [
        ("/recorded_by/hpr", "an HPR number is 7 to 9 digits, no leading zero")
    ]


def test_every_violation_of_a_record_is_reported_together() -> None:
    record = a_diagnosis(
        person(1),
        "K31",
        clinical_status="active",
        onset=day(3),
        abatement=day(1),
        recorded_by={"unit": "Sone Nord", "hpr": "0000001"},
    )
    assert [pointer for pointer, _ in rejected(record)] == [
        "/abatement",  # before the onset
        "/abatement",  # with an active status
        "/abatement",  # in the future
        "/code/code",
        "/onset",
        "/recorded_by/hpr",
    ]


def test_prepare_produces_the_row_columns() -> None:
    record = a_diagnosis(
        person(1),
        "I50.0",
        system="icd-10",
        display="Kongestiv hjertesvikt",
        clinical_status="remission",
        onset="2024-01-10",
        abatement="2026-10-01",
        recorded_by={"unit": "Sykehjemmet, avdeling 2", "hpr": "1234567"},
        note="Stabil på medisiner.",
    )
    assert prepare(record) == {
        "code_system": "icd-10",
        "code": "I500",
        "display": "Kongestiv hjertesvikt",
        "clinical_status": "remission",
        "verification_status": "confirmed",
        "onset_date": date(2024, 1, 10),
        "abatement_date": date(2026, 10, 1),
        "inactive_on": date(2026, 10, 1),
        "recorded_by_unit": "Sykehjemmet, avdeling 2",
        "recorded_by_hpr": "1234567",
        "note": "Stabil på medisiner.",
    }


@pytest.mark.parametrize(
    ("clinical", "updated", "inactive_on"),
    [
        ("resolved", "2026-11-20T23:30:00+00:00", date(2026, 11, 21)),  # a day in Norway
        ("inactive", "2026-06-30T22:00:00+00:00", date(2026, 7, 1)),
        ("active", "2026-11-20T10:00:00+01:00", None),
        ("relapse", "2026-11-20T10:00:00+01:00", None),
    ],
)
def test_without_an_abatement_the_window_counts_from_the_last_update_in_norway(
    clinical: str, updated: str, inactive_on: date | None
) -> None:
    record = a_diagnosis(person(1), clinical_status=clinical, updated=updated)
    assert prepare(record)["inactive_on"] == inactive_on


# What a lookup shows


def test_refuted_and_entered_in_error_never_leave(stores: Stores) -> None:
    patient = person(1)
    shared: list[dict[str, Any]] = []
    never: list[dict[str, Any]] = []
    for clinical, verification in COMBINATIONS:
        if (clinical is None) != (verification == "entered-in-error"):
            continue
        record = a_diagnosis(patient, clinical_status=clinical, verification_status=verification)
        (never if verification in ("refuted", "entered-in-error") else shared).append(record)
    ingest(stores, *shared, *never)
    found = query(stores, patient)[patient]
    assert sorted(ids(found)) == sorted(r["id"] for r in shared)
    assert len(never) == 7  # 6 refuted, 1 entered in error
    everything = query(stores, patient, include_resolved=True)[patient]
    assert sorted(ids(everything)) == sorted(r["id"] for r in shared)
    assert found["active_count"] == 9  # active, recurrence, relapse × 3 verifications
    assert {d["verification_status"] for d in found["diagnoses"]} == {
        "confirmed",
        "provisional",
        "differential",
    }


def test_a_person_with_only_refuted_diagnoses_is_absent(stores: Stores) -> None:
    refuted, other = person(1), person(2)
    ingest(
        stores,
        a_diagnosis(refuted, "K90", verification_status="refuted", clinical_status="resolved"),
        a_diagnosis(other),
    )
    assert set(query(stores, refuted, other, include_resolved=True)) == {other}


def test_active_first_most_recent_onset_first_unknown_onset_last_then_most_recently_over(
    stores: Stores,
) -> None:
    patient = person(1)
    ingest(
        stores,
        a_diagnosis(
            patient,
            "R81",
            id="over-long-ago",
            clinical_status="resolved",
            onset=day(-900),
            abatement=day(-800),
        ),
        a_diagnosis(patient, "K86", id="active-unknown-onset"),
        a_diagnosis(patient, "T90", id="active-old", onset=day(-3000)),
        a_diagnosis(
            patient,
            "U71",
            id="over-recently",
            clinical_status="resolved",
            onset=day(-40),
            abatement=day(-30),
        ),
        a_diagnosis(patient, "P70", id="relapse-new", clinical_status="relapse", onset=day(-20)),
        a_diagnosis(
            patient, "K77", id="recurrence-mid", clinical_status="recurrence", onset=day(-400)
        ),
        a_diagnosis(
            patient,
            "P76",
            id="remission-updated",
            clinical_status="remission",
            updated="2026-11-01T10:00:00+01:00",
        ),
    )
    found = query(stores, patient)[patient]
    assert ids(found) == [
        "relapse-new",
        "recurrence-mid",
        "active-old",
        "active-unknown-onset",
        "remission-updated",  # inactive since its update on 1 November
        "over-recently",
        "over-long-ago",
    ]
    assert found["active_count"] == 4


def test_equal_onsets_are_ordered_by_code_then_id(stores: Stores) -> None:
    patient = person(1)
    ingest(
        stores,
        a_diagnosis(patient, "T90", id="b", onset=day(-10)),
        a_diagnosis(patient, "K77", id="d", onset=day(-10)),
        a_diagnosis(patient, "E119", id="c", system="icd-10", onset=day(-10)),
        a_diagnosis(patient, "K77", id="a", onset=day(-10)),
    )
    assert ids(query(stores, patient)[patient]) == ["c", "a", "d", "b"]


def test_the_window_is_five_years_by_default_judged_by_the_abatement(stores: Stores) -> None:
    patient = person(1)
    five_years_ago = years_before(TODAY, 5)
    ingest(
        stores,
        a_diagnosis(
            patient,
            "R81",
            id="abated-five-years-ago",
            clinical_status="resolved",
            abatement=five_years_ago.isoformat(),
        ),
        a_diagnosis(
            patient,
            "U71",
            id="abated-a-day-earlier",
            clinical_status="resolved",
            abatement=(five_years_ago - timedelta(days=1)).isoformat(),
        ),
        a_diagnosis(
            patient,
            "L75",
            id="inactive-old-onset-recent-update",
            clinical_status="inactive",
            onset="2001-01-01",
        ),
        a_diagnosis(patient, "T90", id="active-since-2001", onset="2001-01-01"),
    )
    assert sorted(ids(query(stores, patient)[patient])) == [
        "abated-five-years-ago",
        "active-since-2001",
        "inactive-old-onset-recent-update",
    ]
    assert query(stores, patient, settings={"resolved_window_years": 5}) == query(stores, patient)


def test_without_an_abatement_the_window_is_judged_by_the_update(stores: Stores) -> None:
    patient = person(1)
    ingest(
        stores,
        a_diagnosis(
            patient,
            "R81",
            id="updated-six-years-ago",
            clinical_status="resolved",
            updated="2020-11-01T10:00:00+01:00",
        ),
        a_diagnosis(
            patient,
            "U71",
            id="updated-four-years-ago",
            clinical_status="inactive",
            updated="2022-11-01T10:00:00+01:00",
        ),
    )
    assert ids(query(stores, patient)[patient]) == ["updated-four-years-ago"]


def test_the_municipality_sets_the_window(stores: Stores) -> None:
    patient = person(1)
    ingest(
        stores,
        a_diagnosis(patient, "T90", id="active"),
        a_diagnosis(
            patient,
            "R81",
            id="resolved-two-years-ago",
            clinical_status="resolved",
            abatement=day(-730),
        ),
        a_diagnosis(
            patient, "U71", id="resolved-yesterday", clinical_status="resolved", abatement=day(-1)
        ),
    )
    one = query(stores, patient, settings={"resolved_window_years": 1})[patient]
    assert ids(one) == ["active", "resolved-yesterday"]
    none = query(stores, patient, settings={"resolved_window_years": 0})[patient]
    assert ids(none) == ["active"]
    everything = query(
        stores, patient, settings={"resolved_window_years": 0}, include_resolved=True
    )[patient]
    assert ids(everything) == ["active", "resolved-yesterday", "resolved-two-years-ago"]
    assert everything["active_count"] == 1


def test_a_person_with_only_old_resolved_diagnoses_is_absent_unless_asked(stores: Stores) -> None:
    patient = person(1)
    ingest(stores, a_diagnosis(patient, "R81", clinical_status="resolved", abatement="2010-01-01"))
    assert query(stores, patient) == {}
    found = query(stores, patient, include_resolved=True)[patient]
    assert (found["active_count"], len(found["diagnoses"])) == (0, 1)


@pytest.mark.parametrize(
    ("day_", "years", "expected"),
    [
        (date(2026, 11, 22), 5, date(2021, 11, 22)),
        (date(2028, 2, 29), 1, date(2027, 2, 28)),
        (date(2028, 2, 29), 4, date(2024, 2, 29)),
        (date(2026, 1, 1), 0, date(2026, 1, 1)),
    ],
)
def test_years_before(day_: date, years: int, expected: date) -> None:
    assert years_before(day_, years) == expected


@pytest.mark.parametrize("value", [-1, 101, "5", 1.5, True, None])
def test_a_broken_window_setting_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="resolved_window_years"):
        resolved_window_years({"resolved_window_years": value})


# Excluded code ranges


EXCLUDING = {"excluded_codes": {"icpc-2": ["P"], "icd-10": ["F00-F99", "Z70-Z76"]}}


def test_excluded_code_ranges_are_stored_but_never_leave(stores: Stores) -> None:
    patient, only_excluded = person(1), person(2)
    ingest(
        stores,
        a_diagnosis(patient, "T90", id="diabetes"),
        a_diagnosis(patient, "P70", id="dementia-icpc"),
        a_diagnosis(patient, "F03", id="dementia-icd", system="icd-10"),
        a_diagnosis(patient, "F10.2", id="alcohol", system="icd-10"),
        a_diagnosis(patient, "G30.1", id="alzheimer", system="icd-10"),
        a_diagnosis(
            patient,
            "Z71",
            id="counselling",
            system="icd-10",
            clinical_status="resolved",
            abatement=day(-3),
        ),
        a_diagnosis(only_excluded, "P76", id="depression"),
    )
    with stores.tenant_engine(BODO).connect() as connection:
        stored = set(connection.execute(select(spec.table.c.record_id)).scalars())
    assert {"dementia-icpc", "alcohol", "depression"} <= stored

    found = query(stores, patient, only_excluded, settings=EXCLUDING)
    assert set(found) == {patient}
    assert ids(found[patient]) == ["alzheimer", "diabetes"]  # no onsets: by system, code
    assert found[patient]["active_count"] == 2
    asked = query(stores, patient, only_excluded, settings=EXCLUDING, include_resolved=True)
    assert asked == found

    unfiltered = query(stores, patient, only_excluded)
    assert len(unfiltered[patient]["diagnoses"]) == 6
    assert ids(unfiltered[only_excluded]) == ["depression"]


def test_an_exclusion_covers_what_the_source_sent_with_or_without_the_dot(stores: Stores) -> None:
    patient = person(1)
    ingest(
        stores,
        a_diagnosis(patient, "F32.1", id="with-dot", system="icd-10"),
        a_diagnosis(patient, "F321", id="without-dot", system="icd-10"),
        a_diagnosis(patient, "F32", id="category", system="icd-10"),
        a_diagnosis(patient, "F33", id="other", system="icd-10"),
    )
    found = query(stores, patient, settings={"excluded_codes": {"icd-10": ["F32.1"]}})
    assert ids(found[patient]) == ["other"]


# The result as sent


def test_a_diagnosis_is_the_stored_record_without_the_patient(stores: Stores) -> None:
    patient = person(1)
    record = a_diagnosis(
        patient,
        "I50.0",
        system="icd-10",
        display="Kongestiv hjertesvikt",
        onset="2019-03-01",
        recorded_by={"unit": "Hjemmetjenesten sone Sentrum", "hpr": "1234567"},
        note="Daglig vekt.",
    )
    ingest(stores, record)
    [diagnosis] = query(stores, patient)[patient]["diagnoses"]
    assert diagnosis == {
        "id": record["id"],
        "updated": datetime(2026, 11, 20, 13, 5, tzinfo=UTC),
        "code": {"system": "icd-10", "code": "I500", "display": "Kongestiv hjertesvikt"},
        "clinical_status": "active",
        "verification_status": "confirmed",
        "onset": date(2019, 3, 1),
        "abatement": None,
        "recorded_by": {"unit": "Hjemmetjenesten sone Sentrum", "hpr": "1234567"},
        "note": "Daglig vekt.",
    }


def test_result_matches_the_published_result_schema(stores: Stores, schemas: Schemas) -> None:
    patient = person(1)
    ingest(
        stores,
        a_diagnosis(patient),
        a_diagnosis(patient, "E11.9", system="icd-10", verification_status="provisional"),
        a_diagnosis(patient, "R81", clinical_status="resolved", abatement=day(-2), note=None),
    )
    entry = {"patient": patient, "kommunenummer": BODO, **query(stores, patient)[patient]}
    as_sent = orjson.loads(orjson.dumps(entry, option=orjson.OPT_UTC_Z))
    assert schemas.errors(as_sent, spec.result_schema) == []
    assert as_sent["diagnoses"][0]["updated"] == "2026-11-20T13:05:00Z"


def test_active_statuses_are_the_three_fhir_calls_active() -> None:
    assert frozenset({"active", "recurrence", "relapse"}) == ACTIVE
