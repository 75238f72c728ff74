"""Every query of the news2 table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Table, bindparam, delete, select

from journalloft.plugin import UTCDateTime, among_people, visible
from journalloft.services.news2.models import Measurement
from journalloft.services.news2.shapes import MeasurementRow

MEASUREMENT: Table = Measurement.__table__  # type: ignore[attr-defined]


MEASUREMENTS_SINCE = (
    select(*(MEASUREMENT.c[name] for name in MeasurementRow._fields))
    .where(
        among_people(MEASUREMENT.c.patient),
        MEASUREMENT.c.effective >= bindparam("since", type_=UTCDateTime),
        visible(MEASUREMENT),
    )
    .order_by(
        MEASUREMENT.c.patient,
        MEASUREMENT.c.effective.desc(),
        MEASUREMENT.c.source,
        MEASUREMENT.c.record_id,
    )
)
"""Visible measurements of the people bound as ``patients`` taken at or after ``since``.

Ordered by patient, then newest first; ties broken by (source, id) so the order is stable. The
columns are those of :class:`MeasurementRow`.
"""


def delete_measured_before(connection: Connection, *, cutoff: datetime) -> int:
    """Delete every measurement (withdrawn or not) taken before ``cutoff``; return how many."""
    result = connection.execute(delete(MEASUREMENT).where(MEASUREMENT.c.effective < cutoff))
    return int(result.rowcount)
