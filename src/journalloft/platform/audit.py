"""The audit log: every read or write of patient data, in the tenant's own store.

Events are written in the same transaction as the access they describe, before any data leaves; if
the event cannot be written the access fails.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from journalloft.platform.auth import Principal
from journalloft.platform.models import AuditEvent

AUDIT_EVENT = AuditEvent.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who asked, through what, when: everything an audit event says besides the data touched."""

    principal: Principal
    correlation_id: str
    epj_system: str | None
    now: datetime


def record_access(
    connection: Connection,
    *,
    context: RequestContext,
    action: str,
    service: str | None,
    patients: Iterable[tuple[str | None, int]],
    break_the_glass: bool = False,
    outcome: str = "ok",
) -> None:
    """Write one event per (patient, result count)."""
    principal = context.principal
    attestation = principal.attestation
    common: dict[str, Any] = {
        "occurred_at": context.now,
        "action": action,
        "service": service,
        "client_id": principal.client_id,
        "organisasjonsnummer": attestation.legal_entity or principal.organisasjonsnummer,
        "practitioner_name": attestation.practitioner_name,
        "practitioner_hpr": attestation.practitioner_hpr,
        "purpose": attestation.purpose,
        "healthcare_service": attestation.healthcare_service,
        "break_the_glass": break_the_glass,
        "epj_system": context.epj_system,
        "correlation_id": context.correlation_id,
        "outcome": outcome,
    }
    rows = [{**common, "patient": patient, "result_count": count} for patient, count in patients]
    if rows:
        connection.execute(insert(AUDIT_EVENT), rows)


AUDIT_FIELDS = (
    "occurred_at",
    "action",
    "service",
    "client_id",
    "organisasjonsnummer",
    "practitioner_name",
    "practitioner_hpr",
    "purpose",
    "healthcare_service",
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
