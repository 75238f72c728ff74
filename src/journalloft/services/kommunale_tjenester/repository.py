"""Every query kommunale-tjenester makes against a tenant store."""

from __future__ import annotations

from sqlalchemy import Date, Table, bindparam, or_, select

from journalloft.plugin import among_people, visible
from journalloft.services.kommunale_tjenester.models import KommunalTjeneste
from journalloft.services.kommunale_tjenester.shapes import ServiceRow

TABLE: Table = KommunalTjeneste.__table__  # type: ignore[attr-defined]

SERVICES = select(*(TABLE.c[name] for name in ServiceRow._fields)).where(
    among_people(TABLE.c.patient), visible(TABLE)
)
"""The legevakt's query: visible services of the people bound as ``patients`` (served by the
patient index), ended ones included."""
SERVICES_ENDED_SINCE = SERVICES.where(
    or_(TABLE.c.end_date.is_(None), TABLE.c.end_date >= bindparam("ended_since", type_=Date))
)
""":data:`SERVICES` without those whose last day is before ``ended_since``."""
