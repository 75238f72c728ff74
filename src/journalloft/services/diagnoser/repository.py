"""Every query of the diagnose table."""

from __future__ import annotations

from sqlalchemy import Date, Table, and_, bindparam, or_, select

from journalloft.plugin import among_people, visible
from journalloft.services.diagnoser.models import Diagnose
from journalloft.services.diagnoser.shapes import DiagnosisRow
from journalloft.services.diagnoser.status import NEVER_SHARED

TABLE: Table = Diagnose.__table__  # type: ignore[attr-defined]

DIAGNOSES = select(*(TABLE.c[name] for name in DiagnosisRow._fields)).where(
    among_people(TABLE.c.patient),
    visible(TABLE),
    and_(*(TABLE.c.verification_status != status for status in sorted(NEVER_SHARED))),
)
"""Every diagnosis of the people bound as ``patients`` that may be shared at all: visible, and
neither refuted nor entered in error (served by the patient index). Excluded code ranges are
dropped after reading: they are the tenant's settings, not part of the statement."""

DIAGNOSES_INACTIVE_SINCE = DIAGNOSES.where(
    or_(
        TABLE.c.inactive_on.is_(None),
        TABLE.c.inactive_on >= bindparam("inactive_since", type_=Date),
    )
)
""":data:`DIAGNOSES` without the inactive, remitted and resolved ones that became so before
``inactive_since``."""
