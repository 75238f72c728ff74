"""Every band edge of the NEWS2 chart, both sides of it, through :func:`score`.

The chart below is DOMAIN.md §5 (RCP 2017, chart 1) written out as its printed ranges: an
independent table, not scoring.py's own constants. Each printed range gives its lowest and
highest value and the values just outside them (one unit, 0.1 °C for temperature), so every edge
is tested with the value on it and the one beside it. SpO2 is tested on both scales with each
oxygen state (air, oxygen, unknown), through the whole :func:`score`, so that the rules about the
oxygen state (scale 2 above 92 % is undecided while it is unknown) are tested at their edges too.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest

from journalloft.services.news2 import scoring
from journalloft.services.news2.scoring import Vitals, score

Range = tuple[float, float, int]
"""A printed range of the chart: lowest value, highest value, its score."""

LOWEST, HIGHEST = 0, 300

RESPIRATION_RATE: tuple[Range, ...] = (
    (LOWEST, 8, 3),
    (9, 11, 1),
    (12, 20, 0),
    (21, 24, 2),
    (25, HIGHEST, 3),
)
SPO2_SCALE1: tuple[Range, ...] = ((LOWEST, 91, 3), (92, 93, 2), (94, 95, 1), (96, 100, 0))
SPO2_SCALE2_BELOW_93: tuple[Range, ...] = ((LOWEST, 83, 3), (84, 85, 2), (86, 87, 1), (88, 92, 0))
SPO2_SCALE2_ON_AIR: tuple[Range, ...] = (*SPO2_SCALE2_BELOW_93, (93, 100, 0))
SPO2_SCALE2_ON_OXYGEN: tuple[Range, ...] = (
    *SPO2_SCALE2_BELOW_93,
    (93, 94, 1),
    (95, 96, 2),
    (97, 100, 3),
)
SYSTOLIC_BP: tuple[Range, ...] = (
    (LOWEST, 90, 3),
    (91, 100, 2),
    (101, 110, 1),
    (111, 219, 0),
    (220, HIGHEST, 3),
)
PULSE: tuple[Range, ...] = (
    (LOWEST, 40, 3),
    (41, 50, 1),
    (51, 90, 0),
    (91, 110, 1),
    (111, 130, 2),
    (131, HIGHEST, 3),
)
TEMPERATURE: tuple[Range, ...] = (
    (25.0, 35.0, 3),
    (35.1, 36.0, 1),
    (36.1, 38.0, 0),
    (38.1, 39.0, 1),
    (39.1, 45.0, 2),
)


def chart_score(chart: tuple[Range, ...], value: float) -> int:
    """The score the printed chart gives ``value`` (a value the chart prints)."""
    (points,) = [points for low, high, points in chart if low <= value <= high]
    return points


def edge_values(chart: tuple[Range, ...], step: float) -> list[float]:
    """Each printed range's lowest and highest value and the values just beside them."""
    lowest, highest = chart[0][0], chart[-1][1]
    values = {
        round(value, 1)
        for low, high, _ in chart
        for value in (low - step, low, low + step, high - step, high, high + step)
    }
    return sorted(value for value in values if lowest <= value <= highest)


def normal(**changes: Any) -> Vitals:
    values: dict[str, Any] = {
        "spo2_scale": 1,
        "respiration_rate": 16,
        "spo2": 98,
        "supplemental_oxygen": False,
        "systolic_bp": 120,
        "pulse": 70,
        "consciousness": "A",
        "temperature": 37.0,
    }
    values.update(changes)
    return Vitals(**values)


def _cases(parameter: str, chart: tuple[Range, ...], step: float) -> Iterator[Any]:
    for value in edge_values(chart, step):
        expected = chart_score(chart, value)
        yield pytest.param(parameter, value, expected, id=f"{parameter}={value}->{expected}")


@pytest.mark.parametrize(
    ("parameter", "value", "expected"),
    [
        *_cases("respiration_rate", RESPIRATION_RATE, 1),
        *_cases("systolic_bp", SYSTOLIC_BP, 1),
        *_cases("pulse", PULSE, 1),
        *_cases("temperature", TEMPERATURE, 0.1),
    ],
)
def test_every_band_edge_and_the_value_beside_it(
    parameter: str, value: float, expected: int
) -> None:
    result = score(normal(**{parameter: value}))
    assert result.parameters[parameter] == expected
    assert result.total == expected
    assert result.complete


OXYGEN_STATES = {"air": False, "oxygen": True, "unknown": None}


def _spo2_cases() -> Iterator[Any]:
    for state, on_oxygen in OXYGEN_STATES.items():
        for value in edge_values(SPO2_SCALE1, 1):
            expected: int | None = chart_score(SPO2_SCALE1, value)
            yield pytest.param(1, on_oxygen, value, expected, id=f"scale1-{state}-{value}")
        scale2 = SPO2_SCALE2_ON_OXYGEN if on_oxygen else SPO2_SCALE2_ON_AIR
        for value in edge_values(scale2, 1):
            expected = chart_score(scale2, value)
            if on_oxygen is None and value > 92:
                expected = None  # on air 0, on oxygen 1 to 3: undecided while unknown
            yield pytest.param(2, on_oxygen, value, expected, id=f"scale2-{state}-{value}")


@pytest.mark.parametrize(("scale", "on_oxygen", "spo2", "expected"), list(_spo2_cases()))
def test_every_spo2_band_edge_on_both_scales_with_every_oxygen_state(
    scale: int, on_oxygen: bool | None, spo2: int, expected: int | None
) -> None:
    result = score(normal(spo2_scale=scale, spo2=int(spo2), supplemental_oxygen=on_oxygen))
    assert result.parameters["spo2"] == expected
    oxygen_points = {False: 0, True: 2, None: None}[on_oxygen]
    assert result.parameters["air_or_oxygen"] == oxygen_points
    assert result.complete == (expected is not None and oxygen_points is not None)
    assert result.total == (expected or 0) + (oxygen_points or 0)


def test_the_edges_cover_every_printed_range() -> None:
    """The table's edges reach every range, and a step beyond each edge lands in the next."""
    for chart, step in (
        (RESPIRATION_RATE, 1),
        (SPO2_SCALE1, 1),
        (SPO2_SCALE2_ON_AIR, 1),
        (SPO2_SCALE2_ON_OXYGEN, 1),
        (SYSTOLIC_BP, 1),
        (PULSE, 1),
        (TEMPERATURE, 0.1),
    ):
        values = edge_values(chart, step)
        for (_, high, _), (low, _, _) in pairwise(chart):
            assert round(high + step, 1) == low
            assert high in values
            assert low in values


def test_a_chart_row_needs_strictly_ascending_edges() -> None:
    with pytest.raises(ValueError, match=r"the pulse bands must have strictly ascending edges"):
        scoring._chart_row("pulse", ((50, 1), (40, 3)), 0)
    with pytest.raises(ValueError, match=r"strictly ascending edges, got \(40, 40\)"):
        scoring._chart_row("pulse", ((40, 1), (40, 3)), 0)


def test_every_chart_rows_memory_is_bounded() -> None:
    """Bounded work for any input: each row remembers at most CHART_CACHE_SIZE values."""
    rows = (
        scoring._respiration_rate,
        scoring._spo2_scale1,
        scoring._spo2_scale2_on_air,
        scoring._spo2_scale2_on_oxygen,
        scoring._systolic_bp,
        scoring._pulse,
        scoring._temperature,
    )
    for row in rows:
        info = row.cache_info()  # type: ignore[attr-defined]  # an lru_cache behind Callable
        assert info.maxsize == scoring.CHART_CACHE_SIZE
