"""Diagnoser: the rules of a diagnosis record, and the legevakt's lookup.

What a legevakt doctor seeing a confused 80-year-old at 02:00 asks first: does this person have
dementia, heart failure, diabetes? The lookup answers with the active diagnoses first, then the
ones that became inactive within the municipality's window, never a refuted one or one entered
in error, and never one in a code range the municipality has chosen not to share.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, cast

from sqlalchemy import Table

from journalloft.plugin import (
    SCHEMA_BASE,
    FieldError,
    IngestContext,
    Lookup,
    QueryContext,
    RecordRejected,
    optional_date,
    summarise_by_person,
    today_in_oslo,
    window_setting,
)
from journalloft.services.diagnoser import demo, fhir
from journalloft.services.diagnoser.board import PARTS as BOARD_PARTS
from journalloft.services.diagnoser.codes import (
    CodeRange,
    InvalidCode,
    is_excluded,
    normalise_code,
    parse_exclusions,
)
from journalloft.services.diagnoser.repository import (
    DIAGNOSES,
    DIAGNOSES_INACTIVE_SINCE,
    TABLE,
)
from journalloft.services.diagnoser.shapes import (
    DiagnosisColumns,
    DiagnosisOut,
    DiagnosisRow,
    PatientDiagnoses,
)
from journalloft.services.diagnoser.status import (
    inactive_on,
    is_active,
    sort_key,
    status_errors,
    years_before,
)

SCHEMAS: Final = SCHEMA_BASE + "diagnoser/v1/"
DEFAULT_RESOLVED_WINDOW_YEARS: Final = 5
MAX_RESOLVED_WINDOW_YEARS: Final = 100
_HPR: Final = re.compile(r"[1-9][0-9]{6,8}")


def _recorded_date(
    record: Mapping[str, Any], name: str, *, today: date, errors: list[FieldError]
) -> date | None:
    """The record's date ``name`` (null or absent: None); a bad or future one is an error."""
    value = record.get(name)
    if value is None:
        return None
    parsed = optional_date(value)
    if parsed is None:
        errors.append(FieldError(f"/{name}", "is not a valid date (YYYY-MM-DD)"))
    elif parsed > today:
        errors.append(
            FieldError(f"/{name}", f"must not be after today in Norway ({today.isoformat()})")
        )
    return parsed


def diagnosis_columns(record: Mapping[str, Any], *, now: datetime) -> DiagnosisColumns:
    """Check one schema-valid record against the rules beyond its schema; return its columns.

    Raises :class:`RecordRejected` with every violation: a code of the wrong form for its
    system (``/code/code``, see :mod:`.codes`), a clinical status missing or present against
    the verification status (``/clinical_status``), an abatement with a clinical status other
    than inactive, remission or resolved, or before the onset (``/abatement``), a date after
    today in Norway (``/onset``, ``/abatement``), an HPR number of the wrong form
    (``/recorded_by/hpr``).
    """
    errors: list[FieldError] = []
    sent = record["code"]
    code = None
    try:
        code = normalise_code(sent["system"], sent["code"])
    except InvalidCode as exc:
        errors.append(FieldError("/code/code", str(exc)))
    today = today_in_oslo(now)
    onset = _recorded_date(record, "onset", today=today, errors=errors)
    abatement = _recorded_date(record, "abatement", today=today, errors=errors)
    if onset is not None and abatement is not None and abatement < onset:
        errors.append(
            FieldError("/abatement", f"must not be before the onset ({onset.isoformat()})")
        )
    hpr = record["recorded_by"].get("hpr")
    if hpr is not None and not _HPR.fullmatch(hpr):
        errors.append(
            FieldError("/recorded_by/hpr", "an HPR number is 7 to 9 digits, no leading zero")
        )
    clinical: str | None = record.get("clinical_status")
    verification: str = record["verification_status"]
    errors += status_errors(
        clinical=clinical,
        verification=verification,
        abated=record.get("abatement") is not None,
    )
    if errors or code is None:
        raise RecordRejected(sorted(errors, key=lambda e: e.pointer))
    recorded_by = record["recorded_by"]
    updated = datetime.fromisoformat(record["updated"])
    return {
        "code_system": sent["system"],
        "code": code,
        "display": sent["display"],
        "clinical_status": clinical,
        "verification_status": verification,
        "onset_date": onset,
        "abatement_date": abatement,
        "inactive_on": inactive_on(clinical=clinical, abatement=abatement, updated=updated),
        "recorded_by_unit": recorded_by["unit"],
        "recorded_by_hpr": hpr,
        "note": record.get("note"),
    }


