"""NEWS2 scoring: sub-scores, aggregate and clinical risk from one set of vital signs.

Source: Royal College of Physicians, *National Early Warning Score (NEWS) 2: Standardising the
assessment of acute-illness severity in the NHS*, updated report of a working party, London: RCP,
2017 (chart 1, the NEWS2 scoring system; chart 2, thresholds and triggers).

Each row of the chart is data (:data:`PULSE` and its kin): bands as half-open intervals with
``<=`` on the measured value, so that any decimal (36.05 °C, 90.5 mmHg, 20.5 breaths/min) falls
in exactly one band and never in a gap between the chart's printed integer or 0.1 °C ranges.

Public implementations are wrong in places: one Go library scores respiration rate 21-24 as 1
(the chart says 2) and SpO2 scale 2 on air wrongly; HL7 Norway's draft VKP example scores SpO2
93-94 on oxygen (scale 2) as 3 (the chart says 1). Every band edge is tested against the chart.

Rules that protect the patient:

- SpO2 scale 2 (hypercapnic respiratory failure) is chosen by a clinician and is an explicit
  input; it is never inferred. Above 92 % on scale 2 the sub-score depends on whether the patient
  is on supplemental oxygen; if that is unknown the sub-score is not decided.
- A missing parameter is never scored as 0. Its sub-score is ``None``, the set is incomplete and
  the total is a lower bound. Only "high" can be decided from an incomplete set.
- "C" in ACVPU means *new* confusion. NEWS2 is not validated for under-16s or in pregnancy.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from math import isfinite
from typing import Literal

__all__ = [
    "PARAMETERS",
    "VITAL_SIGNS",
    "Risk",
    "Score",
    "Vitals",
    "air_or_oxygen_score",
    "clinical_risk",
    "consciousness_score",
    "pulse_score",
    "respiration_rate_score",
    "score",
    "score_parts",
    "spo2_scale1_score",
    "spo2_scale2_score",
    "systolic_bp_score",
    "temperature_score",
]

Risk = Literal["low", "low-medium", "medium", "high"]

PARAMETERS = (
    "respiration_rate",
    "spo2",
    "air_or_oxygen",
    "systolic_bp",
    "pulse",
    "consciousness",
    "temperature",
)

_ALERT = "A"
_NOT_ALERT = frozenset({"C", "V", "P", "U"})


@dataclass(frozen=True, slots=True)
class Vitals:
    """One set of observations; ``None`` means not measured."""

    spo2_scale: Literal[1, 2]
    respiration_rate: int | None = None
    spo2: int | None = None
    supplemental_oxygen: bool | None = None
    systolic_bp: int | None = None
    pulse: int | None = None
    consciousness: str | None = None
    temperature: float | None = None


VITAL_SIGNS: tuple[str, ...] = tuple(f.name for f in fields(Vitals) if f.name != "spo2_scale")
"""The vital signs, listed once: the fields of :class:`Vitals` (besides the SpO2 scale), in the
order :func:`score_parts` takes them. The record, the stored row, the board's measurement and the
demo generator are built from this list; a test holds the table, the JSON Schemas and the typed
shapes to it (``tests/services/news2/test_fields.py``)."""
NUMERIC_VITAL_SIGNS: dict[str, type[int] | type[float]] = {
    f.name: float if "float" in str(f.type) else int
    for f in fields(Vitals)
    if f.name in VITAL_SIGNS and ("int" in str(f.type) or "float" in str(f.type))
}
"""The measured numbers among them, with the type each is stored as."""


@dataclass(frozen=True, slots=True)
class Score:
    """The NEWS2 result for one set of vitals.

    ``parameters`` has exactly the keys of ``PARAMETERS``; ``None`` marks a parameter that was not
    measured or cannot be scored. ``total`` is the sum of the scored parameters: a lower bound when
    ``complete`` is false. ``risk`` is ``None`` when an incomplete set cannot decide it.
    """

    total: int
    risk: Risk | None
    complete: bool
    parameters: dict[str, int | None]


Bands = tuple[tuple[float, int], ...]
"""A chart row: (highest value of the band, its score), in ascending order."""

RESPIRATION_RATE: Bands = ((8, 3), (11, 1), (20, 0), (24, 2))
RESPIRATION_RATE_ABOVE = 3
SPO2_SCALE1: Bands = ((91, 3), (93, 2), (95, 1))
SPO2_SCALE1_ABOVE = 0
SPO2_SCALE2: Bands = ((83, 3), (85, 2), (87, 1), (92, 0))
SPO2_SCALE2_ON_OXYGEN: Bands = ((94, 1), (96, 2))
SPO2_SCALE2_ON_OXYGEN_ABOVE = 3
SYSTOLIC_BP: Bands = ((90, 3), (100, 2), (110, 1), (219, 0))
SYSTOLIC_BP_ABOVE = 3
PULSE: Bands = ((40, 3), (50, 1), (90, 0), (110, 1), (130, 2))
PULSE_ABOVE = 3
TEMPERATURE: Bands = ((35.0, 3), (36.0, 1), (38.0, 0), (39.0, 1))
TEMPERATURE_ABOVE = 2


CHART_CACHE_SIZE = 1024
"""Scores remembered per chart row: measured values are few (whole breaths, mmHg and beats,
temperatures to 0.1 °C), and a board scores the same ones again on every poll."""


def _chart_row(name: str, bands: Bands, above: int) -> Callable[[float], int]:
    """The sub-score of a measured value on one chart row: the score of the first band whose
    upper edge is at or above the value, ``above`` past the last edge.

    Each band is the half-open interval (previous edge, edge]: a decimal between two printed
    ranges (36.05 °C) belongs to the band above the lower edge, never to a gap. ``bisect_left``
    finds that band among the sorted edges; a non-finite value is refused. Answers are
    remembered (:data:`CHART_CACHE_SIZE` values a row; a refusal is not remembered).
    """
    edges = tuple(edge for edge, _ in bands)
    points = (*(band_points for _, band_points in bands), above)
    if list(edges) != sorted(set(edges)):
        raise ValueError(f"the {name} bands must have strictly ascending edges, got {edges}")

    def sub_score(value: float) -> int:
        if not isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
        return points[bisect_left(edges, value)]

    return lru_cache(maxsize=CHART_CACHE_SIZE)(sub_score)


_respiration_rate = _chart_row("respiration rate", RESPIRATION_RATE, RESPIRATION_RATE_ABOVE)
_spo2_scale1 = _chart_row("SpO2", SPO2_SCALE1, SPO2_SCALE1_ABOVE)
_spo2_scale2_on_air = _chart_row("SpO2", SPO2_SCALE2, 0)
_spo2_scale2_on_oxygen = _chart_row(
    "SpO2", SPO2_SCALE2 + SPO2_SCALE2_ON_OXYGEN, SPO2_SCALE2_ON_OXYGEN_ABOVE
)
_systolic_bp = _chart_row("systolic blood pressure", SYSTOLIC_BP, SYSTOLIC_BP_ABOVE)
_pulse = _chart_row("pulse", PULSE, PULSE_ABOVE)
_temperature = _chart_row("temperature", TEMPERATURE, TEMPERATURE_ABOVE)


def respiration_rate_score(rate: float) -> int:
    """Score respiration rate (breaths/min): ≤8 3, 9-11 1, 12-20 0, 21-24 2, ≥25 3."""
    return _respiration_rate(rate)


def spo2_scale1_score(spo2: float) -> int:
    """Score SpO2 (%) on scale 1: ≤91 3, 92-93 2, 94-95 1, ≥96 0. Oxygen does not matter."""
    return _spo2_scale1(spo2)


def spo2_scale2_score(spo2: float, *, on_oxygen: bool) -> int:
    """Score SpO2 (%) on scale 2.

    ≤83 3, 84-85 2, 86-87 1, 88-92 0; above 92 on air 0; on oxygen 93-94 1, 95-96 2, ≥97 3.
    """
    return _spo2_scale2_on_oxygen(spo2) if on_oxygen else _spo2_scale2_on_air(spo2)


def air_or_oxygen_score(on_oxygen: bool) -> int:
    """Score supplemental oxygen: oxygen 2, air 0."""
    return 2 if on_oxygen else 0


def systolic_bp_score(bp: float) -> int:
    """Score systolic blood pressure (mmHg): ≤90 3, 91-100 2, 101-110 1, 111-219 0, ≥220 3."""
    return _systolic_bp(bp)


def pulse_score(pulse: float) -> int:
    """Score pulse (/min): ≤40 3, 41-50 1, 51-90 0, 91-110 1, 111-130 2, ≥131 3."""
    return _pulse(pulse)


def consciousness_score(level: str) -> int:
    """Score ACVPU: "A" 0; "C" (new confusion), "V", "P", "U" 3. Anything else is refused."""
    if level == _ALERT:
        return 0
    if level in _NOT_ALERT:
        return 3
    raise ValueError(f"consciousness must be one of A, C, V, P, U; got {level!r}")


def temperature_score(celsius: float) -> int:
    """Score temperature (°C): ≤35.0 3, 35.1-36.0 1, 36.1-38.0 0, 38.1-39.0 1, ≥39.1 2."""
    return _temperature(celsius)


def clinical_risk(
    total: int, parameters: Mapping[str, int | None], *, complete: bool
) -> Risk | None:
    """Return the RCP clinical risk, in order of precedence.

    Aggregate ≥7 "high"; 5-6 "medium"; otherwise a 3 in any single parameter "low-medium";
    otherwise "low". For an incomplete set only "high" is decided (the measured part alone
    reaches 7); anything else is ``None``, since a missing parameter could still add up to 3.
    """
    if total >= 7:
        return "high"
    if not complete:
        return None
    if total >= 5:
        return "medium"
    if 3 in parameters.values():
        return "low-medium"
    return "low"


def _spo2_sub_score(spo2: int | None, scale: int, on_oxygen: bool | None) -> int | None:
    if spo2 is None:
        return None
    if scale == 1:
        return _spo2_scale1(spo2)
    if on_oxygen is None:
        if spo2 > 92:
            return None
        return spo2_scale2_score(spo2, on_oxygen=False)
    return spo2_scale2_score(spo2, on_oxygen=on_oxygen)


def score_parts(
    spo2_scale: int,
    respiration_rate: float | None,
    spo2: int | None,
    supplemental_oxygen: bool | None,
    systolic_bp: float | None,
    pulse: float | None,
    consciousness: str | None,
    temperature: float | None,
) -> tuple[int, Risk | None, bool, dict[str, int | None]]:
    """:func:`score` of the vital signs given one by one, as ``(total, risk, complete,
    parameters)``: for a caller scoring many rows, which needs no :class:`Vitals` per row.

    ``parameters`` is a new dict on every call, so the caller may keep it.
    """
    if spo2_scale not in (1, 2):
        raise ValueError(f"spo2_scale must be 1 or 2, got {spo2_scale!r}")

    parameters: dict[str, int | None] = {
        "respiration_rate": (
            None if respiration_rate is None else _respiration_rate(respiration_rate)
        ),
        "spo2": _spo2_sub_score(spo2, spo2_scale, supplemental_oxygen),
        "air_or_oxygen": (
            None if supplemental_oxygen is None else air_or_oxygen_score(supplemental_oxygen)
        ),
        "systolic_bp": None if systolic_bp is None else _systolic_bp(systolic_bp),
        "pulse": None if pulse is None else _pulse(pulse),
        "consciousness": None if consciousness is None else consciousness_score(consciousness),
        "temperature": None if temperature is None else _temperature(temperature),
    }
    sub_scores = parameters.values()
    complete = None not in sub_scores
    total = sum(filter(None, sub_scores))  # the scored parameters: 0 and None add nothing
    return total, clinical_risk(total, parameters, complete=complete), complete, parameters


def score(vitals: Vitals) -> Score:
    """Score one set of vitals against the RCP NEWS2 chart.

    Raises ``ValueError`` for an SpO2 scale other than 1 or 2, a non-finite measurement or an
    unknown consciousness level.
    """
    total, risk, complete, parameters = score_parts(
        vitals.spo2_scale, *(getattr(vitals, name) for name in VITAL_SIGNS)
    )
    return Score(total=total, risk=risk, complete=complete, parameters=parameters)
