"""NEWS2 ingest rules, the board's query and retention, against a real SQLite tenant store."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy import inspect, select

from journalloft.platform.core.identifiers import synthetic_person_id
from journalloft.platform.core.settings import Settings
from journalloft.platform.http.problems import JSONResponse
from journalloft.platform.plugins.service_protocol import (
    IngestContext,
    Purgeable,
    PurgeContext,
    QueryContext,
    RecordRejected,
)
from journalloft.platform.storage.engines import Stores
from journalloft.platform.storage.migrations import migrate_tenant
from journalloft.platform.storage.records import stored_row, upsert_records, withdraw_record
from journalloft.services.news2 import spec
from journalloft.services.news2.scoring import Vitals, score
from support import query_service
from support.platform import Backend

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
KOMMUNE = "1804"
SOURCE = "bodo-epj"
RNG = random.Random("news2-service")
ANNE, BJORN, CECILIE = (synthetic_person_id(RNG) for _ in range(3))

_ids = iter(range(1, 1_000_000))


def measurement(
    patient: str = ANNE, *, ago: timedelta = timedelta(hours=1), **changes: Any
) -> dict[str, Any]:
    """A complete set of vital signs scoring 0, measured ``ago`` before NOW, with ``changes``."""
    effective = NOW - ago
    record: dict[str, Any] = {
        "id": f"m-{next(_ids)}",
        "patient": patient,
        "updated": (effective + timedelta(minutes=2)).isoformat(),
        "effective": effective.isoformat(),
        "spo2_scale": 1,
        "respiration_rate": 16,
        "spo2": 98,
        "supplemental_oxygen": False,
        "systolic_bp": 120,
        "pulse": 70,
        "consciousness": "A",
        "temperature": 37.0,
        "recorded_by": {"name": "Kari Nordmann", "hpr": "1234567"},
        "location": "Hjemmesykepleien sone sør",
    }
    record.update(changes)
    return record


def with_total(total: int, patient: str = ANNE, **changes: Any) -> dict[str, Any]:
    """A complete set whose NEWS2 total is ``total`` (0-9), raised through pulse and RR."""
    steps: dict[int, dict[str, Any]] = {
        0: {},
        1: {"pulse": 95},
        2: {"pulse": 115},
        3: {"pulse": 135},
        4: {"pulse": 135, "respiration_rate": 10},
        5: {"pulse": 135, "respiration_rate": 22},
        6: {"pulse": 135, "respiration_rate": 26},
        7: {"pulse": 135, "respiration_rate": 26, "temperature": 38.5},
        9: {"pulse": 135, "respiration_rate": 26, "temperature": 34.0},
    }
    record = measurement(patient, **{**steps[total], **changes})
    assert score(vitals(record)).total == total
    return record


def vitals(record: dict[str, Any]) -> Vitals:
    names = ("respiration_rate", "spo2", "supplemental_oxygen", "systolic_bp", "pulse")
    return Vitals(
        spo2_scale=record["spo2_scale"],
        consciousness=record.get("consciousness"),
        temperature=record.get("temperature"),
        **{name: record.get(name) for name in names},
    )


def prepare(record: dict[str, Any], *, now: datetime = NOW) -> dict[str, Any]:
    context = IngestContext(kommunenummer=KOMMUNE, source=SOURCE, now=now, settings={})
    return spec.prepare(record, context=context)


def rejection(record: dict[str, Any], *, now: datetime = NOW) -> dict[str, str]:
    with pytest.raises(RecordRejected) as caught:
        prepare(record, now=now)
    return {error.pointer: error.message for error in caught.value.errors}


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    """A migrated SQLite tenant store for 1804."""
    stores = Stores(Settings(data_dir=tmp_path))
    stores.create_tenant_store(KOMMUNE)
    migrate_tenant(stores, KOMMUNE, [spec])
    yield stores
    stores.dispose()


def store(stores: Stores, *records: dict[str, Any], source: str = SOURCE) -> None:
    """Store records as the platform's ingest does: prepared by the service, upserted."""
    rows = [
        stored_row(record, service_values=prepare(record), source=source, received_at=NOW)
        for record in records
    ]
    with stores.tenant_transaction(KOMMUNE) as connection:
        upsert_records(connection, spec.table, source=source, rows=rows)


def board(
    stores: Stores, patients: Sequence[str], *, now: datetime = NOW, **options: Any
) -> dict[str, dict[str, Any]]:
    context = QueryContext(
        kommunenummer=KOMMUNE,
        now=now,
        settings={},
        options={"patients": list(patients), **options},
    )
    found = query_service(stores, spec, KOMMUNE, patients=patients, context=context)
    rendered: dict[str, dict[str, Any]] = orjson.loads(JSONResponse(found).body)
    return rendered  # as the API writes it