def resolved_window_years(settings: Mapping[str, Any]) -> int:
    """The tenant's ``resolved_window_years`` (``settings.schema.json``), default 5.

    Raises ValueError for a value the settings schema refuses (a broken tenant file).
    """
    return window_setting(
        settings,
        "resolved_window_years",
        default=DEFAULT_RESOLVED_WINDOW_YEARS,
        most=MAX_RESOLVED_WINDOW_YEARS,
    )


def excluded_ranges(settings: Mapping[str, Any]) -> tuple[CodeRange, ...]:
    """The code ranges the tenant never shares (``excluded_codes``), parsed once per value."""
    setting = settings.get("excluded_codes") or {}
    return _parsed_exclusions(
        tuple((system, tuple(entries)) for system, entries in setting.items())
    )


@lru_cache(maxsize=256)
def _parsed_exclusions(setting: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[CodeRange, ...]:
    return parse_exclusions(dict(setting))


def diagnosis_out(row: DiagnosisRow) -> DiagnosisOut:
    """One stored diagnosis as the legevakt sees it: the record as stored, without ``patient``."""
    return cast(
        DiagnosisOut,
        {
            "id": row.record_id,
            "updated": row.updated,
            "code": {"system": row.code_system, "code": row.code, "display": row.display},
            "clinical_status": row.clinical_status,
            "verification_status": row.verification_status,
            "onset": row.onset_date,
            "abatement": row.abatement_date,
            "recorded_by": {"unit": row.recorded_by_unit, "hpr": row.recorded_by_hpr},
            "note": row.note,
        },
    )


def _order(row: DiagnosisRow) -> tuple[int, int, int, int, str, str, str]:
    return sort_key(
        clinical=row.clinical_status,
        onset=row.onset_date,
        inactive_since=row.inactive_on,
        system=row.code_system,
        code=row.code,
        record_id=row.record_id,
    )


def summarise(
    rows: Iterable[DiagnosisRow], *, excluded: Sequence[CodeRange] = ()
) -> dict[str, PatientDiagnoses]:
    """Group shareable rows by patient, in the order the legevakt reads them (see
    :func:`~.status.sort_key`), with how many are active. Rows in an ``excluded`` range are
    dropped; a person left with nothing is absent."""
    found = summarise_by_person(
        (
            (row.patient, row)
            for row in rows
            if not is_excluded(row.code_system, row.code, excluded)
        ),
        listed_as="diagnoses",
        order=_order,
        active=_is_active,
        shown=diagnosis_out,
    )
    return cast(dict[str, PatientDiagnoses], found)


def _is_active(row: DiagnosisRow) -> bool:
    return is_active(row.clinical_status)


class Diagnoser:
    """The sharing service Diagnoser; see :class:`~journalloft.plugin.SharingService`.

    Its schemas are in the platform's ``schemas/diagnoser/v1/`` (``schema_folder`` None)."""

    name: str = "diagnoser"
    title: str = "Diagnoser"
    version: str = "v1"
    record_schema: str = SCHEMAS + "record.schema.json"
    query_schema: str = SCHEMAS + "query.schema.json"
    result_schema: str = SCHEMAS + "result.schema.json"
    settings_schema: str | None = SCHEMAS + "settings.schema.json"
    table: Table = TABLE
    migrations: Path = Path(__file__).parent / "migrations"
    schema_folder: Path | None = None
    face_parts: Mapping[str, tuple[object, ...]] = {"fhir": fhir.PROVIDERS, "board": BOARD_PARTS}

    def prepare(self, record: Mapping[str, Any], *, context: IngestContext) -> dict[str, Any]:
        """Check the code's form and the status and date rules; return the columns."""
        return dict(diagnosis_columns(record, now=context.now))

    def lookup(self, *, context: QueryContext) -> Lookup:
        """Inactive, remitted and resolved diagnoses that became so more than the tenant's
        ``resolved_window_years`` ago are left out unless the query says
        ``"include_resolved": true``; refuted ones and those entered in error always are."""
        if context.options.get("include_resolved") is True:
            return Lookup(DIAGNOSES, {})
        today = today_in_oslo(context.now)
        since = years_before(today, resolved_window_years(context.settings))
        return Lookup(DIAGNOSES_INACTIVE_SINCE, {"inactive_since": since})

    def results(
        self, rows: Sequence[tuple[Any, ...]], *, context: QueryContext
    ) -> dict[str, dict[str, Any]]:
        """Each person's diagnoses, active first, without the tenant's excluded code ranges."""
        found = summarise(map(DiagnosisRow._make, rows), excluded=excluded_ranges(context.settings))
        return {patient: dict(diagnoses) for patient, diagnoses in found.items()}

    def demo_records(
        self, *, rng: random.Random, patients: Sequence[str], now: datetime
    ) -> list[dict[str, Any]]:
        """Diagnoses that fit each person's age, as a municipal journal system would send them."""
        return demo.demo_records(rng=rng, patients=patients, now=now)
