"""Every query tiltaksplan makes against a tenant store."""

from __future__ import annotations

from sqlalchemy import Date, Table, bindparam, or_, select

from journalloft.plugin import among_people, visible
from journalloft.services.tiltaksplan.models import Tiltak
from journalloft.services.tiltaksplan.shapes import MeasureRow

TABLE: Table = Tiltak.__table__  # type: ignore[attr-defined]

MEASURES = select(*(TABLE.c[name] for name in MeasureRow._fields)).where(
    among_people(TABLE.c.patient), visible(TABLE)
)
CURRENT = MEASURES.where(
    # not in_(): the platform compiles the statement once, and an expanding bind is not a constant
    or_(TABLE.c.status == "active", TABLE.c.status == "on-hold"),
    or_(TABLE.c.end_date.is_(None), TABLE.c.end_date >= bindparam("today", type_=Date)),
)
"""The legevakt's query: the active and on-hold measures whose last day is not before ``today``."""
WITH_ENDED = MEASURES.where(
    or_(TABLE.c.ended_on.is_(None), TABLE.c.ended_on >= bindparam("ended_since", type_=Date))
)
"""Also the measures that ended on or after ``ended_since``."""
