"""The table of assessments in every tenant store."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from sqlalchemy import JSON, Column, Index, column
from sqlmodel import Field

from journalloft.plugin import TENANT, SharedRecord

PATIENT_INDEX = "ix_kartlegging_patient_visible"


class Kartlegging(SharedRecord, table=True):
    """One completed assessment of one person, as the source last sent it.

    ``items`` holds item identifiers and scores only (never an instrument's wording);
    ``assessed_by_unit``/``assessed_by_hpr`` the record's ``assessed_by``."""

    __tablename__ = "kartlegging"
    __table_args__: ClassVar[Any] = (
        Index(
            PATIENT_INDEX,
            "patient",
            "assessed_on",
            postgresql_where=column("withdrawn_at").is_(None),
            sqlite_where=column("withdrawn_at").is_(None),
        ),
        {"schema": TENANT},
    )

    instrument: str = Field(max_length=16)
    assessed_on: date
    total: int | None = None
    items: dict[str, int] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    band: str | None = Field(default=None, max_length=16)
    band_by: str | None = Field(default=None, max_length=8)
    assessed_by_unit: str = Field(max_length=200)
    assessed_by_hpr: str | None = Field(default=None, max_length=9)
    note: str | None = Field(default=None, max_length=500)
