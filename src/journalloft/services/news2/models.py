"""The table of NEWS2 measurements in every tenant store.

Vital signs are stored as sent; scores are computed when queried, so that a correction of the
scoring applies to every stored measurement.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Double, Index, SmallInteger
from sqlmodel import Field

from journalloft.plugin import TENANT, SharedRecord, utc_field


class Measurement(SharedRecord, table=True):
    """One set of vital signs of one person, keyed by (source, the source's id)."""

    __tablename__ = "news2_measurement"
    __table_args__ = (
        Index("ix_news2_measurement_patient_effective", "patient", "effective"),
        {"schema": TENANT},
    )

    effective: datetime = utc_field()
    spo2_scale: int = Field(sa_type=SmallInteger)
    respiration_rate: int | None = Field(default=None, sa_type=SmallInteger)
    spo2: int | None = Field(default=None, sa_type=SmallInteger)
    supplemental_oxygen: bool | None = None
    systolic_bp: int | None = Field(default=None, sa_type=SmallInteger)
    pulse: int | None = Field(default=None, sa_type=SmallInteger)
    consciousness: str | None = Field(default=None, max_length=1)
    temperature: float | None = Field(default=None, sa_type=Double)
    recorded_by_name: str | None = Field(default=None, max_length=200)
    recorded_by_hpr: str | None = Field(default=None, max_length=9)
    location: str | None = Field(default=None, max_length=200)
    source_scores: str | None = Field(default=None, max_length=32)
    """The sub-scores of a NEWS2 score the source computed and sent without the vital signs
    (``scoring.PARAMETERS`` order, comma-separated, ``-`` for a parameter not scored); NULL
    when the platform scores the vital signs itself."""
    recorded_by_national_id: str | None = Field(default=None, max_length=11)
    """The practitioner's fødselsnummer or D-nummer, as VKP names the author."""
    data_controller_orgnr: str | None = Field(default=None, max_length=9)
    """The organisation responsible for the measurement (VKP's performer[organization], the
    original data controller): its organisasjonsnummer (ENH) ..."""
    data_controller_resh: str | None = Field(default=None, max_length=9)
    """... or its RESH id (one of the two)."""
    data_controller_name: str | None = Field(default=None, max_length=200)
    source_system: str | None = Field(default=None, max_length=255)
    """Where the source says the measurement comes from (FHIR ``meta.source``)."""
    interpretations: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    """The source's text for a sub-score (``{"pulse": "≤40"}``: FHIR component
    interpretation text), by ``scoring.PARAMETERS`` name."""
