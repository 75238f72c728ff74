"""Every query of the news2 table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Table, delete, select

from journalloft.platform.records import visible
from journalloft.services.news2.models import Measurement
from journalloft.services.news2.schemas import MeasurementRow

MEASUREMENT: Table = Measurement.__table__  # type: ignore[attr-defined]


def measurements_since(
    connection: Connection, *, patients: Sequence[str], since: datetime
) -> list[MeasurementRow]:
    """Visible measurements of these people taken at or after ``since``, in one round trip.

    Ordered by patient, then newest first; ties broken by (source, id) so the order is stable.
    """
    if not patients:
        return []
    table = MEASUREMENT
    query = (
        select(*(table.c[name] for name in MeasurementRow._fields))
        .where(
            table.c.patient.in_(list(patients)),
            table.c.effective >= since,
            visible(table),
        )
        .order_by(
            table.c.patient,
            table.c.effective.desc(),
            table.c.source,
            table.c.record_id,
        )
    )
    return [MeasurementRow._make(row) for row in connection.execute(query)]


def delete_measured_before(connection: Connection, *, cutoff: datetime) -> int:
    """Delete every measurement (withdrawn or not) taken before ``cutoff``; return how many."""
    result = connection.execute(delete(MEASUREMENT).where(MEASUREMENT.c.effective < cutoff))
    return int(result.rowcount)
