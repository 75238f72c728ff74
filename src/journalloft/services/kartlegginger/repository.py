"""Every query of the kartlegging table."""

from __future__ import annotations

from sqlalchemy import Date, Table, bindparam, select

from journalloft.plugin import among_people, visible
from journalloft.services.kartlegginger.models import Kartlegging
from journalloft.services.kartlegginger.shapes import AssessmentRow

TABLE: Table = Kartlegging.__table__  # type: ignore[attr-defined]

ASSESSMENTS_SINCE = select(*(TABLE.c[name] for name in AssessmentRow._fields)).where(
    among_people(TABLE.c.patient),
    visible(TABLE),
    TABLE.c.assessed_on >= bindparam("since", type_=Date),
)
"""Every visible assessment of the people bound as ``patients`` made on ``since`` or later
(served by the patient index); the latest two per instrument are picked after reading."""
