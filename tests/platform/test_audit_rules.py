"""The audit log's functions (``audit/log.py``) on their edges: every column of an event, the
events written and counted, a refused write (503, counted, nothing written, no person in the log
line), the citizen's log newest first, the review feed's order, bounds and cursor (each thing a
cursor must be), and retention's edge.

Each test writes its events at instants it chooses, in its own municipality's store.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event

from journalloft.platform.audit.log import (
    AUDIT_COLUMNS,
    AUDIT_EVENT,
    AUDIT_FIELDS,
    AuditUnavailable,
    FeedPosition,
    audit_rows,
    events_for_patient,
    events_page,
    feed_horizon,
    purge_events,
    record_access,
    record_reads,
)
from journalloft.platform.auth.attestation import attestation_from_details
from journalloft.platform.auth.tokens import Principal
from journalloft.platform.caller import Caller
from support import people, tenant_document
from support.platform import Backend, TestRuntime, start_runtime
from support.security import attestation_details

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
KOMMUNE = "1804"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestRuntime]:
    for platform in start_runtime(Backend("sqlite", None, None), tmp_path_factory.mktemp("au")):
        platform.onboard(tenant_document(KOMMUNE))
        yield platform


@pytest.fixture
def fresh(platform: TestRuntime) -> None:
    """An empty audit log for each test."""
    with platform.runtime.stores.tenant_engine(KOMMUNE).begin() as connection:
        connection.execute(AUDIT_EVENT.delete())


def caller(
    at: datetime,
    *,
    client_id: str = "bodo-legevakt",
    attested: bool = False,
    channel: str | None = None,
) -> Caller:
    attestation = (
        attestation_from_details(
            [attestation_details()], issued_at=at.timestamp(), now=at.timestamp(), source="token"
        )
        if attested
        else None
    )
    principal = Principal(
        client_id=client_id,
        scopes=frozenset(),
        issuer="https://issuer.test",
        organisasjonsnummer="974760673",
        attestation=attestation,
    )
    return Caller(
        principal=principal,
        correlation_id="corr-1",
        epj_system="Gerica/9.1",
        now=at,
        channel=channel,
    )


def counted(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def write(
    platform: TestRuntime, at: datetime, patients: list[tuple[str | None, int]], **options: Any
) -> None:
    with platform.runtime.stores.tenant_engine(KOMMUNE).begin() as connection:
        record_access(
            connection,
            context=caller(at),
            action="read",
            service="news2",
            patients=patients,
            **options,
        )


# --- an event -----------------------------------------------------------------------------------


def test_an_event_has_every_column_from_the_caller_and_its_attestation() -> None:
    alice, bob = people(2, seed="audit-rows")
    rows = audit_rows(
        caller(T0, attested=True, channel="stream"),
        action="read",
        service="news2",
        patients=[(alice, 1), (bob, 0), (None, 3)],
        break_the_glass=True,
        outcome="restricted",
        ages={alice: 42, bob: 7},
    )
    attested = attestation_from_details(
        [attestation_details()], issued_at=T0.timestamp(), now=T0.timestamp(), source="token"
    )
    assert attested is not None
    common = {
        "occurred_at": T0,
        "action": "read",
        "service": "news2",
        "client_id": "bodo-legevakt",
        "organisasjonsnummer": "974760673",
        "practitioner_name": attested.practitioner_name,
        "practitioner_hpr": attested.practitioner_hpr,
        "purpose": attested.purpose,
        "healthcare_service": attested.healthcare_service,
        "legal_entity": attested.legal_entity,
        "point_of_care": attested.point_of_care,
        "decision_ref": attested.decision_ref,
        "break_the_glass": True,
        "epj_system": "Gerica/9.1",
        "correlation_id": "corr-1",
        "outcome": "restricted",
        "channel": "stream",
    }
    assert rows == [
        {**common, "patient": alice, "result_count": 1, "data_age_seconds": 42},
        {**common, "patient": bob, "result_count": 0, "data_age_seconds": 7},
        {**common, "patient": None, "result_count": 3, "data_age_seconds": None},
    ]
    assert set(rows[0]) == set(AUDIT_COLUMNS)
    assert None not in (
        common["practitioner_name"],
        common["practitioner_hpr"],
        common["purpose"],
        common["healthcare_service"],
        common["legal_entity"],
        common["point_of_care"],
        common["decision_ref"],
    )


def test_an_event_without_attestation_or_ages_leaves_those_empty() -> None:
    (alice,) = people(1, seed="audit-rows-bare")
    [row] = audit_rows(caller(T0), action="write", service=None, patients=[(alice, 2)])
    assert {
        k: row[k] for k in ("practitioner_name", "practitioner_hpr", "purpose")
    } == dict.fromkeys(("practitioner_name", "practitioner_hpr", "purpose"))
    assert {
        k: row[k] for k in ("healthcare_service", "legal_entity", "point_of_care", "decision_ref")
    } == dict.fromkeys(("healthcare_service", "legal_entity", "point_of_care", "decision_ref"))
    assert (row["break_the_glass"], row["outcome"], row["data_age_seconds"]) == (False, "ok", None)
    assert (row["service"], row["channel"], row["result_count"]) == (None, None, 2)


# --- writing them -------------------------------------------------------------------------------


def test_record_access_writes_every_event_and_counts_them_on_the_connection(
    platform: TestRuntime, fresh: None
) -> None:
    alice, bob = people(2, seed="audit-record")
    with platform.runtime.stores.tenant_engine(KOMMUNE).begin() as connection:
        record_access(
            connection,
            context=caller(T0),
            action="read",
            service="news2",
            patients=[(alice, 1), (bob, 0)],
            break_the_glass=True,
            outcome="restricted",
        )
        record_access(connection, context=caller(T0), action="read", service="news2", patients=[])
        record_access(
            connection, context=caller(T0), action="write", service="news2", patients=[(alice, 1)]
        )
        record_access(
            connection, context=caller(T0), action="read", service="news2", patients=[(bob, 1)]
        )
        assert connection.info["journalloft.audited"] == {"read": 3, "write": 1}
    with platform.runtime.stores.tenant_engine(KOMMUNE).connect() as connection:
        found = events_for_patient(connection, patient=alice)
    assert [(e["action"], e["break_the_glass"], e["outcome"]) for e in found] == [
        ("write", False, "ok"),
        ("read", True, "restricted"),
    ]


def test_a_refused_audit_write_is_a_503_counted_and_logged_without_the_person(
    platform: TestRuntime, fresh: None, caplog: pytest.LogCaptureFixture
) -> None:
    (alice,) = people(1, seed="audit-refused")
    failures = counted("journalloft_audit_write_failures_total")
    engine = platform.runtime.stores.tenant_engine(KOMMUNE)
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE audit_event RENAME TO audit_event_offline")
    try:
        with (
            caplog.at_level(logging.ERROR, logger="journalloft.audit"),
            pytest.raises(AuditUnavailable) as refused,
            engine.begin() as connection,
        ):
            record_access(
                connection,
                context=caller(T0),
                action="read",
                service="news2",
                patients=[(alice, 1)],
            )
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE audit_event_offline RENAME TO audit_event")
    assert refused.value.status == 503
    assert refused.value.detail == (
        "the access could not be written to the audit log, so it was not carried out"
    )
    assert counted("journalloft_audit_write_failures_total") == failures + 1
    [line] = [r.getMessage() for r in caplog.records if r.name == "journalloft.audit"]
    assert line == "audit write failed: OperationalError correlation-id=corr-1"
    assert alice not in line


def test_record_reads_commits_the_events_before_it_returns_and_counts_them_by_action(
    platform: TestRuntime, fresh: None
) -> None:
    alice, bob = people(2, seed="audit-reads")
    reads = counted("journalloft_audit_events_written_total", action="read")
    feeds = counted("journalloft_audit_events_written_total", action="audit-feed")
    rows = audit_rows(caller(T0), action="read", service="news2", patients=[(alice, 1), (bob, 0)])
    rows += audit_rows(caller(T0), action="audit-feed", service=None, patients=[(None, 0)])
    asyncio.run(record_reads(platform.runtime.query_path, KOMMUNE, caller(T0), rows))
    with platform.runtime.stores.tenant_engine(KOMMUNE).connect() as connection:
        assert [e["action"] for e in events_for_patient(connection, patient=bob)] == ["read"]
    assert counted("journalloft_audit_events_written_total", action="read") == reads + 2
    assert counted("journalloft_audit_events_written_total", action="audit-feed") == feeds + 1


def test_record_reads_refused_is_a_503_counted_and_logged(
    platform: TestRuntime, fresh: None, caplog: pytest.LogCaptureFixture
) -> None:
    (alice,) = people(1, seed="audit-reads-refused")
    failures = counted("journalloft_audit_write_failures_total")
    rows = audit_rows(caller(T0), action="read", service="news2", patients=[(alice + "\x00", 1)])
    with (
        caplog.at_level(logging.ERROR, logger="journalloft.audit"),
        pytest.raises(AuditUnavailable),
    ):
        asyncio.run(record_reads(platform.runtime.query_path, KOMMUNE, caller(T0), rows))
    assert counted("journalloft_audit_write_failures_total") == failures + 1
    [line] = [r.getMessage() for r in caplog.records if r.name == "journalloft.audit"]
    assert line == "audit write failed: WriteRefused correlation-id=corr-1"


# --- reading them -------------------------------------------------------------------------------


def test_the_citizens_log_is_newest_first_then_by_last_written(
    platform: TestRuntime, fresh: None
) -> None:
    alice, bob = people(2, seed="audit-citizen")
    write(platform, T0, [(alice, 1)])
    write(platform, T0 + timedelta(seconds=1), [(alice, 2)])
    write(platform, T0, [(alice, 3)])
    write(platform, T0, [(bob, 9)])
    with platform.runtime.stores.tenant_engine(KOMMUNE).connect() as connection:
        found = events_for_patient(connection, patient=alice)
    assert [e["result_count"] for e in found] == [2, 3, 1]
    assert tuple(found[0]) == AUDIT_FIELDS
    assert "patient" not in AUDIT_FIELDS


def page(
    platform: TestRuntime, after: FeedPosition, until: datetime, limit: int, **options: Any
) -> Any:
    """A page of the feed; the store is asked for ``limit`` + 1 events and no more (bounded work:
    the one beyond the page says whether there are more)."""
    engine = platform.runtime.stores.tenant_engine(KOMMUNE)
    asked: list[Any] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        asked.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with engine.connect() as connection:
            found = events_page(connection, after=after, until=until, limit=limit, **options)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    [(statement, parameters)] = [(s, p) for s, p in asked if s.startswith("SELECT")]
    assert " LIMIT " in statement
    assert parameters[-2:] == (limit + 1, 0)
    return found


def test_the_feed_is_in_time_then_id_order_after_its_position_and_up_to_until(
    platform: TestRuntime, fresh: None
) -> None:
    """Events strictly after the position (at its instant, only those with a greater id), at or
    before ``until``; at most ``limit``, ``more`` when there are others; the next position is
    the last event shown, or the same position when none was."""
    (alice,) = people(1, seed="audit-feed-order")
    second = timedelta(seconds=1)
    write(platform, T0 + second, [(alice, 1), (alice, 2)])
    write(platform, T0, [(alice, 3)])
    write(platform, T0 + 2 * second, [(alice, 4)])
    write(platform, T0 + 3 * second, [(alice, 5)])
    until = T0 + 2 * second

    first = page(platform, FeedPosition.since(T0), until, 2)
    assert [e["result_count"] for e in first.events] == [3, 1]
    assert (first.more, first.until) == (True, until)
    assert first.next_position == FeedPosition(T0 + second, first.events[-1]["id"])
    assert set(first.events[0]) == {"id", "patient", *AUDIT_FIELDS}

    rest = page(platform, first.next_position, until, 2)
    assert [e["result_count"] for e in rest.events] == [2, 4]  # 4 is at until: shown
    assert rest.more is False
    empty = page(platform, rest.next_position, until, 2)
    assert (empty.events, empty.more, empty.next_position) == ([], False, rest.next_position)

    exactly = page(platform, FeedPosition.since(T0), until, 4)
    assert ([e["result_count"] for e in exactly.events], exactly.more) == ([3, 1, 2, 4], False)
    after_start = page(platform, FeedPosition.since(T0 + second), until, 10)
    assert [e["result_count"] for e in after_start.events] == [1, 2, 4]


def test_the_break_the_glass_report_shows_only_those_events(
    platform: TestRuntime, fresh: None
) -> None:
    (alice,) = people(1, seed="audit-feed-btg")
    write(platform, T0, [(alice, 1)])
    write(platform, T0, [(alice, 2)], break_the_glass=True)
    report = page(platform, FeedPosition.since(T0), T0, 10, break_the_glass_only=True)
    assert [e["result_count"] for e in report.events] == [2]
    assert [e["result_count"] for e in page(platform, FeedPosition.since(T0), T0, 10).events] == [
        1,
        2,
    ]


def test_the_feed_lags_live_traffic_by_two_minutes() -> None:
    assert feed_horizon(T0) == T0 - timedelta(seconds=120)


# --- the cursor ---------------------------------------------------------------------------------


def encoded(document: Any) -> str:
    raw = json.dumps(document).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture
def oslo_local_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone Europe/Oslo, so that local time and UTC differ."""
    monkeypatch.setenv("TZ", "Europe/Oslo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_cursor_names_an_instant_in_utc_and_an_id_and_reads_back(oslo_local_time: None) -> None:
    oslo = timezone(timedelta(hours=2))
    position = FeedPosition(datetime(2026, 5, 4, 12, 0, tzinfo=oslo), 41)
    cursor = position.cursor()
    assert "=" not in cursor
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    assert raw == b'{"t":"2026-05-04T10:00:00+00:00","i":41}'
    back = FeedPosition.from_cursor(cursor)
    assert back == position
    assert back.occurred_at.utcoffset() == timedelta(0)
    assert FeedPosition.from_cursor(encoded({"t": "2026-05-04T10:00:00+00:00", "i": 2**63 - 1}))
    assert FeedPosition.from_cursor(encoded({"t": "2026-05-04T12:00:00+02:00", "i": 0})) == (
        FeedPosition(datetime(2026, 5, 4, 10, 0, tzinfo=UTC), 0)
    )


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        encoded([1, 2]),
        encoded({"i": 1}),
        encoded({"t": "2026-05-04T10:00:00+00:00"}),
        encoded({"t": "yesterday", "i": 1}),
        encoded({"t": 12, "i": 1}),
        encoded({"t": "2026-05-04T10:00:00", "i": 1}),  # no offset
        encoded({"t": "2026-05-04T10:00:00+00:00", "i": "1"}),
        encoded({"t": "2026-05-04T10:00:00+00:00", "i": True}),
        encoded({"t": "2026-05-04T10:00:00+00:00", "i": 1.0}),
        encoded({"t": "2026-05-04T10:00:00+00:00", "i": -1}),
        encoded({"t": "2026-05-04T10:00:00+00:00", "i": 2**63}),
        encoded({"t": "0001-01-01T00:00:00+01:00", "i": 1}),  # before year 1 in UTC
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_anything_the_feed_did_not_make_is_not_a_cursor(cursor: str) -> None:
    with pytest.raises(ValueError, match=r"^not a cursor of this feed$"):
        FeedPosition.from_cursor(cursor)


# --- retention ----------------------------------------------------------------------------------


def test_purging_drops_the_events_before_the_cutoff_and_keeps_the_cutoff(
    platform: TestRuntime, fresh: None
) -> None:
    (alice,) = people(1, seed="audit-purge")
    now = datetime(2031, 5, 4, 10, 0, tzinfo=UTC)
    cutoff = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    for at, count in ((cutoff - timedelta(microseconds=1), 1), (cutoff, 2), (now, 3)):
        write(platform, at, [(alice, count)])
    with platform.runtime.stores.tenant_engine(KOMMUNE).begin() as connection:
        assert purge_events(connection, now=now, years=5) == 1
        assert purge_events(connection, now=now, years=5) == 0
    with platform.runtime.stores.tenant_engine(KOMMUNE).connect() as connection:
        assert [e["result_count"] for e in events_for_patient(connection, patient=alice)] == [3, 2]
