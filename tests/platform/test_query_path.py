"""The query path's group commit: lookups' audit events from any tenant of one server share a
transaction, land each in its own tenant's log, and a request hears "committed" only when its
events are."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from journalloft.platform.audit.log import AUDIT_COLUMNS, AUDIT_EVENT, AUDIT_INSERT
from journalloft.platform.core.tenancy import tenant_schema_name
from journalloft.platform.operations.restrictions import RESTRICTED_AMONG, set_restriction
from journalloft.platform.storage.engines import Stores
from journalloft.platform.storage.query_path import (
    StoreUnavailable,
    WriteRefused,
    connect_query_path,
)
from journalloft.platform.storage.statements import PATIENTS as STATEMENT_PEOPLE
from support import people, tenant_document
from support.platform import Backend, TestPlatform, start_platform

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
PATIENTS = people(6, seed="group-commit")


def event(patient: str, correlation_id: str) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(AUDIT_COLUMNS)
    row.update(
        occurred_at=NOW,
        action="read",
        service="news2",
        client_id="test-legevakt",
        break_the_glass=False,
        correlation_id=correlation_id,
        outcome="ok",
        patient=patient,
        result_count=1,
    )
    return row


def write_concurrently(
    stores: Stores,
    writes: list[tuple[str, str]],
    changes: dict[str, dict[str, Any]] | None = None,
) -> list[BaseException | None]:
    """(kommunenummer, correlation id) writes, all started before any finishes; what each got.
    ``changes``: columns to set in the event of a correlation id."""

    async def run() -> list[BaseException | None]:
        reads = connect_query_path(stores, pool_size=2)
        await reads.open()
        try:
            outcomes = await asyncio.gather(
                *(
                    reads.write(
                        kommunenummer,
                        AUDIT_INSERT,
                        AUDIT_COLUMNS,
                        [
                            {
                                **event(patient, correlation_id),
                                **(changes or {}).get(correlation_id, {}),
                            }
                        ],
                    )
                    for (kommunenummer, correlation_id), patient in zip(
                        writes, PATIENTS, strict=False
                    )
                ),
                return_exceptions=True,
            )
            return list(outcomes)
        finally:
            await reads.close()

    return asyncio.run(run())


def logged(stores: Stores, kommunenummer: str) -> dict[str, Any]:
    """correlation id → the transaction that wrote it (PostgreSQL's xmin; None on SQLite)."""
    with stores.tenant_engine(kommunenummer).connect() as connection:
        if stores.postgres:
            schema = tenant_schema_name(kommunenummer)
            rows = connection.exec_driver_sql(
                f"SELECT correlation_id, xmin::text FROM {schema}.audit_event"
            ).all()
        else:
            rows = [
                (row[0], None)  # type: ignore[misc]  # (id, None) stands in for (id, xmin)
                for row in connection.execute(select(AUDIT_EVENT.c.correlation_id)).all()
            ]
    return dict(rows)


def test_events_of_two_tenants_share_a_commit_and_land_each_in_its_own_log(
    platform: TestPlatform,
) -> None:
    stores = platform.runtime.stores
    writes = [("1804", "bodo-1"), ("3201", "baerum-1"), ("1804", "bodo-2"), ("3201", "baerum-2")]
    assert write_concurrently(stores, writes) == [None] * 4

    bodo, baerum = logged(stores, "1804"), logged(stores, "3201")
    assert set(bodo) == {"bodo-1", "bodo-2"}
    assert set(baerum) == {"baerum-1", "baerum-2"}
    if stores.postgres:
        # all four were waiting before the first flush began: one transaction for both tenants
        assert len({*bodo.values(), *baerum.values()}) == 1


def test_a_request_hears_committed_only_when_its_events_are(platform: TestPlatform) -> None:
    stores = platform.runtime.stores
    schema = f"{tenant_schema_name('3201')}." if stores.postgres else ""
    with stores.tenant_engine("3201").begin() as connection:
        connection.exec_driver_sql(f"ALTER TABLE {schema}audit_event RENAME TO audit_offline")
    try:
        writes = [("1804", "bodo-1"), ("3201", "baerum-1"), ("1804", "bodo-2")]
        outcomes = write_concurrently(stores, writes)
    finally:
        with stores.tenant_engine("3201").begin() as connection:
            connection.exec_driver_sql(f"ALTER TABLE {schema}audit_offline RENAME TO audit_event")

    assert isinstance(outcomes[1], WriteRefused)
    committed = logged(stores, "1804")
    for (_, correlation_id), outcome in zip(writes, outcomes, strict=True):
        if outcome is None:
            assert correlation_id in committed
        else:
            assert isinstance(outcome, WriteRefused)
            assert correlation_id not in committed
    assert logged(stores, "3201") == {}


@pytest.mark.parametrize(
    "bad",
    [
        {"practitioner_name": "Lege\ud800Legesen"},
        {"decision_ref": "a\x00b"},
        {"client_id": "\udfff"},
    ],
    ids=["lone surrogate", "NUL", "lone surrogate in client_id"],
)
def test_one_callers_unstorable_strings_never_fail_another_callers_commit(
    platform: TestPlatform, bad: dict[str, Any]
) -> None:
    """Issue 27 item 1: a lookup's audit event with a string no store can hold failed the whole
    group commit, and other municipalities' lookups on the same server got 503s. It is refused
    to its own caller before it joins a batch."""
    stores = platform.runtime.stores
    writes = [("1804", "bodo-1"), ("3201", "baerum-1"), ("1804", "bodo-bad"), ("1804", "bodo-2")]
    outcomes = write_concurrently(stores, writes, {"bodo-bad": bad})

    assert [type(o).__name__ for o in outcomes] == [
        "NoneType",
        "NoneType",
        "WriteRefused",
        "NoneType",
    ]
    assert set(logged(stores, "1804")) == {"bodo-1", "bodo-2"}
    assert set(logged(stores, "3201")) == {"baerum-1"}


def test_a_callers_rows_the_store_refuses_fail_only_that_caller(platform: TestPlatform) -> None:
    """Rows that pass every check but that the store refuses (here: no action, a NOT NULL
    column) fail the batch they share; the batch is then written caller by caller."""
    stores = platform.runtime.stores
    writes = [("1804", "bodo-1"), ("3201", "baerum-1"), ("1804", "bodo-bad"), ("1804", "bodo-2")]
    outcomes = write_concurrently(stores, writes, {"bodo-bad": {"action": None, "patient": None}})

    assert [type(o).__name__ for o in outcomes] == [
        "NoneType",
        "NoneType",
        "WriteRefused",
        "NoneType",
    ]
    assert set(logged(stores, "1804")) == {"bodo-1", "bodo-2"}
    assert set(logged(stores, "3201")) == {"baerum-1"}


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[TestPlatform]:
    """The embedded default only, with the Bodø pilot."""
    for platform in start_platform(Backend("sqlite", None, None), tmp_path):
        platform.onboard(tenant_document("1804"))
        yield platform


def test_an_embedded_lookup_sees_what_was_committed_since_and_never_creates_a_store(
    embedded: TestPlatform,
) -> None:
    """SQLite reads on the event loop keep a connection per file: it must see each new commit,
    and a tenant without a file must fail rather than get an empty new one."""
    stores = embedded.runtime.stores
    (person,) = people(1, seed="reader")

    async def restricted(reads: Any, kommunenummer: str) -> list[Any]:
        rows = await reads.fetch(kommunenummer, RESTRICTED_AMONG, {STATEMENT_PEOPLE: [person]})
        return list(rows)

    async def run() -> tuple[list[Any], list[Any]]:
        reads = connect_query_path(stores)
        await reads.open()
        try:
            before = await restricted(reads, "1804")
            with stores.tenant_transaction("1804") as connection:
                set_restriction(connection, patient=person, restricted=True, by="test", now=NOW)
            after = await restricted(reads, "1804")
            with pytest.raises(StoreUnavailable):  # a missing file: never an empty new store
                await restricted(reads, "4601")
            return before, after
        finally:
            await reads.close()

    before, after = asyncio.run(run())
    assert before == []
    assert after == [(person,)]
    assert not stores.sqlite_path("4601").exists()
