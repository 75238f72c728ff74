"""Kartlegginger: standardized assessments of a person, and the legevakt's lookup.

What the legevakt needs to know of a person's baseline before deciding: function in daily life,
cognition, nutrition, fall and pressure-ulcer risk, pain in dementia. The lookup answers, per
instrument, the latest assessment and the one before it (the change is what a clinician reads),
made within the municipality's window (``window_years``, default 3).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Table

from journalloft.plugin import (
    SCHEMA_BASE,
    IngestContext,
    Lookup,
    QueryContext,
    today_in_oslo,
    window_setting,
)
from journalloft.services.kartlegginger import demo, fhir
from journalloft.services.kartlegginger.board import PARTS as BOARD_PARTS
from journalloft.services.kartlegginger.instruments import INSTRUMENTS, ORDER
from journalloft.services.kartlegginger.repository import ASSESSMENTS_SINCE, TABLE
from journalloft.services.kartlegginger.rules import assessment_columns, years_before
from journalloft.services.kartlegginger.shapes import (
    AssessmentOut,
    AssessmentRow,
    InstrumentOut,
    PatientAssessments,
)

HERE: Final = Path(__file__).parent
SCHEMAS: Final = SCHEMA_BASE + "kartlegginger/v1/"
DEFAULT_WINDOW_YEARS: Final = 3
MAX_WINDOW_YEARS: Final = 100


def window_years(settings: Mapping[str, Any]) -> int:
    """The tenant's ``window_years`` (``settings.schema.json``), default 3."""
    return window_setting(
        settings, "window_years", default=DEFAULT_WINDOW_YEARS, most=MAX_WINDOW_YEARS
    )


def assessment_out(row: AssessmentRow) -> AssessmentOut:
    """One stored assessment as the legevakt sees it; ``complete`` says whether every item of
    the instrument was scored (None: no items sent, or the instrument has none)."""
    instrument = INSTRUMENTS[row.instrument]
    complete = None
    if row.items is not None:
        alternatives = {name for group in instrument.either for name in group}
        needed = [n for n in instrument.items if n not in alternatives]
        complete = all(n in row.items for n in needed)
    return {
        "id": row.record_id,
        "updated": row.updated,
        "assessed": row.assessed_on,
        "total": row.total,
        "items": row.items,
        "complete": complete,
        "band": row.band,
        "band_by": row.band_by,
        "assessed_by": {"unit": row.assessed_by_unit, "hpr": row.assessed_by_hpr},
        "note": row.note,
    }


def _newest_first(row: AssessmentRow) -> tuple[int, float, str]:
    return (-row.assessed_on.toordinal(), -row.updated.timestamp(), row.record_id)


def summarise(rows: Iterable[AssessmentRow]) -> dict[str, PatientAssessments]:
    """Each person's instruments in the legevakt's order, each with its latest assessment and
    the one before it (by assessment date, then the source's last change)."""
    grouped: dict[str, dict[str, list[AssessmentRow]]] = {}
    for row in rows:
        grouped.setdefault(row.patient, {}).setdefault(row.instrument, []).append(row)
    found: dict[str, PatientAssessments] = {}
    for patient, by_instrument in grouped.items():
        entries: list[InstrumentOut] = []
        for code in sorted(by_instrument, key=ORDER.__getitem__):
            latest, *rest = sorted(by_instrument[code], key=_newest_first)
            previous = rest[0] if rest else None
            change = None
            if previous is not None and latest.total is not None and previous.total is not None:
                change = latest.total - previous.total
            instrument = INSTRUMENTS[code]
            entries.append(
                {
                    "instrument": code,
                    "title": instrument.title,
                    "version": instrument.version,
                    "latest": assessment_out(latest),
                    "previous": assessment_out(previous) if previous is not None else None,
                    "change": change,
                }
            )
        found[patient] = {"instruments": entries}
    return found


class Kartlegginger:
    """The sharing service Kartlegginger; see :class:`~journalloft.plugin.SharingService`.

    Its schemas ship in the package (``schemas/kartlegginger/v1/``)."""

    name: str = "kartlegginger"
    title: str = "Kartlegginger"
    version: str = "v1"
    record_schema: str = SCHEMAS + "record.schema.json"
    query_schema: str = SCHEMAS + "query.schema.json"
    result_schema: str = SCHEMAS + "result.schema.json"
    settings_schema: str | None = SCHEMAS + "settings.schema.json"
    table: Table = TABLE
    migrations: Path = HERE / "migrations"
    schema_folder: Path | None = HERE / "schemas"
    face_parts: Mapping[str, tuple[object, ...]] = {"fhir": fhir.PROVIDERS, "board": BOARD_PARTS}

    def prepare(self, record: Mapping[str, Any], *, context: IngestContext) -> dict[str, Any]:
        """Check the instrument's items, total, band and the dates; return the columns."""
        return dict(assessment_columns(record, now=context.now))

    def lookup(self, *, context: QueryContext) -> Lookup:
        """Assessments made within the tenant's ``window_years`` (on that day or later)."""
        since = years_before(today_in_oslo(context.now), window_years(context.settings))
        return Lookup(ASSESSMENTS_SINCE, {"since": since})

    def results(
        self, rows: Sequence[tuple[Any, ...]], *, context: QueryContext
    ) -> dict[str, dict[str, Any]]:
        """Per person and instrument, the latest assessment and the one before it."""
        found = summarise(map(AssessmentRow._make, rows))
        return {patient: dict(entry) for patient, entry in found.items()}

    def demo_records(
        self, *, rng: random.Random, patients: Sequence[str], now: datetime
    ) -> list[dict[str, Any]]:
        """Assessments of the people over the last years, as a municipal EPJ would send them."""
        return demo.demo_records(rng=rng, patients=patients, now=now)
