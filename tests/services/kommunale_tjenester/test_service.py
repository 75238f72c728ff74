import random
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from journalloft.platform.core.identifiers import synthetic_person_id
from journalloft.platform.core.jsonschemas import Schemas
from journalloft.platform.plugins.service_protocol import (
    IngestContext,
    QueryContext,
    RecordRejected,
)
from journalloft.platform.storage.engines import Stores
from journalloft.platform.storage.records import (
    IngestCounts,
    stored_row,
    upsert_records,
    withdraw_record,
)
from journalloft.plugin import OSLO
from journalloft.services.kommunale_tjenester import spec
from journalloft.services.kommunale_tjenester.service import ended_window_days
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
    return service_schemas("kommunale_tjenester")


def person(seed: int) -> str:
    return synthetic_person_id(random.Random(seed))


def day(offset: int) -> str:
    """A date relative to TODAY, as a journal system writes it."""
    return (TODAY + timedelta(days=offset)).isoformat()


_ids = iter(range(1, 1_000_000))


def a_service(patient: str, **fields: Any) -> dict[str, Any]:
    """One record as a journal system sends it; home nursing since 100 days ago by default."""
    return {
        "id": f"GER-{next(_ids):06d}",
        "patient": patient,
        "updated": "2026-11-20T14:05:00+01:00",
        "service_code": "15",
        "description": "Medisinhåndtering morgen og kveld",
        "unit": {"name": "Hjemmetjenesten sone Sentrum", "phone": "+47 75 55 12 34"},
        "start": day(-100),
        **fields,
    }


def prepare(record: Mapping[str, Any]) -> dict[str, Any]:
    context = IngestContext(kommunenummer=BODO, source=SOURCE, now=NOW, settings={})
    return spec.prepare(record, context=context)


def ingest(stores: Stores, *records: dict[str, Any]) -> IngestCounts:
    """What the platform's ingest does with a valid batch."""
    rows = [
        stored_row(record, service_values=prepare(record), source=SOURCE, received_at=NOW)
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
        settings={"ended_window_days": 90} if settings is None else settings,
        options={"patients": list(patients), **options},
    )
    return query_service(stores, spec, BODO, patients=patients, context=context)


def statuses(found: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["id"], s["status"]) for s in found["services"]]


