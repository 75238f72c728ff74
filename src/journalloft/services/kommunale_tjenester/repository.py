"""Every query kommunale-tjenester makes against a tenant store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, cast

from sqlalchemy import Connection, Select, Table, or_, select

from journalloft.platform.records import visible
from journalloft.services.kommunale_tjenester.models import KommunalTjeneste

TABLE: Table = KommunalTjeneste.__table__  # type: ignore[attr-defined]


def services_query(*, patients: Sequence[str], ended_since: date | None) -> Select[Any]:
    """The legevakt's query: visible services of these people (served by the patient index).

    With ``ended_since``, services whose last day is before it are left out; None keeps them all.
    """
    query = select(
        TABLE.c.patient,
        TABLE.c.record_id,
        TABLE.c.service_code,
        TABLE.c.description,
        TABLE.c.unit_name,
        TABLE.c.unit_phone,
        TABLE.c.start_date,
        TABLE.c.end_date,
        TABLE.c.temporary_cessation,
        TABLE.c.weekly_extent,
        TABLE.c.stay_type,
        TABLE.c.updated,
    ).where(TABLE.c.patient.in_(patients), visible(TABLE))
    if ended_since is not None:
        query = query.where(or_(TABLE.c.end_date.is_(None), TABLE.c.end_date >= ended_since))
    return query


def services_for_patients(
    connection: Connection, *, patients: Sequence[str], ended_since: date | None
) -> Sequence[Mapping[str, Any]]:
    """Rows (not ORM instances) of :func:`services_query`, for all patients in one round trip."""
    rows = connection.execute(services_query(patients=patients, ended_since=ended_since))
    return cast(Sequence[Mapping[str, Any]], rows.mappings().all())
