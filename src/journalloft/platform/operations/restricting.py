"""Marking and lifting restrictions (sperring), and listing them: one person from the API, many
from the command line, through the same operation. Every change and every listing is an audit
event in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

from sqlalchemy import Connection

from journalloft.platform.audit.log import record_access
from journalloft.platform.core.errors import InvalidContent
from journalloft.platform.core.identifiers import person_id_errors
from journalloft.platform.core.jsonschemas import SCHEMA_BASE
from journalloft.platform.live.changes import data_change
from journalloft.platform.operations.access import RestrictionAccess
from journalloft.platform.operations.units import in_unit_of_work
from journalloft.platform.restrictions import list_restrictions, set_restriction
from journalloft.platform.runtime import Runtime

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
