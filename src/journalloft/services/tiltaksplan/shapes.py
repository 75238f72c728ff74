"""Typed shapes of tiltaksplan: the stored columns, the row the lookup reads and a result."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal, NamedTuple, NotRequired, TypedDict

Status = Literal["active", "on-hold", "completed", "cancelled"]
ENDED: tuple[Status, ...] = ("completed", "cancelled")


class Schedule(TypedDict):
    """When a measure is done (``record.schema.json#/$defs/schedule``)."""

    times: NotRequired[list[str]]
    weekdays: NotRequired[list[str]]
    every_days: NotRequired[int]
    text: NotRequired[str]


class MeasureColumns(TypedDict):
    """The service's own columns of a stored row (the platform adds the shared ones)."""

    title: str
    category: str
    description: str | None
    schedule_times: str | None
    schedule_weekdays: str | None
    schedule_every_days: int | None
    schedule_text: str | None
    unit_name: str
    unit_phone: str | None
    start_date: date
    end_date: date | None
    status: str
    ended_on: date | None
    goal: str | None


class MeasureRow(NamedTuple):
    """One stored measure as the lookup reads it."""

    patient: str
    record_id: str
    title: str
    category: str
    description: str | None
    schedule_times: str | None
    schedule_weekdays: str | None
    schedule_every_days: int | None
    schedule_text: str | None
    unit_name: str
    unit_phone: str | None
    start_date: date
    end_date: date | None
    status: str
    ended_on: date | None
    goal: str | None
    updated: datetime


class Unit(TypedDict):
    name: str
    phone: str | None


class MeasureEntry(TypedDict):
    """One measure in a lookup result (``result.schema.json#/$defs/measure``)."""

    id: str
    title: str
    category: str
    category_name: str
    description: str | None
    schedule: Schedule | None
    next_occurrence: str | None
    unit: Unit
    start: date
    end: date | None
    status: Status
    goal: str | None
    updated: datetime


class PersonPlan(TypedDict):
    """What one municipality holds on one person (the platform adds patient and kommunenummer)."""

    active_count: int
    measures: list[MeasureEntry]
