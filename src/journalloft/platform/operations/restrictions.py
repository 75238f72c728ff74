"""Restrictions (sperring): people who have said no to sharing in one municipality.

Enforced at the source, in the query, before data leaves: a restricted person's entry is
``{"patient", "kommunenummer", "restricted": true}`` and nothing else (:data:`RESTRICTED_AMONG`,
which the lookup reads, :mod:`.sharing`). Only purpose BTG (break the glass), where the tenant's
policy allows it and the attestation names the practitioner, opens it
(:func:`breaks_the_glass`), and that access is flagged in the audit log.

Marking and lifting restrictions, and listing them: one person from the API, many from the
command line, through the same operation. Every change and every listing is an audit event in
the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from journalloft.platform.audit.log import record_access
from journalloft.platform.auth.attestation import Attestation
from journalloft.platform.core.errors import InvalidContent
from journalloft.platform.core.identifiers import person_id_errors
from journalloft.platform.core.jsonschemas import SCHEMA_BASE
from journalloft.platform.core.tenancy import Tenant
from journalloft.platform.live.changes import data_change
from journalloft.platform.operations.access import RestrictionAccess
from journalloft.platform.operations.units import in_unit_of_work
from journalloft.platform.runtime import Runtime
from journalloft.platform.storage.models import Restriction
from journalloft.platform.storage.statements import among_people

# The restriction table and the break-the-glass rule, as the lookup and the operations read them.

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


# The operations.

RESTRICTION_SCHEMA = SCHEMA_BASE + "platform/v1/restriction.schema.json"


class RestrictionChange(TypedDict):
    patient: str
    kommunenummer: str
    restricted: bool
    changed: bool


def change_restrictions(
    runtime: Runtime, access: RestrictionAccess, patients: Sequence[str], *, restricted: bool
) -> list[RestrictionChange]:
    """Mark (``restricted``) or lift each person's restriction, all in one transaction; a
    ``restrict`` or ``lift-restriction`` event per person (result count 1 if it changed)."""
    caller, tenant = access.caller, access.tenant

    def change(connection: Connection) -> list[RestrictionChange]:
        changes: list[RestrictionChange] = []
        for patient in patients:
            changed = set_restriction(
                connection,
                patient=patient,
                restricted=restricted,
                by=caller.client_id,
                now=caller.now,
            )
            record_access(
                connection,
                context=caller,
                action="restrict" if restricted else "lift-restriction",
                service=None,
                patients=[(patient, 1 if changed else 0)],
            )
            changes.append(
                {
                    "patient": patient,
                    "kommunenummer": tenant.kommunenummer,
                    "restricted": restricted,
                    "changed": changed,
                }
            )
        return changes

    return in_unit_of_work(
        runtime,
        tenant.kommunenummer,
        change,
        changes=lambda done: [
            data_change(c["kommunenummer"], None, c["patient"]) for c in done if c["changed"]
        ],
    )


def change_restriction(runtime: Runtime, access: RestrictionAccess, body: Any) -> RestrictionChange:
    """The API's body ``{"patient", "restricted"}``: one person, checked, then
    :func:`change_restrictions`."""
    errors = runtime.schemas.errors(body, RESTRICTION_SCHEMA)
    patient = body.get("patient") if isinstance(body, dict) else None
    if isinstance(patient, str) and not any(e.pointer == "/patient" for e in errors):
        errors += person_id_errors(
            [patient],
            allow_synthetic=bool(runtime.settings.allow_synthetic_ids),
            pointer=lambda _: "/patient",
        )
    if errors:
        raise InvalidContent("the restriction is not valid", errors=errors)
    return change_restrictions(runtime, access, [body["patient"]], restricted=body["restricted"])[0]


def restricted_people(runtime: Runtime, access: RestrictionAccess) -> list[dict[str, Any]]:
    """Everyone restricted in this municipality, oldest first; a ``restrictions-list`` event."""

    def read(connection: Connection) -> list[dict[str, Any]]:
        rows = list_restrictions(connection)
        record_access(
            connection,
            context=access.caller,
            action="restrictions-list",
            service=None,
            patients=[(None, len(rows))],
        )
        return rows

    return in_unit_of_work(runtime, access.tenant.kommunenummer, read)