def ids(result: dict[str, Any]) -> list[str]:
    return [m["id"] for m in result["measurements"]]


# --- ingest rules ----------------------------------------------------------------------------


def test_spec_is_a_purgeable_sharing_service() -> None:
    assert (spec.name, spec.title, spec.version) == ("news2", "NEWS2 målinger", "v1")
    assert spec.table.name == "news2_measurement"
    assert (spec.migrations / "news2_0001_measurements.py").is_file()
    assert isinstance(spec, Purgeable)


@pytest.mark.parametrize(
    "ahead",
    [timedelta(0), timedelta(minutes=4, seconds=59), timedelta(minutes=5)],
    ids=["now", "4m59s", "5m"],
)
def test_effective_up_to_five_minutes_ahead_is_clock_skew(ahead: timedelta) -> None:
    assert prepare(measurement(ago=-ahead))["effective"] == NOW + ahead


@pytest.mark.parametrize(
    "ahead", [timedelta(minutes=5, seconds=1), timedelta(hours=2)], ids=["5m01s", "2h"]
)
def test_effective_in_the_future_is_rejected_at_its_pointer(ahead: timedelta) -> None:
    errors = rejection(measurement(ago=-ahead))
    assert list(errors) == ["/effective"]
    assert "future" in errors["/effective"]


@pytest.mark.parametrize(
    ("effective", "accepted"),
    [
        ("2026-11-22T03:30:00+01:00", True),
        ("2026-11-22T04:05:00+01:00", True),
        ("2026-11-22T03:30:00+00:00", False),
        ("2026-11-22T04:05:01+01:00", False),
    ],
)
def test_effective_offsets_are_compared_as_instants(effective: str, accepted: bool) -> None:
    record = measurement(effective=effective)
    if accepted:
        assert prepare(record)["effective"] == datetime.fromisoformat(effective)
    else:
        assert list(rejection(record)) == ["/effective"]


def test_a_total_that_agrees_is_accepted() -> None:
    record = with_total(5, total_score=5)
    assert prepare(record)["pulse"] == 135


def test_a_total_that_disagrees_names_both_numbers() -> None:
    errors = rejection(with_total(5, total_score=4))
    assert list(errors) == ["/total_score"]
    assert "source's total 4" in errors["/total_score"]
    assert "NEWS2 total 5" in errors["/total_score"]


def test_an_incomplete_set_is_compared_with_its_lower_bound() -> None:
    record = with_total(6, temperature=None, consciousness=None)
    lower_bound = score(vitals(record)).total
    assert not score(vitals(record)).complete
    assert prepare({**record, "total_score": lower_bound})["temperature"] is None

    errors = rejection({**record, "total_score": lower_bound + 3})
    message = errors["/total_score"]
    assert f"source's total {lower_bound + 3}" in message
    assert f"platform's total {lower_bound}" in message
    assert "incomplete" in message
    assert "consciousness, temperature not scored" in message
    assert "lower bound" in message


def test_every_violation_of_a_record_is_reported() -> None:
    errors = rejection(with_total(3, total_score=0, ago=-timedelta(hours=1)))
    assert set(errors) == {"/effective", "/total_score"}


def test_vital_signs_are_stored_as_sent() -> None:
    record = measurement(
        temperature=36.05, spo2_scale=2, spo2=93, supplemental_oxygen=True, consciousness="C"
    )
    values = prepare(record)
    assert values["temperature"] == 36.05
    assert (values["spo2_scale"], values["spo2"], values["supplemental_oxygen"]) == (2, 93, True)
    assert values["consciousness"] == "C"
    assert (values["recorded_by_name"], values["recorded_by_hpr"]) == ("Kari Nordmann", "1234567")
    assert values["location"] == "Hjemmesykepleien sone sør"


def test_parameters_not_measured_may_be_null_or_absent() -> None:
    record = measurement(respiration_rate=None, recorded_by=None, location=None)
    for name in ("spo2", "supplemental_oxygen", "systolic_bp", "pulse", "temperature"):
        del record[name]
    values = prepare(record)
    assert all(values[name] is None for name in ("respiration_rate", "spo2", "pulse"))
    assert values["recorded_by_name"] is None
    assert values["location"] is None


# --- the board's query -----------------------------------------------------------------------


