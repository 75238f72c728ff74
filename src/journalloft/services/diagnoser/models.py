"""The table of diagnoses in every tenant store."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from sqlalchemy import Index, column
from sqlmodel import Field

from journalloft.plugin import TENANT, SharedRecord

PATIENT_INDEX = "ix_diagnose_patient_visible"


class Diagnose(SharedRecord, table=True):
    """One diagnosis or health problem of one person, as the source last sent it.

    ``code`` is stored normalised (ICD-10 without its dot); ``onset_date``/``abatement_date``
    hold the record's ``onset``/``abatement``; ``recorded_by_unit``/``recorded_by_hpr`` its
    ``recorded_by``. ``inactive_on`` is derived at ingest: the day an inactive, remitted or
    resolved diagnosis counts from for the municipality's window (null for the others).
    """

    __tablename__ = "diagnose"
    __table_args__: ClassVar[Any] = (
        # The legevakt's lookup: every visible diagnosis of up to 200 people.
        Index(
            PATIENT_INDEX,
            "patient",
            postgresql_where=column("withdrawn_at").is_(None),
            sqlite_where=column("withdrawn_at").is_(None),
        ),
        {"schema": TENANT},
    )

    code_system: str = Field(max_length=8)
    code: str = Field(max_length=5)
    display: str = Field(max_length=300)
    clinical_status: str | None = Field(default=None, max_length=16)
    verification_status: str = Field(max_length=16)
    onset_date: date | None = None
    abatement_date: date | None = None
    inactive_on: date | None = None
    recorded_by_unit: str = Field(max_length=200)
    recorded_by_hpr: str | None = Field(default=None, max_length=9)
    note: str | None = Field(default=None, max_length=500)
