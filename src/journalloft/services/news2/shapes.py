"""Typed shapes of news2 data: the ingested record, stored rows and the query result.

They mirror ``schemas/news2/v1/*.schema.json``: the JSON Schemas are the contract, these are
what the code reads and writes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, NamedTuple, NotRequired, TypedDict

from journalloft.services.news2.scoring import Risk

Change = Literal["rising", "falling", "stable"]


class RecordedBy(TypedDict, total=False):
    name: str | None
    hpr: str | None
    national_id: str | None


class DataController(TypedDict, total=False):
    orgnr: str
    resh: str
    name: str | None


class News2Record(TypedDict):
    """One record as a journal system sends it (already valid against record.schema.json)."""

    id: str
    patient: str
    updated: str
    effective: str
    spo2_scale: Literal[1, 2]
    respiration_rate: NotRequired[int | None]
    spo2: NotRequired[int | None]
    supplemental_oxygen: NotRequired[bool | None]
    systolic_bp: NotRequired[int | None]
    pulse: NotRequired[int | None]
    consciousness: NotRequired[str | None]
    temperature: NotRequired[float | None]
    total_score: NotRequired[int | None]
    recorded_by: NotRequired[RecordedBy | None]
    location: NotRequired[str | None]
    source_scores: NotRequired[dict[str, int | None] | None]
    data_controller: NotRequired[DataController | None]
    source_system: NotRequired[str | None]
    interpretations: NotRequired[dict[str, str] | None]


class MeasurementRow(NamedTuple):
    """One stored measurement as the repository reads it (a row, not an ORM instance): the
    columns the lookup selects, in order. The vital signs among them are
    :data:`~.scoring.VITAL_SIGNS`, in that order (checked when the service is imported);
    ``prepare`` returns the same fields after ``updated`` as a dict."""

    patient: str
    record_id: str
    updated: datetime
    effective: datetime
    spo2_scale: int
    respiration_rate: int | None
    spo2: int | None
    supplemental_oxygen: bool | None
    systolic_bp: int | None
    pulse: int | None
    consciousness: str | None
    temperature: float | None
    recorded_by_name: str | None
    recorded_by_hpr: str | None
    location: str | None
    source_scores: str | None
    recorded_by_national_id: str | None
    data_controller_orgnr: str | None
    data_controller_resh: str | None
    data_controller_name: str | None
    source_system: str | None
    interpretations: dict[str, str] | None


class ScoreOut(TypedDict):
    total: int
    risk: Risk | None
    complete: bool
    parameters: dict[str, int | None]
    scored_by: NotRequired[Literal["source"]]


class RecordedByOut(TypedDict):
    name: str | None
    hpr: str | None
    national_id: NotRequired[str]


class MeasurementOut(TypedDict):
    """One measurement on the board; its instants in UTC, for the JSON renderer to write as
    RFC 3339 with ``Z``."""

    id: str
    effective: datetime
    updated: datetime
    respiration_rate: int | None
    spo2: int | None
    spo2_scale: int
    supplemental_oxygen: bool | None
    systolic_bp: int | None
    pulse: int | None
    consciousness: str | None
    temperature: float | None
    recorded_by: RecordedByOut | None
    location: str | None
    score: ScoreOut
    data_controller: NotRequired[DataController]
    source_system: NotRequired[str]
    interpretations: NotRequired[dict[str, str]]


class Trend(TypedDict):
    previous_total: int
    change: Change


class PatientResult(TypedDict):
    """One query result entry without ``patient`` and ``kommunenummer`` (the platform adds them)."""

    latest: MeasurementOut
    measurements: list[MeasurementOut]
    trend: Trend | None