def test_measurements_come_newest_first_and_latest_is_the_newest(stores: Stores) -> None:
    old, newest, middle = (
        measurement(ago=timedelta(hours=30)),
        measurement(ago=timedelta(minutes=10)),
        measurement(ago=timedelta(hours=5)),
    )
    store(stores, old, newest, middle)
    result = board(stores, [ANNE])[ANNE]
    assert ids(result) == [newest["id"], middle["id"], old["id"]]
    assert result["latest"] == result["measurements"][0]


def test_the_window_is_72_hours_by_default(stores: Stores) -> None:
    inside = measurement(ago=timedelta(hours=72))
    outside = measurement(ago=timedelta(hours=72, seconds=1))
    store(stores, inside, outside)
    assert ids(board(stores, [ANNE])[ANNE]) == [inside["id"]]


def test_hours_changes_the_window(stores: Stores) -> None:
    recent = measurement(ago=timedelta(hours=2))
    older = measurement(ago=timedelta(hours=30))
    oldest = measurement(ago=timedelta(days=20))
    store(stores, recent, older, oldest)
    assert ids(board(stores, [ANNE], hours=24)[ANNE]) == [recent["id"]]
    assert ids(board(stores, [ANNE], hours=720)[ANNE]) == [recent["id"], older["id"], oldest["id"]]


def test_a_window_of_hours_is_tested_at_its_edge(stores: Stores) -> None:
    inside = measurement(ago=timedelta(hours=24))
    outside = measurement(ago=timedelta(hours=24, seconds=1))
    store(stores, inside, outside)
    assert ids(board(stores, [ANNE], hours=24)[ANNE]) == [inside["id"]]


def test_a_measurement_within_the_clock_skew_is_shown(stores: Stores) -> None:
    ahead = measurement(ago=-timedelta(minutes=3))
    store(stores, ahead, measurement(ago=timedelta(hours=1)))
    assert board(stores, [ANNE])[ANNE]["latest"]["id"] == ahead["id"]


def test_people_without_a_measurement_in_the_window_are_absent(stores: Stores) -> None:
    store(stores, measurement(ANNE), measurement(BJORN, ago=timedelta(hours=80)))
    assert set(board(stores, [ANNE, BJORN, CECILIE])) == {ANNE}