def rejected(record: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(RecordRejected) as caught:
        prepare(record)
    return [(e.pointer, e.message) for e in caught.value.errors]


# Rules


@pytest.mark.parametrize(("sent", "stored"), [("15", "15"), ("015", "15"), ("06", "6"), ("4", "4")])
def test_padded_service_codes_are_stored_normalised(sent: str, stored: str) -> None:
    assert prepare(a_service(person(1), service_code=sent))["service_code"] == stored


@pytest.mark.parametrize("code", ["99", "30", "0", "000"])
def test_unknown_service_code_is_refused_at_its_pointer(code: str) -> None:
    [(pointer, message)] = rejected(a_service(person(1), service_code=code))
    assert pointer == "/service_code"
    assert "9151" in message


@pytest.mark.parametrize("code", ["10", "12", "13", "16", "016"])
def test_retired_service_code_is_refused_at_its_pointer(code: str) -> None:
    [(pointer, message)] = rejected(a_service(person(1), service_code=code))
    assert pointer == "/service_code"
    assert "retired" in message


def test_end_before_start_is_refused_at_the_end() -> None:
    [(pointer, message)] = rejected(a_service(person(1), start="2026-05-02", end="2026-05-01"))
    assert pointer == "/end"
    assert "2026-05-02" in message


def test_end_on_the_start_day_is_a_one_day_service() -> None:
    columns = prepare(a_service(person(1), start="2026-05-02", end="2026-05-02"))
    assert (columns["start_date"], columns["end_date"]) == (date(2026, 5, 2), date(2026, 5, 2))


def test_every_violation_of_a_record_is_reported_together() -> None:
    record = a_service(person(1), service_code="12", start="2026-05-02", end="2026-01-01")
    assert [pointer for pointer, _ in rejected(record)] == ["/service_code", "/end"]


def test_prepare_produces_the_row_columns() -> None:
    record = a_service(
        person(1),
        service_code="020",
        unit={"name": "Korttidsavdelingen"},
        start="2026-11-01",
        end=None,
        stay_type="korttidsopphold",
        weekly_extent="døgn",
    )
    assert prepare(record) == {
        "service_code": "20",
        "description": "Medisinhåndtering morgen og kveld",
        "unit_name": "Korttidsavdelingen",
        "unit_phone": None,
        "start_date": date(2026, 11, 1),
        "end_date": None,
        "temporary_cessation": False,
        "weekly_extent": "døgn",
        "stay_type": "korttidsopphold",
    }


# Query


def test_services_come_active_first_then_planned_paused_ended_newest_start_first(
    stores: Stores,
) -> None:
    patient = person(1)
    ingest(
        stores,
        a_service(patient, id="ended-old", start=day(-400), end=day(-60)),
        a_service(patient, id="active-old", start=day(-900)),
        a_service(patient, id="paused", start=day(-300), temporary_cessation=True),
        a_service(patient, id="planned", service_code="20", start=day(5), end=day(19)),
        a_service(patient, id="active-new", service_code="06", start=day(-10)),
        a_service(patient, id="ended-new", service_code="19", start=day(-30), end=day(-1)),
    )
    found = query(stores, patient)[patient]
    assert statuses(found) == [
        ("active-new", "active"),
        ("active-old", "active"),
        ("planned", "planned"),
        ("paused", "paused"),
        ("ended-new", "ended"),
        ("ended-old", "ended"),
    ]
    assert found["active_count"] == 2


def test_a_service_shows_its_name_unit_and_phone(stores: Stores) -> None:
    patient = person(1)
    record = a_service(patient, service_code="015", weekly_extent="14 besøk")
    ingest(stores, record)
    [service] = query(stores, patient)[patient]["services"]
    assert service == {
        "id": record["id"],
        "service_code": "15",
        "service_name": "Helsetjenester i hjemmet (hjemmesykepleie)",
        "description": "Medisinhåndtering morgen og kveld",
        "unit": {"name": "Hjemmetjenesten sone Sentrum", "phone": "+47 75 55 12 34"},
        "start": TODAY - timedelta(days=100),
        "end": None,
        "temporary_cessation": False,
        "weekly_extent": "14 besøk",
        "stay_type": None,
        "status": "active",
        "updated": datetime(2026, 11, 20, 13, 5, tzinfo=UTC),
    }


def test_a_service_without_unit_has_unit_null(stores: Stores) -> None:
    patient = person(1)
    record = a_service(patient)
    del record["unit"]
    ingest(stores, record)
    [service] = query(stores, patient)[patient]["services"]
    assert service["unit"] is None


def test_result_matches_the_published_result_schema(stores: Stores, schemas: Schemas) -> None:
    patient = person(1)
    ingest(
        stores,
        a_service(patient),
        a_service(patient, service_code="6", unit=None, start=day(3)),
        a_service(patient, service_code="19", end=day(-2), stay_type="korttidsopphold"),
    )
    entry = {"patient": patient, "kommunenummer": BODO, **query(stores, patient)[patient]}
    as_sent = orjson.loads(orjson.dumps(entry))
    assert as_sent["services"][0]["start"] == day(-100)
    assert schemas.errors(as_sent, spec.result_schema) == []


@pytest.mark.parametrize(
    ("boundary", "now", "expected"),
    [
        # Summer: Norwegian midnight is 22:00Z.
        ("2026-07-01", datetime(2026, 6, 30, 21, 59, 59, tzinfo=UTC), ["planned", "active"]),
        ("2026-07-01", datetime(2026, 6, 30, 22, 0, 0, tzinfo=UTC), ["active", "ended"]),
        # Clocks go forward on 2026-03-29: that night ends at 22:00Z.
        ("2026-03-30", datetime(2026, 3, 29, 21, 59, 59, tzinfo=UTC), ["planned", "active"]),
        ("2026-03-30", datetime(2026, 3, 29, 22, 0, 0, tzinfo=UTC), ["active", "ended"]),
        # Clocks go back on 2026-10-25: that night ends at 23:00Z.
        ("2026-10-26", datetime(2026, 10, 25, 22, 59, 59, tzinfo=UTC), ["planned", "active"]),
        ("2026-10-26", datetime(2026, 10, 25, 23, 0, 0, tzinfo=UTC), ["active", "ended"]),
        # Winter: 23:00Z.
        ("2026-01-16", datetime(2026, 1, 15, 22, 59, 59, tzinfo=UTC), ["planned", "active"]),
        ("2026-01-16", datetime(2026, 1, 15, 23, 0, 0, tzinfo=UTC), ["active", "ended"]),
    ],
)
def test_status_changes_at_midnight_in_oslo(
    stores: Stores, boundary: str, now: datetime, expected: list[str]
) -> None:
    patient = person(1)
    day_before = (date.fromisoformat(boundary) - timedelta(days=1)).isoformat()
    ingest(
        stores,
        a_service(patient, id="starts", start=boundary),
        a_service(patient, id="ends", start="2025-01-01", end=day_before),
    )
    found = {s["id"]: s["status"] for s in query(stores, patient, now=now)[patient]["services"]}
    assert [found["starts"], found["ends"]] == expected


def test_ended_services_older_than_the_window_are_left_out(stores: Stores) -> None:
    patient = person(1)
    ingest(
        stores,
        a_service(patient, id="current"),
        a_service(patient, id="ended-90-days-ago", start=day(-200), end=day(-90)),
        a_service(patient, id="ended-91-days-ago", start=day(-200), end=day(-91)),
    )
    default = query(stores, patient, settings={})[patient]
    assert [s["id"] for s in default["services"]] == ["current", "ended-90-days-ago"]
    assert query(stores, patient)[patient] == default
    shorter = query(stores, patient, settings={"ended_window_days": 0})[patient]
    assert [s["id"] for s in shorter["services"]] == ["current"]


def test_include_ended_returns_every_ended_service(stores: Stores) -> None:
    patient = person(1)
    ingest(
        stores,
        a_service(patient, id="current"),
        a_service(patient, id="ended-long-ago", start=day(-3000), end=day(-2000)),
    )
    found = query(stores, patient, settings={"ended_window_days": 0}, include_ended=True)
    assert statuses(found[patient]) == [("current", "active"), ("ended-long-ago", "ended")]
    assert found[patient]["active_count"] == 1


def test_person_with_only_old_ended_services_is_absent(stores: Stores) -> None:
    only_old, current = person(1), person(2)
    ingest(
        stores,
        a_service(only_old, start=day(-800), end=day(-400)),
        a_service(only_old, service_code="6", start=day(-800), end=day(-120)),
        a_service(current),
    )
    assert set(query(stores, only_old, current)) == {current}
    found = query(stores, only_old, include_ended=True)[only_old]
    assert found["active_count"] == 0
    assert [s["status"] for s in found["services"]] == ["ended", "ended"]


def test_people_without_services_are_absent(stores: Stores) -> None:
    assert query(stores, person(1), person(2)) == {}


def test_newer_update_replaces_older_is_ignored_same_is_unchanged(stores: Stores) -> None:
    patient = person(1)
    first = a_service(patient, id="GER-1", updated="2026-11-20T10:00:00+01:00")
    assert ingest(stores, first).created == 1
    assert ingest(stores, first).unchanged == 1
    ended = {**first, "updated": "2026-11-21T10:00:00+01:00", "end": day(-1)}
    assert ingest(stores, ended).updated == 1
    older = {**first, "updated": "2026-11-19T10:00:00+01:00", "temporary_cessation": True}
    assert ingest(stores, older).stale == 1
    assert statuses(query(stores, patient)[patient]) == [("GER-1", "ended")]


def test_withdrawn_service_disappears(stores: Stores) -> None:
    patient = person(1)
    kept, withdrawn = a_service(patient), a_service(patient, service_code="6")
    ingest(stores, kept, withdrawn)
    with stores.tenant_transaction(BODO) as connection:
        withdraw_record(connection, spec.table, source=SOURCE, record_id=withdrawn["id"], now=NOW)
    assert [s["id"] for s in query(stores, patient)[patient]["services"]] == [kept["id"]]


@pytest.mark.parametrize("value", [-1, 3651, "90", 1.5, True, None])
def test_a_broken_window_setting_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="ended_window_days"):
        ended_window_days({"ended_window_days": value})


