"""Rules and query of kommunale-tjenester ("Oversikt over kommunale tjenester").

What a legevakt asks at 03:00: does this person get home nursing, a safety alarm, a short-term
stay, and whom to call; and is each service active, paused, planned or ended today in Norway.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Table

from journalloft.platform.errors import FieldError
from journalloft.platform.jsonschemas import SCHEMA_BASE
from journalloft.platform.services import IngestContext, Lookup, QueryContext, RecordRejected
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
from journalloft.services.kommunale_tjenester.schemas import (
    PatientServices,
    ResultUnit,
    ServiceColumns,
    ServiceEntry,
    ServiceRow,
)
from journalloft.services.kommunale_tjenester.status import (
    OSLO,
    service_status,
    sort_key,
    today_in_oslo,
)

SCHEMAS: Final = SCHEMA_BASE + "kommunale_tjenester/v1/"
DEFAULT_ENDED_WINDOW_DAYS: Final = 90
MAX_ENDED_WINDOW_DAYS: Final = 3650
_ISO_DATE: Final = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _parse_date(value: object) -> date | None:
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


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
    start = _parse_date(record.get("start"))
    if start is None:
        errors.append(FieldError("/start", "is not a valid date (YYYY-MM-DD)"))
    end = None
    if record.get("end") is not None:
        end = _parse_date(record["end"])
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
    value = settings.get("ended_window_days", DEFAULT_ENDED_WINDOW_DAYS)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"ended_window_days must be an integer, got {value!r}")
    if not 0 <= value <= MAX_ENDED_WINDOW_DAYS:
        raise ValueError(f"ended_window_days must be 0–{MAX_ENDED_WINDOW_DAYS}, got {value}")
    return value


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
    grouped: dict[str, list[ServiceEntry]] = {}
    for row in rows:
        grouped.setdefault(row.patient, []).append(service_entry(row, today=today))
    return {
        patient: {
            "active_count": sum(1 for e in entries if e["status"] == "active"),
            "services": sorted(entries, key=_order),
        }
        for patient, entries in grouped.items()
    }


class KommunaleTjenester:
    """The sharing service "Oversikt over kommunale tjenester" (see CONTRACT.md)."""

    name: str = "kommunale-tjenester"
    title: str = "Oversikt over kommunale tjenester"
    version: str = "v1"
    record_schema: str = SCHEMAS + "record.schema.json"
    query_schema: str = SCHEMAS + "query.schema.json"
    result_schema: str = SCHEMAS + "result.schema.json"
    settings_schema: str | None = SCHEMAS + "settings.schema.json"
    table: Table = TABLE
    migrations: Path = Path(__file__).with_name("migrations")

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
        return _Demo(rng=rng, now=now).records(patients)


class _Demo:
    """Synthetic but plausible services: home nursing by zone, safety alarms, stays, day care."""

    ZONES: Final = ("Sentrum", "Nord", "Sør", "Øst", "Vest")
    UNITS: Final = {
        "alarm": "Responssenteret, trygghetsalarm",
        "bistand": "Praktisk bistand, hjemmetjenesten",
        "mat": "Kjøkkentjenesten, matombringing",
        "dag": "Dagsenteret Solstua",
        "korttid": "Korttidsavdelingen, Sentrum helse- og omsorgssenter",
        "rehab": "Rehabiliteringsavdelingen, Sentrum helse- og omsorgssenter",
        "sykehjem": "Langtidsavdelingen, Nordlys sykehjem",
        "fritid": "Fritidstjenesten, støttekontakt",
    }

    def __init__(self, *, rng: random.Random, now: datetime) -> None:
        self.rng = rng
        self.now = now
        self.today = today_in_oslo(now)
        self.prefix = f"EPJ-{rng.randrange(10_000):04d}"
        self.counter = 0
        used: set[str] = set()
        self.phones: dict[str, str] = {}
        for key in [*(f"sone {z}" for z in self.ZONES), *self.UNITS]:
            phone = self._phone()
            while phone in used:
                phone = self._phone()
            used.add(phone)
            self.phones[key] = phone

    def _phone(self) -> str:
        return f"+47 75 55 {self.rng.randint(10, 99)} {self.rng.randint(10, 99)}"

    def _unit(self, key: str) -> dict[str, str]:
        name = f"Hjemmetjenesten {key}" if key.startswith("sone ") else self.UNITS[key]
        return {"name": name, "phone": self.phones[key]}

    def _record(
        self,
        patient: str,
        code: str,
        unit: str,
        *,
        start: int,
        end: int | None = None,
        paused: bool = False,
        description: str | None = None,
        weekly_extent: str | None = None,
        stay_type: str | None = None,
    ) -> dict[str, Any]:
        """``start`` and ``end`` in days from today (negative: in the past)."""
        self.counter += 1
        starts = self.today + timedelta(days=start)
        ends = None if end is None else self.today + timedelta(days=end)
        changed_days_ago = self.rng.randint(0, max(0, min(-start, 60))) if start < 0 else 0
        changed = self.now.astimezone(OSLO) - timedelta(
            days=changed_days_ago, minutes=self.rng.randint(5, 600)
        )
        record: dict[str, Any] = {
            "id": f"{self.prefix}-{self.counter:06d}",
            "patient": patient,
            "updated": changed.replace(microsecond=0).isoformat(),
            "service_code": code,
            "unit": self._unit(unit),
            "start": starts.isoformat(),
            "end": None if ends is None else ends.isoformat(),
            "temporary_cessation": paused,
        }
        if description is not None:
            record["description"] = description
        if weekly_extent is not None:
            record["weekly_extent"] = weekly_extent
        if stay_type is not None:
            record["stay_type"] = stay_type
        return record

    def _home_nursing(
        self, patient: str, *, start: int, paused_for: str | None = None
    ) -> dict[str, Any]:
        zone = f"sone {self.rng.choice(self.ZONES)}"
        what = self.rng.choice(
            [
                "Medisinhåndtering morgen og kveld",
                "Sårstell og kompresjonsstrømper",
                "Insulin morgen, tilsyn kveld",
                "Oppfølging hjertesvikt, vekt og ødemer",
                "Stomistell og personlig hygiene",
            ]
        )
        if paused_for is not None:
            what += f". Pause: {paused_for}"
        return self._record(
            patient,
            self.rng.choice(["15", "015"]),
            zone,
            start=start,
            paused=paused_for is not None,
            description=what,
            weekly_extent=self.rng.choice(["14 besøk", "7 besøk", "2 besøk daglig", "5 timer"]),
        )

    def _alarm(self, patient: str, *, start: int) -> dict[str, Any]:
        return self._record(
            patient, "06", "alarm", start=start, description="Trygghetsalarm med fallsensor"
        )

    def _short_stay(self, patient: str, *, start: int, end: int) -> dict[str, Any]:
        rehab = self.rng.random() < 0.5
        return self._record(
            patient,
            "19" if rehab else "20",
            "rehab" if rehab else "korttid",
            start=start,
            end=end,
            description="Opptrening etter lårhalsbrudd" if rehab else "Avlastning for pårørende",
            stay_type="korttidsopphold",
        )

    def _day_activity(self, patient: str, *, start: int) -> dict[str, Any]:
        return self._record(
            patient,
            "4",
            "dag",
            start=start,
            description="Tilrettelagt dagaktivitetstilbud for personer med demens",
            weekly_extent=self.rng.choice(["2 dager", "3 dager"]),
        )

    def _scripted(self, index: int, patient: str) -> list[dict[str, Any]]:
        """The first few people show every status the legevakt must be able to read."""
        days = self.rng.randint
        if index == 0:
            return [
                self._home_nursing(patient, start=-days(200, 1500)),
                self._alarm(patient, start=-days(300, 2000)),
                self._record(patient, "5", "mat", start=-days(30, 400), weekly_extent="5 middager"),
            ]
        if index == 1:
            return [
                self._home_nursing(
                    patient, start=-days(100, 900), paused_for="innlagt på Nordlandssykehuset"
                ),
                self._alarm(patient, start=-days(100, 900)),
            ]
        if index == 2:
            return [
                self._short_stay(patient, start=-days(25, 40), end=-days(2, 10)),
                self._home_nursing(patient, start=days(1, 7)),
                self._record(
                    patient,
                    "1",
                    "bistand",
                    start=-1200,
                    end=-days(200, 700),
                    weekly_extent="2 timer",
                ),
            ]
        if index == 3:
            return [
                self._day_activity(patient, start=-days(60, 700)),
                self._record(patient, "9", "fritid", start=-days(60, 700), weekly_extent="3 timer"),
            ]
        return [
            self._short_stay(patient, start=-days(2, 10), end=days(5, 20)),
            self._home_nursing(patient, start=-days(100, 900), paused_for="på korttidsopphold"),
        ]

    def _random(self, patient: str) -> list[dict[str, Any]]:
        rng = self.rng
        days = rng.randint
        records = []
        if rng.random() < 0.6:
            paused_for = "innlagt på sykehus" if rng.random() < 0.1 else None
            records.append(self._home_nursing(patient, start=-days(1, 2000), paused_for=paused_for))
        if rng.random() < 0.4:
            records.append(self._alarm(patient, start=-days(1, 3000)))
        if rng.random() < 0.2:
            records.append(
                self._record(patient, "1", "bistand", start=-days(1, 2000), weekly_extent="2 timer")
            )
        if rng.random() < 0.15:
            records.append(self._day_activity(patient, start=-days(1, 1000)))
        if rng.random() < 0.15:
            start = days(-60, 30)
            records.append(self._short_stay(patient, start=start, end=start + days(7, 28)))
        if rng.random() < 0.05:
            records.append(
                self._record(
                    patient,
                    "21",
                    "sykehjem",
                    start=-days(30, 1500),
                    description="Langtidsplass, skjermet enhet",
                )
            )
        if not records:
            records.append(self._alarm(patient, start=-days(1, 3000)))
        return records

    def records(self, patients: Sequence[str]) -> list[dict[str, Any]]:
        result = []
        for index, patient in enumerate(patients):
            found = self._scripted(index, patient) if index < 5 else self._random(patient)
            result.extend(found)
        return result


spec = KommunaleTjenester()
