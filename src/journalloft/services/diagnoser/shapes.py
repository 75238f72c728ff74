"""Typed shapes of Diagnoser: the ingested record, the stored row and the lookup entry.

They mirror ``schemas/diagnoser/v1/*.schema.json``: the JSON Schemas are the contract, these are
what the code reads and writes.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple, NotRequired, TypedDict

from journalloft.services.diagnoser.codes import CodeSystem
from journalloft.services.diagnoser.status import ClinicalStatus, VerificationStatus


class Code(TypedDict):
    """The diagnosis code and the source's display text of it."""

    system: CodeSystem
    code: str
    display: str


class RecordedBy(TypedDict):
    """Who recorded the diagnosis: the municipal unit, and the practitioner's HPR number."""

    unit: str
    hpr: NotRequired[str | None]


class DiagnosisRecord(TypedDict):
    """One record as a journal system sends it (already valid against record.schema.json)."""

    id: str
    patient: str
    updated: str
    code: Code
    clinical_status: ClinicalStatus | None
    verification_status: VerificationStatus
    onset: NotRequired[str | None]
    abatement: NotRequired[str | None]
    recorded_by: RecordedBy
    note: NotRequired[str | None]


class DiagnosisColumns(TypedDict):
    """The service's own columns of one stored diagnosis (the platform adds the shared ones).

    ``code`` is normalised (ICD-10 without its dot); ``inactive_on`` is what the window is
    judged by (see :func:`~.status.inactive_on`).
    """

    code_system: str
    code: str
    display: str
    clinical_status: str | None
    verification_status: str
    onset_date: date | None
    abatement_date: date | None
    inactive_on: date | None
    recorded_by_unit: str
    recorded_by_hpr: str | None
    note: str | None


class DiagnosisRow(NamedTuple):
    """One stored diagnosis as the lookup reads it (a row, not an ORM instance)."""

    patient: str
    record_id: str
    updated: datetime
    code_system: str
    code: str
    display: str
    clinical_status: str | None
    verification_status: str
    onset_date: date | None
    abatement_date: date | None
    inactive_on: date | None
    recorded_by_unit: str
    recorded_by_hpr: str | None
    note: str | None


class RecordedByOut(TypedDict):
    unit: str
    hpr: str | None


class DiagnosisOut(TypedDict):
    """One diagnosis in a lookup entry: the stored record without ``patient``
    (``result.schema.json#/$defs/diagnosis``)."""

    id: str
    updated: datetime
    code: Code
    clinical_status: ClinicalStatus
    verification_status: VerificationStatus
    onset: date | None
    abatement: date | None
    recorded_by: RecordedByOut
    note: str | None


class PatientDiagnoses(TypedDict):
    """What one municipality shares on one person (the platform adds patient and kommunenummer)."""

    active_count: int
    diagnoses: list[DiagnosisOut]