# Schemas


def test_record_schema_example_is_valid(schemas: Schemas) -> None:
    [example] = schemas.documents[spec.record_schema]["examples"]
    assert schemas.errors(example, spec.record_schema) == []
    prepare(example)


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"service_code": "1234"}, "/service_code"),
        ({"service_code": 15}, "/service_code"),
        ({"stay_type": "langtidsopphold"}, "/stay_type"),
        ({"start": "1.3.2026"}, "/start"),
        ({"end": "2026-02-30"}, "/end"),
        ({"description": "x" * 1001}, "/description"),
        ({"weekly_extent": "x" * 101}, "/weekly_extent"),
        ({"unit": {"phone": "+47 75 55 12 34"}}, "/unit/name"),
        ({"unit": {"name": ""}}, "/unit/name"),
        ({"unit": {"name": "Sone Nord", "phone": "ring sentralbordet"}}, "/unit/phone"),
        ({"temporary_cessation": "ja"}, "/temporary_cessation"),
        ({"colour": "blue"}, "/colour"),
        ({"patient": "1234"}, "/patient"),
    ],
)
def test_record_schema_refuses_what_a_journal_system_gets_wrong(
    schemas: Schemas, change: dict[str, Any], pointer: str
) -> None:
    errors = schemas.errors({**a_service(person(1)), **change}, spec.record_schema)
    assert [e.pointer for e in errors] == [pointer]


