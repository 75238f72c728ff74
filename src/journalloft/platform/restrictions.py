"""Restrictions (sperring): people who have said no to sharing in one municipality.

Enforced at the source, in the query, before data leaves: a restricted person's entry is
``{"patient", "kommunenummer", "restricted": true}`` and nothing else. Only purpose BTG (break the
glass), where the tenant's policy allows it and the attestation names the practitioner, opens it,
and that access is flagged in the audit log. Every mark and lift is an audit event too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from journalloft.platform.auth.attestation import Attestation
from journalloft.platform.core.tenancy import Tenant
from journalloft.platform.storage.models import Restriction
from journalloft.platform.storage.statements import among_people

RESTRICTION = Restriction.__table__  # type: ignore[attr-defined]
RESTRICTED_AMONG = select(RESTRICTION.c.patient).where(among_people(RESTRICTION.c.patient))
"""Which of the people bound as ``patients`` are restricted in this tenant."""


def set_restriction(
    connection: Connection, *, patient: str, restricted: bool, by: str, now: datetime
) -> bool:
    """Mark (or lift) a restriction; True if that changed anything.

    Marking is ``INSERT … ON CONFLICT DO NOTHING``: of two requests that mark the same new
    person at once, the one that comes second changes nothing, and no statement fails on the
    person id's key (PostgreSQL would write the id into its server log with the failure)."""
    if restricted:
        dialect = connection.dialect.name
        marking = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(RESTRICTION)
        done = connection.execute(
            marking.values(patient=patient, restricted_at=now, restricted_by=by)
            .on_conflict_do_nothing(index_elements=[RESTRICTION.c.patient])
            .returning(RESTRICTION.c.patient)
        )
        return done.first() is not None
    lifted = connection.execute(delete(RESTRICTION).where(RESTRICTION.c.patient == patient))
    return bool(lifted.rowcount)


def list_restrictions(connection: Connection) -> list[dict[str, Any]]:
    rows = connection.execute(
        select(RESTRICTION).order_by(RESTRICTION.c.restricted_at, RESTRICTION.c.patient)
    ).mappings()
    return [dict(row) for row in rows]


def breaks_the_glass(tenant: Tenant, attestation: Attestation | None) -> bool:
    """Whether this access may open restricted people's data in this tenant: purpose BTG, a
    tenant policy that allows it, and an attestation that names the practitioner (an emergency
    access must be traceable to a person)."""
    return (
        tenant.policy.allow_break_the_glass
        and attestation is not None
        and attestation.break_the_glass
        and attestation.names_practitioner
    )
