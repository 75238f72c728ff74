"""Every query kommunale-tjenester makes against a tenant store."""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple

from sqlalchemy import Date, Table, bindparam, or_, select

from journalloft.platform.records import visible
from journalloft.platform.statements import among_people
from journalloft.services.kommunale_tjenester.models import KommunalTjeneste

TABLE: Table = KommunalTjeneste.__table__  # type: ignore[attr-defined]


class ServiceRow(NamedTuple):
    """One stored service as the query reads it (a row, not an ORM instance)."""

    patient: str
    record_id: str
    service_code: str
    description: str | None
    unit_name: str | None
    unit_phone: str | None
    start_date: date
    end_date: date | None
    temporary_cessation: bool
    weekly_extent: str | None
    stay_type: str | None
    updated: datetime


_SERVICES = select(*(TABLE.c[name] for name in ServiceRow._fields)).where(
    among_people(TABLE.c.patient), visible(TABLE)
)
SERVICES = _SERVICES
"""The legevakt's query: visible services of the people bound as ``patients`` (served by the
patient index), ended ones included."""
SERVICES_ENDED_SINCE = _SERVICES.where(
    or_(TABLE.c.end_date.is_(None), TABLE.c.end_date >= bindparam("ended_since", type_=Date))
)
""":data:`SERVICES` without those whose last day is before ``ended_since``."""