def test_each_measurement_carries_its_fields_and_score(stores: Stores) -> None:
    record = with_total(7, ago=timedelta(minutes=45))
    store(stores, record)
    latest = board(stores, [ANNE])[ANNE]["latest"]
    effective = datetime.fromisoformat(latest["effective"])
    assert effective == NOW - timedelta(minutes=45)
    assert datetime.fromisoformat(latest["updated"]) == datetime.fromisoformat(record["updated"])
    assert latest["id"] == record["id"]
    assert latest["recorded_by"] == {"name": "Kari Nordmann", "hpr": "1234567"}
    assert latest["location"] == "Hjemmesykepleien sone sør"
    assert (latest["pulse"], latest["respiration_rate"], latest["temperature"]) == (135, 26, 38.5)
    assert latest["score"] == {
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


def test_a_decimal_temperature_is_scored_as_sent(stores: Stores) -> None:
    store(stores, measurement(temperature=36.05))
    latest = board(stores, [ANNE])[ANNE]["latest"]
    assert latest["temperature"] == 36.05
    assert latest["score"]["parameters"]["temperature"] == 0


def test_scale_2_on_oxygen_is_scored_on_scale_2(stores: Stores) -> None:
    store(stores, measurement(spo2_scale=2, spo2=95, supplemental_oxygen=True))
    latest = board(stores, [ANNE])[ANNE]["latest"]
    assert latest["score"]["parameters"]["spo2"] == 2
    assert latest["score"]["parameters"]["air_or_oxygen"] == 2
    assert (latest["score"]["total"], latest["score"]["risk"]) == (4, "low")


def test_an_incomplete_set_is_reported_as_incomplete(stores: Stores) -> None:
    store(stores, with_total(5, temperature=None, consciousness=None))
    result = board(stores, [ANNE])[ANNE]["latest"]["score"]
    assert result["complete"] is False
    assert result["total"] == 5
    assert result["risk"] is None
    assert result["parameters"]["temperature"] is None
    assert result["parameters"]["consciousness"] is None


def test_an_incomplete_set_that_already_reaches_7_is_high(stores: Stores) -> None:
    store(stores, with_total(7, systolic_bp=None))
    result = board(stores, [ANNE])[ANNE]["latest"]["score"]
    assert (result["total"], result["risk"], result["complete"]) == (7, "high", False)


@pytest.mark.parametrize(
    ("previous", "latest", "change"),
    [(2, 5, "rising"), (6, 1, "falling"), (3, 3, "stable")],
)
def test_trend_compares_the_latest_total_with_the_previous(
    stores: Stores, previous: int, latest: int, change: str
) -> None:
    store(
        stores,
        with_total(0, ago=timedelta(hours=20)),
        with_total(previous, ago=timedelta(hours=8)),
        with_total(latest, ago=timedelta(hours=1)),
    )
    assert board(stores, [ANNE])[ANNE]["trend"] == {"previous_total": previous, "change": change}


def test_no_trend_with_one_measurement_in_the_window(stores: Stores) -> None:
    store(stores, with_total(1, ago=timedelta(hours=100)), with_total(5, ago=timedelta(hours=1)))
    assert board(stores, [ANNE])[ANNE]["trend"] is None


def test_a_withdrawn_measurement_is_not_shown(stores: Stores) -> None:
    kept, withdrawn = measurement(ago=timedelta(hours=3)), measurement(ago=timedelta(hours=1))
    store(stores, kept, withdrawn)
    with stores.tenant_transaction(KOMMUNE) as connection:
        withdraw_record(connection, spec.table, source=SOURCE, record_id=withdrawn["id"], now=NOW)
    assert ids(board(stores, [ANNE])[ANNE]) == [kept["id"]]


def test_a_newer_version_replaces_the_measurement(stores: Stores) -> None:
    first = with_total(1)
    store(stores, first)
    later = (datetime.fromisoformat(first["updated"]) + timedelta(minutes=5)).isoformat()
    store(stores, {**first, "pulse": 135, "updated": later})
    result = board(stores, [ANNE])[ANNE]
    assert ids(result) == [first["id"]]
    assert result["latest"]["score"]["total"] == 3


def test_measurements_from_two_sources_are_merged(stores: Stores) -> None:
    home = measurement(ago=timedelta(hours=4))
    nursing_home = measurement(ago=timedelta(hours=1), id=home["id"])
    store(stores, home)
    store(stores, nursing_home, source="bodo-sykehjem-epj")
    assert len(board(stores, [ANNE])[ANNE]["measurements"]) == 2


def test_200_people_are_read_in_one_round_trip(
    stores: Stores, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random("two hundred")
    patients = list(dict.fromkeys(synthetic_person_id(rng) for _ in range(260)))[:200]
    store(
        stores,
        *(measurement(p, ago=timedelta(hours=h)) for p in patients[:150] for h in (1, 10)),
    )
    with caplog.at_level(logging.DEBUG, logger="journalloft.sql"):
        result = board(stores, patients)
    assert len(result) == 150
    assert all(len(r["measurements"]) == 2 for r in result.values())
    queries = [r.getMessage() for r in caplog.records if r.name == "journalloft.sql"]
    assert len(queries) == 1
    assert queries[0].upper().startswith("SELECT")


def test_the_board_has_an_index_on_patient_and_effective(stores: Stores) -> None:
    with stores.tenant_engine(KOMMUNE).connect() as connection:
        indexes = inspect(connection).get_indexes("news2_measurement")
    found = {i["name"]: i["column_names"] for i in indexes}
    assert found["ix_news2_measurement_patient_effective"] == ["patient", "effective"]


# --- retention --------------------------------------------------------------------------------


def purge(stores: Stores, settings: dict[str, Any], *, now: datetime = NOW) -> int:
    context = PurgeContext(kommunenummer=KOMMUNE, now=now, settings=settings)
    with stores.tenant_transaction(KOMMUNE) as connection:
        return spec.purge(connection, context=context)


def stored_ids(stores: Stores) -> set[str]:
    with stores.tenant_engine(KOMMUNE).connect() as connection:
        return set(connection.execute(select(spec.table.c.record_id)).scalars())


def test_purge_deletes_measurements_older_than_30_days_by_default(stores: Stores) -> None:
    kept = [measurement(ago=timedelta(days=30)), measurement(BJORN, ago=timedelta(days=2))]
    gone = [
        measurement(ago=timedelta(days=30, seconds=1)),
        measurement(BJORN, ago=timedelta(days=400)),
    ]
    store(stores, *kept, *gone)
    assert purge(stores, {}) == 2
    assert stored_ids(stores) == {r["id"] for r in kept}
    assert purge(stores, {}) == 0


def test_purge_follows_the_tenants_retention_days(stores: Stores) -> None:
    recent, week_old = measurement(ago=timedelta(days=6)), measurement(ago=timedelta(days=8))
    store(stores, recent, week_old)
    assert purge(stores, {"retention_days": 7}) == 1
    assert stored_ids(stores) == {recent["id"]}


def test_purge_deletes_withdrawn_measurements_too(stores: Stores) -> None:
    old = measurement(ago=timedelta(days=31))
    store(stores, old)
    with stores.tenant_transaction(KOMMUNE) as connection:
        withdraw_record(connection, spec.table, source=SOURCE, record_id=old["id"], now=NOW)
    assert purge(stores, {"retention_days": 30}) == 1


# --- provenance (issue 23 item 4): news2_0003's nullable columns ----------------------------

PROVENANCE_COLUMNS = {
    "recorded_by_national_id",
    "data_controller_orgnr",
    "data_controller_resh",
    "data_controller_name",
    "source_system",
    "interpretations",
}

PROVENANCE_FIELDS = {"data_controller", "source_system", "interpretations"}
"""The answer's fields that are there only when the source sent them."""


def test_provenance_is_stored_and_answered_as_sent(stores: Stores) -> None:
    sent = measurement(
        ANNE,
        recorded_by={"name": "Kari Nordmann", "hpr": None, "national_id": BJORN},
        data_controller={"orgnr": "999999999", "name": "Hjemmetjenesten"},
        source_system="MEDANETS",
        interpretations={"pulse": "≤40", "temperature": "≤35.0"},
    )
    store(stores, sent)
    latest = board(stores, [ANNE])[ANNE]["latest"]
    assert latest["recorded_by"] == {"name": "Kari Nordmann", "hpr": None, "national_id": BJORN}
    assert latest["data_controller"] == {"orgnr": "999999999", "name": "Hjemmetjenesten"}
    assert latest["source_system"] == "MEDANETS"
    assert latest["interpretations"] == {"pulse": "≤40", "temperature": "≤35.0"}
    store(stores, measurement(CECILIE, data_controller={"resh": "4001"}))
    assert board(stores, [CECILIE])[CECILIE]["latest"]["data_controller"] == {
        "resh": "4001",
        "name": None,
    }


def test_without_provenance_nothing_is_added(stores: Stores) -> None:
    store(stores, measurement(ANNE, recorded_by=None))
    latest = board(stores, [ANNE])[ANNE]["latest"]
    assert latest["recorded_by"] is None
    assert not PROVENANCE_FIELDS & set(latest)


def test_news2_0003_adds_nullable_columns_and_keeps_what_was_stored(
    backend: Backend, tmp_path: Path
) -> None:
    """A store at news2_0002 with a measurement in it: migrated to the head, the table has the
    model's columns (the new ones nullable) and the measurement is answered as before."""
    from alembic import command
    from sqlalchemy import Table

    from journalloft.platform.storage.migrations import _config, _version_schema
    from journalloft.platform.storage.records import stored_row as row_of
    from support.platform import make_settings

    stores = Stores(make_settings(backend, tmp_path))
    stores.create_tenant_store(KOMMUNE)
    config = _config(stores, "tenant", [spec])
    record = measurement(ANNE)
    with stores.tenant_transaction(KOMMUNE) as connection:
        config.attributes["connection"] = connection
        config.attributes["version_table_schema"] = _version_schema(stores, KOMMUNE)
        command.upgrade(config, "news2_0002")
        older = Table(
            "news2_measurement",
            sa.MetaData(),
            *(c._copy() for c in spec.table.columns if c.name not in PROVENANCE_COLUMNS),
            schema=spec.table.schema,
        )
        values = row_of(record, service_values=prepare(record), source=SOURCE, received_at=NOW)
        connection.execute(
            sa.insert(older).values(
                {k: v for k, v in values.items() if k not in PROVENANCE_COLUMNS}
            )
        )
    migrate_tenant(stores, KOMMUNE, [spec])
    with stores.tenant_engine(KOMMUNE).connect() as connection:
        schema = _version_schema(stores, KOMMUNE)
        columns = {
            c["name"]: c
            for c in inspect(connection).get_columns("news2_measurement", schema=schema)
        }
    assert list(columns) == [c.name for c in spec.table.columns]
    assert {n: c["nullable"] for n, c in columns.items()} == {
        c.name: c.nullable for c in spec.table.columns
    }
    assert all(columns[name]["nullable"] for name in PROVENANCE_COLUMNS)
    latest = board(stores, [ANNE])[ANNE]["latest"]
    assert latest["id"] == record["id"]
    assert latest["recorded_by"] == {"name": "Kari Nordmann", "hpr": "1234567"}
    assert not PROVENANCE_FIELDS & set(latest)
    stores.dispose()
