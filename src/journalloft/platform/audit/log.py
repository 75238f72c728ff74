"""The audit log: every read or write of patient data, in the tenant's own store.

A write's events are written in the same transaction as the write (:func:`record_access`); a
lookup's are committed before any data leaves (:func:`record_reads`, group-committed with other
lookups of the tenant). If the events cannot be written the whole access fails with 503 and nothing
of it is stored or sent.

Three ways out: the citizen's access log (:func:`events_for_patient`), the municipality's review
feed (:func:`events_page`, paged by a stable cursor) and the break-the-glass report (the same feed,
only the events where a restriction was overridden). Events are kept
:data:`DEFAULT_RETENTION_YEARS` years unless the tenant's policy says otherwise
(:func:`purge_events`).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, or_, select
from sqlalchemy.exc import SQLAlchemyError

from journalloft.platform.caller import Caller
from journalloft.platform.core.errors import ServiceUnavailable
from journalloft.platform.observability.metrics import AUDIT_EVENTS, AUDIT_WRITE_FAILURES
from journalloft.platform.storage.models import AuditEvent
from journalloft.platform.storage.query_path import QueryPath, WriteRefused

AUDIT_EVENT = AuditEvent.__table__  # type: ignore[attr-defined]
AUDIT_COLUMNS = tuple(column.key for column in AUDIT_EVENT.c if column.key != "id")
AUDIT_INSERT = insert(AUDIT_EVENT).inline()
AUDITED = "journalloft.audited"
"""Key of a connection's ``info``: the events :func:`record_access` wrote in its transaction, by
action, counted in the metrics once the unit of work commits."""
FEED_DELAY_SECONDS = 120
"""The review feed lags live traffic by this much, so that every event it could show has been
committed and a page, once read, never changes (ids are assigned before commit, and a request that
began earlier may commit later). No request runs this long."""
FEED_MAX_PAGE = 1000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

log = logging.getLogger("journalloft.audit")


class AuditUnavailable(ServiceUnavailable):
    """503: the audit event could not be written, so the access it describes did not happen."""

    title = "Audit log unavailable"
    slug = "audit-unavailable"


def audit_rows(
    context: Caller,
    *,
    action: str,
    service: str | None,
    patients: Iterable[tuple[str | None, int]],
    break_the_glass: bool = False,
    outcome: str = "ok",
    ages: Mapping[str, int] | None = None,
) -> list[dict[str, Any]]:
    """One event per (patient, result count), every column of :data:`AUDIT_COLUMNS` filled;
    ``ages`` the data age (seconds) of the people a read found something for."""
    principal = context.principal
    attestation = principal.attestation
    common: dict[str, Any] = {
        "occurred_at": context.now,
        "action": action,
        "service": service,
        "client_id": principal.client_id,
        "organisasjonsnummer": principal.organisasjonsnummer,
        "practitioner_name": attestation.practitioner_name if attestation else None,
        "practitioner_hpr": attestation.practitioner_hpr if attestation else None,
        "purpose": attestation.purpose if attestation else None,
        "healthcare_service": attestation.healthcare_service if attestation else None,
        "legal_entity": attestation.legal_entity if attestation else None,
        "point_of_care": attestation.point_of_care if attestation else None,
        "decision_ref": attestation.decision_ref if attestation else None,
        "break_the_glass": break_the_glass,
        "epj_system": context.epj_system,
        "correlation_id": context.correlation_id,
        "outcome": outcome,
        "channel": context.channel,
    }
    ages = ages or {}
    return [
        {
            **common,
            "patient": patient,
            "result_count": count,
            "data_age_seconds": ages.get(patient) if patient is not None else None,
        }
        for patient, count in patients
    ]


def _unavailable(context: Caller, exc: Exception) -> AuditUnavailable:
    log.error(
        "audit write failed: %s correlation-id=%s", type(exc).__name__, context.correlation_id
    )
    return AuditUnavailable(
        "the access could not be written to the audit log, so it was not carried out"
    )


def record_access(
    connection: Connection,
    *,
    context: Caller,
    action: str,
    service: str | None,
    patients: Iterable[tuple[str | None, int]],
    break_the_glass: bool = False,
    outcome: str = "ok",
) -> None:
    """Write one event per (patient, result count); raise :class:`AuditUnavailable` if the store
    refuses them (the caller's transaction then rolls back)."""
    rows = audit_rows(
        context,
        action=action,
        service=service,
        patients=patients,
        break_the_glass=break_the_glass,
        outcome=outcome,
    )
    if not rows:
        return
    try:
        connection.execute(insert(AUDIT_EVENT), rows)
    except SQLAlchemyError as exc:
        AUDIT_WRITE_FAILURES.inc()
        raise _unavailable(context, exc) from exc
    audited = connection.info.setdefault(AUDITED, {})
    audited[action] = audited.get(action, 0) + len(rows)


async def record_reads(
    reads: QueryPath, kommunenummer: str, context: Caller, rows: list[dict[str, Any]]
) -> None:
    """The query path's :func:`record_access`: ``rows`` from :func:`audit_rows`, committed
    (group-committed with other requests' events) before this returns, and so before any data
    leaves; :class:`AuditUnavailable` if they could not be."""
    try:
        await reads.write(kommunenummer, AUDIT_INSERT, AUDIT_COLUMNS, rows)
    except WriteRefused as exc:
        AUDIT_WRITE_FAILURES.inc()
        raise _unavailable(context, exc) from exc
    actions: dict[str, int] = {}
    for row in rows:
        actions[row["action"]] = actions.get(row["action"], 0) + 1
    for action, n in actions.items():
        AUDIT_EVENTS.labels(action).inc(n)


AUDIT_FIELDS = (
    "occurred_at",
    "action",
    "service",
    "client_id",
    "organisasjonsnummer",
    "legal_entity",
    "point_of_care",
    "practitioner_name",
    "practitioner_hpr",
    "purpose",
    "healthcare_service",
    "decision_ref",
    "break_the_glass",
    "epj_system",
    "correlation_id",
    "result_count",
    "outcome",
)


def events_for_patient(connection: Connection, *, patient: str) -> list[dict[str, Any]]:
    """Who accessed this person's data, newest first."""
    columns = [AUDIT_EVENT.c[name] for name in AUDIT_FIELDS]
    rows = connection.execute(
        select(*columns)
        .where(AUDIT_EVENT.c.patient == patient)
        .order_by(AUDIT_EVENT.c.occurred_at.desc(), AUDIT_EVENT.c.id.desc())
    ).mappings()
    return [dict(row) for row in rows]


@dataclass(frozen=True, slots=True)
class FeedPosition:
    """A place in the review feed: events strictly after (``occurred_at``, ``id``)."""

    occurred_at: datetime
    event_id: int

    def cursor(self) -> str:
        """The opaque cursor a client sends back: names no person."""
        document = {"t": self.occurred_at.astimezone(UTC).isoformat(), "i": self.event_id}
        raw = json.dumps(document, separators=(",", ":")).encode("ascii")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    @classmethod
    def from_cursor(cls, cursor: str) -> FeedPosition:
        """Raise ValueError for anything :meth:`cursor` did not make."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            document = json.loads(raw)
            occurred_at = datetime.fromisoformat(document["t"])
            event_id = document["i"]
        except (binascii.Error, ValueError, KeyError, TypeError) as exc:
            raise ValueError("not a cursor of this feed") from exc
        if occurred_at.tzinfo is None or type(event_id) is not int or not 0 <= event_id < 2**63:
            raise ValueError("not a cursor of this feed")
        try:
            occurred_at = occurred_at.astimezone(UTC)
        except OverflowError:
            raise ValueError("not a cursor of this feed") from None
        return cls(occurred_at, event_id)

    @classmethod
    def since(cls, instant: datetime) -> FeedPosition:
        """The position just before every event at or after ``instant``."""
        return cls(instant, 0)


@dataclass(frozen=True, slots=True)
class FeedPage:
    events: list[dict[str, Any]]
    next_position: FeedPosition
    more: bool
    until: datetime


def feed_horizon(now: datetime) -> datetime:
    return now - timedelta(seconds=FEED_DELAY_SECONDS)


def events_page(
    connection: Connection,
    *,
    after: FeedPosition,
    until: datetime,
    limit: int,
    break_the_glass_only: bool = False,
) -> FeedPage:
    """The events after ``after`` and at or before ``until``, in (time, id) order.

    Ordered by the time the access began and then by id. The review feed passes
    :func:`feed_horizon` as ``until`` (events at least :data:`FEED_DELAY_SECONDS` old), so that a
    page never changes once read and the next cursor never skips an event that commits late. The
    next position is the last event shown, or ``after`` again when there is nothing new: polling
    from it later shows what came since.
    """
    table = AUDIT_EVENT
    query = (
        select(table.c.id, table.c.patient, *(table.c[name] for name in AUDIT_FIELDS))
        .where(
            or_(
                table.c.occurred_at > after.occurred_at,
                and_(table.c.occurred_at == after.occurred_at, table.c.id > after.event_id),
            ),
            table.c.occurred_at <= until,
        )
        .order_by(table.c.occurred_at, table.c.id)
        .limit(limit + 1)
    )
    if break_the_glass_only:
        query = query.where(table.c.break_the_glass.is_(True))
    rows = [dict(row) for row in connection.execute(query).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    position = FeedPosition(rows[-1]["occurred_at"], rows[-1]["id"]) if rows else after
    return FeedPage(events=rows, next_position=position, more=more, until=until)


def retention_cutoff(now: datetime, years: int) -> datetime:
    """``now`` minus whole calendar years (29 February becomes 28 February)."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


def purge_events(connection: Connection, *, now: datetime, years: int) -> int:
    """Delete audit events older than ``years``; return how many went."""
    cutoff = retention_cutoff(now, years)
    result = connection.execute(delete(AUDIT_EVENT).where(AUDIT_EVENT.c.occurred_at < cutoff))
    return int(result.rowcount or 0)
