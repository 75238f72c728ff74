"""Rules and lookup of tiltaksplan: the current plan of measures around a person.

What a legevakt asks at 02:00: who from the home services comes next and when, does home care
give the medicines and at what times, and whom to call.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Final, cast

from sqlalchemy import Table

from journalloft.plugin import (
    OSLO,
    SCHEMA_BASE,
    FieldError,
    IngestContext,
    Lookup,
    QueryContext,
    RecordRejected,
    optional_date,
    parse_rfc3339,
    summarise_by_person,
    today_in_oslo,
    window_setting,
)
from journalloft.services.tiltaksplan import board, demo, fhir
from journalloft.services.tiltaksplan.categories import CATEGORIES
from journalloft.services.tiltaksplan.repository import CURRENT, TABLE, WITH_ENDED
from journalloft.services.tiltaksplan.schedule import next_occurrence, schedule_errors
from journalloft.services.tiltaksplan.shapes import (
    ENDED,
    MeasureColumns,
    MeasureEntry,
    MeasureRow,
    PersonPlan,
    Schedule,
    Status,
)

SCHEMAS: Final = SCHEMA_BASE + "tiltaksplan/v1/"
HERE: Final = Path(__file__).parent
DEFAULT_ENDED_WINDOW_DAYS: Final = 30
MAX_ENDED_WINDOW_DAYS: Final = 3650


def _joined(values: Sequence[str] | None) -> str | None:
    return ",".join(values) if values else None


def measure_columns(record: Mapping[str, Any]) -> MeasureColumns:
    """Check one schema-valid record against the rules beyond its schema; return its columns.

    Raises :class:`RecordRejected` with every violation: a schedule that is not one
    (``/schedule/...``), ``end`` before ``start``, a ``completed`` measure whose ``end`` is
    after today in Norway (``/end``).
    """
    errors: list[FieldError] = []
    schedule: Mapping[str, Any] | None = record.get("schedule")
    if schedule is not None:
        errors.extend(schedule_errors(schedule))
    start = optional_date(record.get("start"))
    if start is None:
        errors.append(FieldError("/start", "is not a valid date (YYYY-MM-DD)"))
    end = None
    updated = parse_rfc3339(record["updated"])
    updated_day = updated.astimezone(OSLO).date()
    status: Status = record["status"]
    if record.get("end") is not None:
        end = optional_date(record["end"])
        if end is None:
            errors.append(FieldError("/end", "is not a valid date (YYYY-MM-DD)"))
        elif start is not None and end < start:
            errors.append(FieldError("/end", f"must not be before start ({start.isoformat()})"))
        elif status == "completed" and end > updated_day:
            errors.append(
                FieldError(
                    "/end",
                    f"a completed measure cannot end after the day it was updated "
                    f"({updated_day.isoformat()} in Norway)",
                )
            )
    if errors or start is None:
        raise RecordRejected(errors)
    ended_on = end
    if status in ENDED:
        ended_on = updated_day if end is None else min(end, updated_day)
    unit = record["unit"]
    schedule = schedule or {}
    return {
        "title": record["title"],
        "category": record["category"],
        "description": record.get("description"),
        "schedule_times": _joined(schedule.get("times")),
        "schedule_weekdays": _joined(schedule.get("weekdays")),
        "schedule_every_days": schedule.get("every_days"),
        "schedule_text": schedule.get("text"),
        "unit_name": unit["name"],
        "unit_phone": unit.get("phone"),
        "start_date": start,
        "end_date": end,
        "status": status,
        "ended_on": ended_on,
        "goal": record.get("goal"),
    }


def ended_window_days(settings: Mapping[str, Any]) -> int:
    """The tenant's ``ended_window_days`` (``settings.schema.json``), default 30."""
    return window_setting(
        settings, "ended_window_days", default=DEFAULT_ENDED_WINDOW_DAYS, most=MAX_ENDED_WINDOW_DAYS
    )


def schedule_of(row: MeasureRow) -> Schedule | None:
    schedule: Schedule = {}
    if row.schedule_times:
        schedule["times"] = row.schedule_times.split(",")
    if row.schedule_weekdays:
        schedule["weekdays"] = row.schedule_weekdays.split(",")
    if row.schedule_every_days is not None:
        schedule["every_days"] = row.schedule_every_days
    if row.schedule_text:
        schedule["text"] = row.schedule_text
    return schedule or None


