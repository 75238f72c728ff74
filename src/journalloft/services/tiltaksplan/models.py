"""The records table of tiltaksplan, in every tenant store."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from sqlalchemy import Index, column
from sqlmodel import Field

from journalloft.plugin import TENANT, SharedRecord

PATIENT_INDEX = "ix_tiltak_patient_visible"


class Tiltak(SharedRecord, table=True):
    """One measure of a person's plan, as the source last sent it.

    The schedule is kept in four columns (times and weekdays comma-separated, as sent);
    ``ended_on`` is the day the measure ended or ends (its ``end``; for a completed or cancelled
    one without an earlier end, the day of the source's update), what the window compares.
    """

    __tablename__ = "tiltak"
    __table_args__: ClassVar[Any] = (
        Index(
            PATIENT_INDEX,
            "patient",
            postgresql_where=column("withdrawn_at").is_(None),
            sqlite_where=column("withdrawn_at").is_(None),
        ),
        {"schema": TENANT},
    )

    title: str = Field(max_length=200)
    category: str = Field(max_length=32)
    description: str | None = Field(default=None, max_length=1000)
    schedule_times: str | None = Field(default=None, max_length=150)
    schedule_weekdays: str | None = Field(default=None, max_length=30)
    schedule_every_days: int | None = None
    schedule_text: str | None = Field(default=None, max_length=200)
    unit_name: str = Field(max_length=200)
    unit_phone: str | None = Field(default=None, max_length=32)
    start_date: date
    end_date: date | None = None
    status: str = Field(max_length=16)
    ended_on: date | None = None
    goal: str | None = Field(default=None, max_length=500)
