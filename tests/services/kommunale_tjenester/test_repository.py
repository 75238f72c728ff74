import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, inspect, update

from journalloft.platform.core.identifiers import synthetic_person_id
from journalloft.platform.storage.engines import Stores
from journalloft.platform.storage.migrations import migrate_tenant
from journalloft.platform.storage.statements import PATIENTS, StatementCompiler
from journalloft.services.kommunale_tjenester import spec
from journalloft.services.kommunale_tjenester.models import PATIENT_INDEX
from journalloft.services.kommunale_tjenester.repository import (
    SERVICES,
    SERVICES_ENDED_SINCE,
    TABLE,
)
from journalloft.services.kommunale_tjenester.shapes import ServiceRow
from support import fetch_rows
from support.stores import migrated_stores

BODO = "1804"
BAERUM = "3201"
RECEIVED = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    with migrated_stores(tmp_path, spec, (BODO, BAERUM)) as stores:
        yield stores


def person(seed: int) -> str:
    return synthetic_person_id(random.Random(seed))


def row(
    patient: str,
    record_id: str,
    *,
    start: date = date(2026, 1, 1),
    end: date | None = None,
    source: str = "bodo-epj",
    **columns: Any,
) -> dict[str, Any]:
    """Every column of one stored row, as the platform writes it."""
    return {
        "source": source,
        "record_id": record_id,
        "patient": patient,
        "updated": RECEIVED - timedelta(hours=1),
        "content_hash": "0" * 64,
        "received_at": RECEIVED,
        "withdrawn_at": None,
        "service_code": "15",
        "description": None,
        "unit_name": "Hjemmetjenesten sone Sentrum",
        "unit_phone": "+47 75 55 12 34",
        "start_date": start,
        "end_date": end,
        "temporary_cessation": False,
        "weekly_extent": None,
        "stay_type": None,
        **columns,
    }


def store(stores: Stores, kommunenummer: str, *rows: dict[str, Any]) -> None:
    with stores.tenant_transaction(kommunenummer) as connection:
        connection.execute(insert(TABLE), list(rows))


def fetch(
    stores: Stores,
    patients: list[str],
    *,
    ended_since: date | None = None,
    kommunenummer: str = BODO,
) -> list[dict[str, Any]]:
    statement, values = SERVICES, dict[str, Any]({PATIENTS: patients})
    if ended_since is not None:
        statement, values = SERVICES_ENDED_SINCE, {**values, "ended_since": ended_since}
    return [
        ServiceRow._make(r)._asdict() for r in fetch_rows(stores, kommunenummer, statement, values)
    ]


def test_migration_creates_the_table_the_model_declares(stores: Stores) -> None:
    with stores.tenant_engine(BODO).connect() as connection:
        inspector = inspect(connection)
        columns = {c["name"]: c for c in inspector.get_columns("kommunal_tjeneste")}
        indexes = {i["name"]: i for i in inspector.get_indexes("kommunal_tjeneste")}
        primary_key = inspector.get_pk_constraint("kommunal_tjeneste")["constrained_columns"]
    assert list(columns) == [c.name for c in TABLE.columns]
    assert {n: c["nullable"] for n, c in columns.items()} == {
        c.name: c.nullable for c in TABLE.columns
    }
    assert primary_key == ["source", "record_id"]
    assert set(indexes) == {i.name for i in TABLE.indexes}
    assert indexes[PATIENT_INDEX]["column_names"] == ["patient"]
    assert "withdrawn_at IS NULL" in str(indexes[PATIENT_INDEX]["dialect_options"]["sqlite_where"])


def test_migration_is_its_own_branch_and_idempotent(stores: Stores) -> None:
    report = migrate_tenant(stores, BODO, [spec])
    assert not report.changed
    assert "kommunale_tjenester_0001" in report.after


def test_stored_values_come_back_with_their_types(stores: Stores) -> None:
    patient = person(1)
    store(stores, BODO, row(patient, "a", start=date(2026, 3, 1), end=date(2026, 12, 31)))
    [found] = fetch(stores, [patient])
    assert found["start_date"] == date(2026, 3, 1)
    assert found["end_date"] == date(2026, 12, 31)
    assert found["updated"] == RECEIVED - timedelta(hours=1)
    assert found["updated"].tzinfo is not None
    assert found["temporary_cessation"] is False


def test_two_hundred_patients_in_one_statement_with_one_parameter(stores: Stores) -> None:
    patients = [person(seed) for seed in range(200)]
    store(stores, BODO, *(row(p, f"id-{i}") for i, p in enumerate(patients)))
    for postgres in (False, True):
        compiled = StatementCompiler.for_backend(postgres=postgres)(SERVICES)
        assert list(compiled.binds) == [PATIENTS]
    assert {r["patient"] for r in fetch(stores, patients)} == set(patients)


def test_query_uses_the_patient_index(stores: Stores) -> None:
    patients = [person(seed) for seed in range(200)]
    store(stores, BODO, *(row(p, f"id-{i}") for i, p in enumerate(patients)))
    compiled = StatementCompiler.for_backend(postgres=False)(SERVICES_ENDED_SINCE)
    values = compiled.parameters({PATIENTS: patients[:3], "ended_since": date(2026, 1, 1)})
    with stores.tenant_engine(BODO).connect() as connection:
        found = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled.sql}", values)
        plan = " ".join(str(r[-1]) for r in found)
    assert f"USING INDEX {PATIENT_INDEX}" in plan, plan


def test_only_the_asked_patients_are_returned(stores: Stores) -> None:
    asked, other = person(1), person(2)
    store(stores, BODO, row(asked, "a"), row(other, "b"))
    assert [r["record_id"] for r in fetch(stores, [asked])] == ["a"]


def test_withdrawn_services_are_not_returned(stores: Stores) -> None:
    patient = person(1)
    store(stores, BODO, row(patient, "kept"), row(patient, "withdrawn"))
    with stores.tenant_transaction(BODO) as connection:
        connection.execute(
            update(TABLE).where(TABLE.c.record_id == "withdrawn").values(withdrawn_at=RECEIVED)
        )
    assert [r["record_id"] for r in fetch(stores, [patient])] == ["kept"]


def test_ended_since_keeps_services_ending_on_that_day_or_later(stores: Stores) -> None:
    patient = person(1)
    since = date(2026, 8, 24)
    store(
        stores,
        BODO,
        row(patient, "open"),
        row(patient, "on-the-day", end=since),
        row(patient, "day-before", end=since - timedelta(days=1)),
        row(patient, "later", end=since + timedelta(days=400)),
    )
    kept = {r["record_id"] for r in fetch(stores, [patient], ended_since=since)}
    assert kept == {"open", "on-the-day", "later"}
    everything = {r["record_id"] for r in fetch(stores, [patient], ended_since=None)}
    assert everything == kept | {"day-before"}


def test_one_tenant_store_never_sees_another_tenants_rows(stores: Stores) -> None:
    patient = person(1)
    store(stores, BODO, row(patient, "bodo"))
    store(stores, BAERUM, row(patient, "baerum", source="baerum-epj"))
    assert [r["record_id"] for r in fetch(stores, [patient], kommunenummer=BODO)] == ["bodo"]
    assert [r["record_id"] for r in fetch(stores, [patient], kommunenummer=BAERUM)] == ["baerum"]