def effective_status(row: MeasureRow, *, today: date) -> Status:
    """The status as sent, except that an active or on-hold measure past its last day is
    ``completed``: a plan the source forgot to close does not keep it current."""
    status = cast(Status, row.status)
    if status not in ENDED and row.end_date is not None and row.end_date < today:
        return "completed"
    return status


def measure_entry(row: MeasureRow, *, now: datetime) -> MeasureEntry:
    """One stored measure as the legevakt sees it at ``now``: only an active one has a next
    occurrence (in Europe/Oslo time)."""
    today = today_in_oslo(now)
    status = effective_status(row, today=today)
    schedule = schedule_of(row)
    found = None
    if status == "active":
        found = next_occurrence(schedule, start=row.start_date, end=row.end_date, now=now)
    return {
        "id": row.record_id,
        "title": row.title,
        "category": row.category,
        "category_name": CATEGORIES.get(row.category, row.category),
        "description": row.description,
        "schedule": schedule,
        "next_occurrence": found.isoformat() if found is not None else None,
        "unit": {"name": row.unit_name, "phone": row.unit_phone},
        "start": row.start_date,
        "end": row.end_date,
        "status": status,
        "goal": row.goal,
        "updated": row.updated,
    }


_RANK: Final[dict[Status, int]] = {"active": 0, "on-hold": 1, "completed": 2, "cancelled": 2}


def _order(entry: MeasureEntry) -> tuple[int, bool, float, int, str, str]:
    """Active first (the soonest next occurrence first, unscheduled after), then on hold, then
    the ended ones (the most recently ended first); ties by title, then id."""
    rank = _RANK[entry["status"]]
    when = entry["next_occurrence"]
    soon = datetime.fromisoformat(when).timestamp() if when else 0.0
    last = entry["end"] or entry["updated"].astimezone(OSLO).date()
    newest = -last.toordinal() if rank == 2 else 0
    return rank, when is None, soon, newest, entry["title"], entry["id"]


def summarise(rows: Iterable[MeasureRow], *, now: datetime) -> dict[str, PersonPlan]:
    """Group rows by person, each person's measures in the order the legevakt reads them."""
    found = summarise_by_person(
        ((row.patient, measure_entry(row, now=now)) for row in rows),
        listed_as="measures",
        order=_order,
        active=_is_active,
    )
    return cast(dict[str, PersonPlan], found)


def _is_active(entry: MeasureEntry) -> bool:
    return entry["status"] == "active"


class Tiltaksplan:
    """The sharing service "Tiltaksplan" (see docs/services.md)."""

    name: str = "tiltaksplan"
    title: str = "Tiltaksplan"
    version: str = "v1"
    record_schema: str = SCHEMAS + "record.schema.json"
    query_schema: str = SCHEMAS + "query.schema.json"
    result_schema: str = SCHEMAS + "result.schema.json"
    settings_schema: str | None = SCHEMAS + "settings.schema.json"
    table: Table = TABLE
    migrations: Path = HERE / "migrations"
    schema_folder: Path | None = HERE / "schemas"
    face_parts: Mapping[str, tuple[object, ...]] = {"fhir": fhir.PROVIDERS, "board": board.PARTS}

    def prepare(self, record: Mapping[str, Any], *, context: IngestContext) -> dict[str, Any]:
        """Refuse a schedule that is not one, ``end`` before ``start``, a completed measure that
        ends after its update; return the columns."""
        return dict(measure_columns(record))

    def lookup(self, *, context: QueryContext) -> Lookup:
        """The active and on-hold measures not past their end; with ``"include_ended": true``
        also those that ended within the tenant's ``ended_window_days``."""
        today = today_in_oslo(context.now)
        if context.options.get("include_ended") is True:
            since = today - timedelta(days=ended_window_days(context.settings))
            return Lookup(WITH_ENDED, {"ended_since": since})
        return Lookup(CURRENT, {"today": today})

    def results(
        self, rows: Sequence[tuple[Any, ...]], *, context: QueryContext
    ) -> dict[str, dict[str, Any]]:
        """Each person's measures with their next occurrence from the caller's ``now``."""
        found = summarise(map(MeasureRow._make, rows), now=context.now)
        return {patient: dict(plan) for patient, plan in found.items()}

    def demo_records(
        self, *, rng: random.Random, patients: Sequence[str], now: datetime
    ) -> list[dict[str, Any]]:
        """A plan a Norwegian home-care journal system could send for each of these people."""
        return demo.demo_records(rng=rng, patients=patients, now=now)
