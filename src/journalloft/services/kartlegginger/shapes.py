"""Typed shapes of Kartlegginger: the stored columns, the row the lookup reads and the lookup's
entry. They mirror ``schemas/kartlegginger/v1/*.schema.json`` (the contract)."""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple, TypedDict


class AssessmentColumns(TypedDict):
    """The service's own columns of one stored assessment (the platform adds the shared ones).

    ``total`` is the source's or the platform's sum; ``band`` the rule's band (``band_by``
    ``"rule"``) or the level the source recorded (``"source"``: fall risk)."""

    instrument: str
    assessed_on: date
    total: int | None
    items: dict[str, int] | None
    band: str | None
    band_by: str | None
    assessed_by_unit: str
    assessed_by_hpr: str | None
    note: str | None


class AssessmentRow(NamedTuple):
    """One stored assessment as the lookup reads it."""

    patient: str
    record_id: str
    updated: datetime
    instrument: str
    assessed_on: date
    total: int | None
    items: dict[str, int] | None
    band: str | None
    band_by: str | None
    assessed_by_unit: str
    assessed_by_hpr: str | None
    note: str | None


class AssessedBy(TypedDict):
    unit: str
    hpr: str | None


class AssessmentOut(TypedDict):
    """One assessment in a lookup entry (``result.schema.json#/$defs/assessment``)."""

    id: str
    updated: datetime
    assessed: date
    total: int | None
    items: dict[str, int] | None
    complete: bool | None
    band: str | None
    band_by: str | None
    assessed_by: AssessedBy
    note: str | None


class InstrumentOut(TypedDict):
    """One instrument's latest assessment and the one before it, and the change of the total."""

    instrument: str
    title: str
    version: str
    latest: AssessmentOut
    previous: AssessmentOut | None
    change: int | None


class PatientAssessments(TypedDict):
    """What one municipality shares on one person (the platform adds patient and kommunenummer)."""

    instruments: list[InstrumentOut]