def test_record_schema_accepts_nulls_for_optional_fields(schemas: Schemas) -> None:
    record = a_service(
        person(1), description=None, unit=None, end=None, weekly_extent=None, stay_type=None
    )
    assert schemas.errors(record, spec.record_schema) == []


@pytest.mark.parametrize(
    ("body", "pointers"),
    [
        ({"patients": ["22750884907"], "include_ended": True}, []),
        ({"patients": ["22750884907"], "kommuner": ["1804"]}, []),
        ({"patients": ["22750884907"], "include_ended": "yes"}, ["/include_ended"]),
        ({"patients": ["22750884907"], "hours": 3}, ["/hours"]),
        ({"patients": []}, ["/patients"]),
    ],
)
def test_query_schema(schemas: Schemas, body: dict[str, Any], pointers: list[str]) -> None:
    assert [e.pointer for e in schemas.errors(body, spec.query_schema)] == pointers


@pytest.mark.parametrize(
    ("settings", "valid"),
    [
        ({}, True),
        ({"ended_window_days": 30}, True),
        ({"ended_window_days": -1}, False),
        ({"ended_window_days": 3651}, False),
        ({"window": 3}, False),
    ],
)
def test_settings_schema(schemas: Schemas, settings: dict[str, Any], valid: bool) -> None:
    assert spec.settings_schema is not None
    assert (schemas.errors(settings, spec.settings_schema) == []) is valid


# Demo data


def test_demo_records_are_valid_and_show_every_status(stores: Stores, schemas: Schemas) -> None:
    patients = [person(seed) for seed in range(40)]
    records = spec.demo_records(rng=random.Random(7), patients=patients, now=NOW)
    for record in records:
        assert schemas.errors(record, spec.record_schema) == [], record
    assert len({r["id"] for r in records}) == len(records)
    assert all(datetime.fromisoformat(r["updated"]) <= NOW for r in records)
    ingest(stores, *records)
    found = query(stores, *patients, include_ended=True)
    assert set(found) == set(patients)
    services = [s for entry in found.values() for s in entry["services"]]
    assert {s["status"] for s in services} == {"active", "planned", "paused", "ended"}
    home_nursing = [s for s in services if s["service_code"] == "15"]
    assert home_nursing
    assert all(s["unit"]["name"].startswith("Hjemmetjenesten sone ") for s in home_nursing)
    assert all(s["unit"]["phone"].startswith("+47 ") for s in home_nursing)
    assert {"4", "6"} <= {s["service_code"] for s in services}
    assert any(s["stay_type"] == "korttidsopphold" for s in services)


def test_demo_records_are_reproducible_from_the_seed() -> None:
    patients = [person(seed) for seed in range(10)]
    first = spec.demo_records(rng=random.Random(3), patients=patients, now=NOW)
    again = spec.demo_records(rng=random.Random(3), patients=patients, now=NOW)
    assert first == again
    assert spec.demo_records(rng=random.Random(3), patients=[], now=NOW) == []
