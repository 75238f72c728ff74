"""NEWS2 målinger: ingest rules, the board's query and retention.

Vital signs are stored as the source sent them and scored with :mod:`.scoring` when queried, so a
correction of the scoring applies to every stored measurement at once.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from pathlib import Path
from typing import Any, Literal, cast

from sqlalchemy import Connection, Table

from journalloft.plugin import (
    SCHEMA_BASE,
    FieldError,
    IngestContext,
    Lookup,
    PurgeContext,
    QueryContext,
    RecordRejected,
    parse_rfc3339,
)
from journalloft.services.news2 import demo, fhir, repository
from journalloft.services.news2.board import PARTS as BOARD_PARTS
from journalloft.services.news2.scoring import (
    NUMERIC_VITAL_SIGNS,
    PARAMETERS,
    VITAL_SIGNS,
    Vitals,
    clinical_risk,
    score,
    score_parts,
)
from journalloft.services.news2.shapes import (
    Change,
    MeasurementOut,
    MeasurementRow,
    PatientResult,
    ScoreOut,
    Trend,
)

FUTURE_SKEW = timedelta(minutes=5)
DEFAULT_HOURS = 72
DEFAULT_RETENTION_DAYS = 30


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _spo2_scale(value: Any) -> Literal[1, 2]:
    if value == 1:
        return 1
    if value == 2:
        return 2
    raise ValueError(f"spo2_scale must be 1 or 2, got {value!r}")


def vitals_of(values: Mapping[str, Any]) -> Vitals:
    """The vital signs of a record or a stored row; ``None`` where not measured."""
    measured: dict[str, Any] = {}
    for name in VITAL_SIGNS:
        value = values.get(name)
        kind = NUMERIC_VITAL_SIGNS.get(name)
        measured[name] = value if value is None or kind is None else kind(value)
    return Vitals(spo2_scale=_spo2_scale(values["spo2_scale"]), **measured)


def _effective_errors(effective: datetime, now: datetime) -> list[FieldError]:
    if effective <= now + FUTURE_SKEW:
        return []
    ahead = effective - now
    return [
        FieldError(
            "/effective",
            f"is {_duration(ahead)} after the platform's clock ({now.isoformat()}); "
            "a measurement cannot be in the future (5 minutes of clock skew are allowed)",
        )
    ]


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _total_errors(sent: int | None, vitals: Vitals) -> list[FieldError]:
    if sent is None:
        return []
    result = score(vitals)
    if sent == result.total:
        return []
    if result.complete:
        message = (
            f"the source's total {sent} does not match the platform's NEWS2 total {result.total}"
        )
    else:
        unscored = ", ".join(name for name, sub in result.parameters.items() if sub is None)
        message = (
            f"the source's total {sent} does not match the platform's total {result.total}; "
            f"the set is incomplete ({unscored} not scored), so {result.total} is a lower bound: "
            "the sum of the parameters that were measured"
        )
    return [FieldError("/total_score", message)]


POSSIBLE_SUB_SCORES: dict[str, frozenset[int]] = {
    "respiration_rate": frozenset({0, 1, 2, 3}),
    "spo2": frozenset({0, 1, 2, 3}),
    "air_or_oxygen": frozenset({0, 2}),
    "systolic_bp": frozenset({0, 1, 2, 3}),
    "pulse": frozenset({0, 1, 2, 3}),
    "consciousness": frozenset({0, 3}),
    "temperature": frozenset({0, 1, 2, 3}),
}
"""The values each parameter can score on the RCP chart (air or oxygen: 0 or 2; consciousness:
0 or 3)."""


def _source_score_errors(
    sent: Mapping[str, Any], total: int | None, vitals: Vitals
) -> list[FieldError]:
    """A score the source computed: each sub-score a value its parameter can have, the total
    their sum, and where the vital sign was sent too, the platform's sub-score of it."""
    errors: list[FieldError] = []
    for name, value in sent.items():
        if value is not None and value not in POSSIBLE_SUB_SCORES[name]:
            possible = ", ".join(map(str, sorted(POSSIBLE_SUB_SCORES[name])))
            errors.append(
                FieldError(
                    f"/source_scores/{name}",
                    f"{value} is not a possible {name} score on the NEWS2 chart ({possible})",
                )
            )
    if errors:
        return errors
    if total is None:
        return [FieldError("/total_score", "is required with source_scores: the source's total")]
    added = sum(v for v in sent.values() if v is not None)
    if added != total:
        errors.append(
            FieldError(
                "/total_score",
                f"the source's total {total} is not the sum of its sub-scores ({added})",
            )
        )
    ours = score(vitals).parameters
    for name, value in sent.items():
        if ours[name] is not None and value is not None and ours[name] != value:
            errors.append(
                FieldError(
                    f"/source_scores/{name}",
                    f"is {value}, but the vital sign sent scores {ours[name]}",
                )
            )
    return errors


