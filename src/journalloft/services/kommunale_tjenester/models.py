"""The records table of kommunale-tjenester, in every tenant store."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from sqlalchemy import Index, column
from sqlmodel import Field

from journalloft.plugin import TENANT, SharedRecord

PATIENT_INDEX = "ix_kommunal_tjeneste_patient_visible"


class KommunalTjeneste(SharedRecord, table=True):
    """One service decision for one person, as the source last sent it.

    ``start_date``/``end_date`` hold the record's ``start``/``end`` (``end`` is an SQL keyword);
    ``unit_name``/``unit_phone`` hold its ``unit``. ``end_date`` is the last day, inclusive.
    """

    __tablename__ = "kommunal_tjeneste"
    __table_args__: ClassVar[Any] = (
        # The legevakt's query: every visible service of up to 200 people.
        Index(
            PATIENT_INDEX,
            "patient",
            postgresql_where=column("withdrawn_at").is_(None),
            sqlite_where=column("withdrawn_at").is_(None),
        ),
        {"schema": TENANT},
    )

    service_code: str = Field(max_length=3)
    description: str | None = Field(default=None, max_length=1000)
    unit_name: str | None = Field(default=None, max_length=200)
    unit_phone: str | None = Field(default=None, max_length=32)
    start_date: date
    end_date: date | None = None
    temporary_cessation: bool = False
    weekly_extent: str | None = Field(default=None, max_length=100)
    stay_type: str | None = Field(default=None, max_length=32)
