"""Rules and query of kommunale-tjenester ("Oversikt over kommunale tjenester").

What a legevakt asks at 03:00: does this person get home nursing, a safety alarm, a short-term
stay, and whom to call; and is each service active, paused, planned or ended today in Norway.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
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
from journalloft.services.kommunale_tjenester import demo, fhir
from journalloft.services.kommunale_tjenester.board import PARTS as BOARD_PARTS
from journalloft.services.kommunale_tjenester.codes import (
    SERVICE_CODE_SYSTEM,
    normalise_service_code,
    service_type,
)
from journalloft.services.kommunale_tjenester.repository import (
    SERVICES,
    SERVICES_ENDED_SINCE,
    TABLE,
)
from journalloft.services.kommunale_tjenester.shapes import (
    PatientServices,
    ResultUnit,
    ServiceColumns,
    ServiceEntry,
    ServiceRow,
)
from journalloft.services.kommunale_tjenester.status import service_status, sort_key

SCHEMAS: Final = SCHEMA_BASE + "kommunale_tjenester/v1/"
DEFAULT_ENDED_WINDOW_DAYS: Final = 90
MAX_ENDED_WINDOW_DAYS: Final = 3650


def _service_code_error(value: object) -> tuple[str | None, str | None]:
    """The normalised code, or the reason it is refused."""
    if not isinstance(value, str):
        return None, "must be a string"
    try:
        found = service_type(value)
    except ValueError:
        return None, f"must be a Volven 9151 code ({SERVICE_CODE_SYSTEM}): digits, not all zero"
    if found is None:
        code = normalise_service_code(value)
        return None, f"{code} is not a Volven 9151 service type ({SERVICE_CODE_SYSTEM})"
    if found.retired:
        return None, f"{found.code} ({found.name}) is retired in Volven 9151"
    return found.code, None


def service_columns(record: Mapping[str, Any]) -> ServiceColumns:
    """Check one schema-valid record against the rules beyond its schema; return its columns.

    Raises :class:`RecordRejected` with every violation: an unknown or retired service code
    (``/service_code``), a date that is not a date, ``end`` before ``start`` (``/end``).
    """
    errors: list[FieldError] = []
    code, reason = _service_code_error(record.get("service_code"))
    if reason is not None:
        errors.append(FieldError("/service_code", reason))
    start = optional_date(record.get("start"))
    if start is None:
        errors.append(FieldError("/start", "is not a valid date (YYYY-MM-DD)"))
    end = None
    if record.get("end") is not None:
        end = optional_date(record["end"])
        if end is None:
            errors.append(FieldError("/end", "is not a valid date (YYYY-MM-DD)"))
        elif start is not None and end < start:
            errors.append(FieldError("/end", f"must not be before start ({start.isoformat()})"))
    if errors or code is None or start is None:
        raise RecordRejected(errors)
    unit = record.get("unit") or {}
    return {
        "service_code": code,
        "description": record.get("description"),
        "unit_name": unit.get("name"),
        "unit_phone": unit.get("phone"),
        "start_date": start,
        "end_date": end,
        "temporary_cessation": bool(record.get("temporary_cessation", False)),
        "weekly_extent": record.get("weekly_extent"),
        "stay_type": record.get("stay_type"),
    }


def ended_window_days(settings: Mapping[str, Any]) -> int:
    """The tenant's ``ended_window_days`` (``settings.schema.json``), default 90.

    Raises ValueError for a value the settings schema refuses (a broken tenant file).
    """
    return window_setting(
        settings,
        "ended_window_days",
        default=DEFAULT_ENDED_WINDOW_DAYS,
        most=MAX_ENDED_WINDOW_DAYS,
    )


def _service_name(code: str) -> str:
    found = service_type(code)
    return found.name if found is not None else f"Tjenestetype {code}"


def service_entry(row: ServiceRow, *, today: date) -> ServiceEntry:
    """One stored row as the legevakt sees it, with its status on ``today`` (a date in Norway)."""
    unit: ResultUnit | None = None
    if row.unit_name is not None:
        unit = {"name": row.unit_name, "phone": row.unit_phone}
    return {
        "id": row.record_id,
        "service_code": row.service_code,
        "service_name": _service_name(row.service_code),
        "description": row.description,
        "unit": unit,
        "start": row.start_date,
        "end": row.end_date,
        "temporary_cessation": row.temporary_cessation,
        "weekly_extent": row.weekly_extent,
        "stay_type": row.stay_type,
        "status": service_status(
            start=row.start_date,
            end=row.end_date,
            temporary_cessation=row.temporary_cessation,
            today=today,
        ),
        "updated": row.updated,
    }


def _order(entry: ServiceEntry) -> tuple[int, int, int, str]:
    status_rank, newest_first = sort_key(status=entry["status"], start=entry["start"])
    return status_rank, newest_first, int(entry["service_code"]), entry["id"]


def summarise(rows: Iterable[ServiceRow], *, today: date) -> dict[str, PatientServices]:
    """Group rows by patient: each patient's services in the order the legevakt reads them
    (active, planned, paused, ended; the newest start first) and how many are active."""
    found = summarise_by_person(
        ((row.patient, service_entry(row, today=today)) for row in rows),
        listed_as="services",
        order=_order,
        active=_is_active,
    )
    return cast(dict[str, PatientServices], found)


def _is_active(entry: ServiceEntry) -> bool:
    return entry["status"] == "active"


class KommunaleTjenester:
    """The sharing service "Oversikt over kommunale tjenester" (see docs/api.md)."""

    name: str = "kommunale-tjenester"
    title: str = "Oversikt over kommunale tjenester"
    version: str = "v1"
    record_schema: str = SCHEMAS + "record.schema.json"
    query_schema: str = SCHEMAS + "query.schema.json"
    result_schema: str = SCHEMAS + "result.schema.json"
    settings_schema: str | None = SCHEMAS + "settings.schema.json"
    table: Table = TABLE
    migrations: Path = Path(__file__).with_name("migrations")
    schema_folder: Path | None = None
    face_parts: Mapping[str, tuple[object, ...]] = {"fhir": fhir.PROVIDERS, "board": BOARD_PARTS}

    def prepare(self, record: Mapping[str, Any], *, context: IngestContext) -> dict[str, Any]:
        """Refuse unknown or retired codes and ``end`` before ``start``; return the columns."""
        return dict(service_columns(record))

    def lookup(self, *, context: QueryContext) -> Lookup:
        """Ended services whose end is more than the tenant's ``ended_window_days`` ago are left
        out unless the query says ``"include_ended": true``."""
        if context.options.get("include_ended") is True:
            return Lookup(SERVICES, {})
        today = today_in_oslo(context.now)
        ended_since = today - timedelta(days=ended_window_days(context.settings))
        return Lookup(SERVICES_ENDED_SINCE, {"ended_since": ended_since})

    def results(
        self, rows: Sequence[tuple[Any, ...]], *, context: QueryContext
    ) -> dict[str, dict[str, Any]]:
        """Each person's services with their status today in Europe/Oslo, active first; a person
        left with nothing is absent."""
        today = today_in_oslo(context.now)
        found = summarise(map(ServiceRow._make, rows), today=today)
        return {patient: dict(services) for patient, services in found.items()}

    def demo_records(
        self, *, rng: random.Random, patients: Sequence[str], now: datetime
    ) -> list[dict[str, Any]]:
        """Services a Norwegian municipality's journal system could send for these people."""
        return demo.demo_records(rng=rng, patients=patients, now=now)