def encode_source_scores(sent: Mapping[str, int | None]) -> str:
    return ",".join("-" if sent.get(name) is None else str(sent[name]) for name in PARAMETERS)


def decode_source_scores(text: str) -> dict[str, int | None]:
    values = text.split(",")
    return {name: None if v == "-" else int(v) for name, v in zip(PARAMETERS, values, strict=True)}


def prepare_measurement(record: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    """Check a schema-valid record against the rules beyond its schema; return its columns.

    Raises :class:`RecordRejected` with every violation: ``effective`` more than 5 minutes after
    ``now``, or a ``total_score`` that differs from the platform's total.
    """
    errors: list[FieldError] = []
    try:
        effective = parse_rfc3339(record["effective"])
    except ValueError:
        raise RecordRejected([FieldError("/effective", "is not a valid date-time")]) from None
    errors += _effective_errors(effective, now)
    vitals = vitals_of(record)
    sent_scores = record.get("source_scores")
    try:
        if sent_scores is None:
            errors += _total_errors(_optional_int(record.get("total_score")), vitals)
        else:
            errors += _source_score_errors(
                sent_scores, _optional_int(record.get("total_score")), vitals
            )
    except ValueError as exc:
        errors.append(FieldError("", f"cannot be scored: {exc}"))
    if errors:
        raise RecordRejected(errors)
    recorded_by = record.get("recorded_by") or {}
    controller = record.get("data_controller") or {}
    return {
        "effective": effective,
        "spo2_scale": vitals.spo2_scale,
        **{name: getattr(vitals, name) for name in VITAL_SIGNS},
        "recorded_by_name": recorded_by.get("name"),
        "recorded_by_hpr": recorded_by.get("hpr"),
        "location": record.get("location"),
        "source_scores": None if sent_scores is None else encode_source_scores(sent_scores),
        "recorded_by_national_id": recorded_by.get("national_id"),
        "data_controller_orgnr": controller.get("orgnr"),
        "data_controller_resh": controller.get("resh"),
        "data_controller_name": controller.get("name"),
        "source_system": record.get("source_system"),
        "interpretations": record.get("interpretations") or None,
    }


def _in_utc(instant: datetime) -> datetime:
    """The instant in UTC, which the platform's JSON renderer writes as RFC 3339 with ``Z``
    (stored instants already are: returned as they are)."""
    return instant if instant.tzinfo is UTC else instant.astimezone(UTC)


_VITALS_START = MeasurementRow._fields.index(VITAL_SIGNS[0])
if MeasurementRow._fields[_VITALS_START : _VITALS_START + len(VITAL_SIGNS)] != VITAL_SIGNS:
    raise ImportError("news2: MeasurementRow must hold the vital signs in VITAL_SIGNS' order")
_SCALE_AT = VITAL_SIGNS.index("spo2") + 1
_BOARD_VITALS = (*VITAL_SIGNS[:_SCALE_AT], "spo2_scale", *VITAL_SIGNS[_SCALE_AT:])
"""A board measurement's vital signs, with the SpO2 scale beside SpO2 (the answer's order)."""


_FIELDS = MeasurementRow._fields
_VITALS = itemgetter(*range(_VITALS_START, _VITALS_START + len(VITAL_SIGNS)))
"""A row's vital signs, in :data:`VITAL_SIGNS`' order."""
_SHOWN = itemgetter(*(_FIELDS.index(name) for name in _BOARD_VITALS))
"""A row's vital signs and SpO2 scale, in the answer's order."""
_REST = itemgetter(
    *(
        _FIELDS.index(name)
        for name in (
            "record_id",
            "effective",
            "updated",
            "spo2_scale",
            "recorded_by_name",
            "recorded_by_hpr",
            "location",
            "source_scores",
            "recorded_by_national_id",
            "data_controller_orgnr",
            "data_controller_resh",
            "data_controller_name",
            "source_system",
            "interpretations",
        )
    )
)


def measurement_out(row: tuple[Any, ...]) -> MeasurementOut:
    """One stored measurement as the board sees it, scored now.

    ``row`` has the fields of :class:`~.shapes.MeasurementRow` in its order: the driver's plain
    tuple or a ``MeasurementRow``. It is scored as :func:`vitals_of` and :func:`.scoring.score`
    would, without building either per row: the board turns thousands of rows into measurements
    per second. The fields are taken by position from the list (``VITAL_SIGNS``,
    ``MeasurementRow``), so that a vital sign added there is here too.
    """
    (
        record_id,
        effective,
        updated,
        spo2_scale,
        name,
        hpr,
        location,
        source_scores,
        national_id,
        orgnr,
        resh,
        controller_name,
        source_system,
        interpretations,
    ) = _REST(row)
    score: ScoreOut
    if source_scores is not None:
        # scored by the source, which sent the sub-scores without the vital signs
        parameters = decode_source_scores(source_scores)
        complete = None not in parameters.values()
        total = sum(v for v in parameters.values() if v is not None)
        risk = clinical_risk(total, parameters, complete=complete)
        score = {
            "total": total,
            "risk": risk,
            "complete": complete,
            "parameters": parameters,
            "scored_by": "source",
        }
    else:
        # the columns' types already make these ints, a float and a bool (score_parts checks
        # the scale), so the row's values go to the chart as they are
        total, risk, complete, parameters = score_parts(spo2_scale, *_VITALS(row))
        score = {"total": total, "risk": risk, "complete": complete, "parameters": parameters}
    out: dict[str, Any] = {
        "id": record_id,
        "effective": _in_utc(effective),
        "updated": _in_utc(updated),
    }
    out.update(zip(_BOARD_VITALS, _SHOWN(row), strict=True))
    if name is None and hpr is None and national_id is None:
        out["recorded_by"] = None
    else:
        out["recorded_by"] = {"name": name, "hpr": hpr}
        if national_id is not None:
            out["recorded_by"]["national_id"] = national_id
    out["location"] = location
    out["score"] = score
    if orgnr is not None or resh is not None:
        out["data_controller"] = _controller(orgnr, resh, controller_name)
    if source_system is not None:
        out["source_system"] = source_system
    if interpretations:
        out["interpretations"] = interpretations
    return cast(MeasurementOut, out)


def _controller(orgnr: str | None, resh: str | None, name: str | None) -> dict[str, Any]:
    found: dict[str, Any] = {"orgnr": orgnr} if orgnr is not None else {"resh": resh}
    found["name"] = name
    return found


def trend_of(measurements: Sequence[MeasurementOut]) -> Trend | None:
    """The latest total against the one before it; ``None`` with a single measurement."""
    if len(measurements) < 2:
        return None
    latest, previous = measurements[0]["score"]["total"], measurements[1]["score"]["total"]
    change: Change = "rising" if latest > previous else "falling" if latest < previous else "stable"
    return {"previous_total": previous, "change": change}


def board(rows: Sequence[tuple[Any, ...]]) -> dict[str, PatientResult]:
    """Each person's measurements (rows of :data:`~.repository.MEASUREMENTS_SINCE`, newest
    first), with the latest and the trend. A person without a measurement is absent."""
    by_patient: dict[str, list[MeasurementOut]] = {}
    for row in rows:
        patient = row[0]  # MeasurementRow.patient
        by_patient.setdefault(patient, []).append(measurement_out(row))
    return {
        patient: {
            "latest": measurements[0],
            "measurements": measurements,
            "trend": trend_of(measurements),
        }
        for patient, measurements in by_patient.items()
    }


def retention_days(settings: Mapping[str, Any]) -> int:
    return int(settings.get("retention_days") or DEFAULT_RETENTION_DAYS)


class News2Service:
    """The NEWS2 målinger sharing service; see :class:`SharingService` and :class:`Purgeable`."""

    name: str = "news2"
    title: str = "NEWS2 målinger"
    version: str = "v1"
    record_schema: str = SCHEMA_BASE + "news2/v1/record.schema.json"
    query_schema: str = SCHEMA_BASE + "news2/v1/query.schema.json"
    result_schema: str = SCHEMA_BASE + "news2/v1/result.schema.json"
    settings_schema: str | None = SCHEMA_BASE + "news2/v1/settings.schema.json"
    table: Table = repository.MEASUREMENT
    migrations: Path = Path(__file__).parent / "migrations"
    schema_folder: Path | None = None
    face_parts: Mapping[str, tuple[object, ...]] = {"fhir": fhir.PROVIDERS, "board": BOARD_PARTS}

    def prepare(self, record: Mapping[str, Any], *, context: IngestContext) -> dict[str, Any]:
        """Refuse a future ``effective`` or a disagreeing ``total_score``; return the columns."""
        return dict(prepare_measurement(record, now=context.now))

    def lookup(self, *, context: QueryContext) -> Lookup:
        """Measurements within ``hours`` (default 72) before now."""
        hours = int(context.options.get("hours") or DEFAULT_HOURS)
        since = context.now - timedelta(hours=hours)
        return Lookup(repository.MEASUREMENTS_SINCE, {"since": since})

    def results(
        self, rows: Sequence[tuple[Any, ...]], *, context: QueryContext
    ) -> dict[str, dict[str, Any]]:
        """Latest, history and trend per person."""
        return cast(dict[str, dict[str, Any]], board(rows))

    def purge(self, connection: Connection, *, context: PurgeContext) -> int:
        """Delete measurements taken more than ``retention_days`` (default 30) before now."""
        cutoff = context.now - timedelta(days=retention_days(context.settings))
        return repository.delete_measured_before(connection, cutoff=cutoff)

    def demo_records(
        self, *, rng: random.Random, patients: Sequence[str], now: datetime
    ) -> list[dict[str, Any]]:
        """Series of measurements over the last three days, some deteriorating."""
        return demo.demo_records(rng=rng, patients=patients, now=now)
