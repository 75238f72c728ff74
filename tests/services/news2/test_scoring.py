"""NEWS2 scoring against the RCP 2017 chart (Royal College of Physicians, NEWS2, chart 1 and 2).

The expected values below are copied from the chart, band edge by band edge, not derived from the
implementation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from journalloft.services.news2.scoring import (
    PARAMETERS,
    Score,
    Vitals,
    air_or_oxygen_score,
    clinical_risk,
    consciousness_score,
    pulse_score,
    respiration_rate_score,
    score,
    spo2_scale1_score,
    spo2_scale2_score,
    systolic_bp_score,
    temperature_score,
)


def normal_vitals(**changes: Any) -> Vitals:
    """A complete set of vitals that scores 0 everywhere, with ``changes`` applied."""
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


def edge_cases(table: Sequence[tuple[float, int]], unit: str) -> list[Any]:
    return [
        pytest.param(value, expected, id=f"{value}{unit}->{expected}") for value, expected in table
    ]


# --- band edges, both sides, from the chart ------------------------------------------------------

RESPIRATION_RATE = [
    (8, 3),
    (9, 1),
    (11, 1),
    (12, 0),
    (20, 0),
    (21, 2),
    (24, 2),
    (25, 3),
]


@pytest.mark.parametrize(("rate", "expected"), edge_cases(RESPIRATION_RATE, "/min"))
def test_respiration_rate_band_edges(rate: int, expected: int) -> None:
    assert respiration_rate_score(rate) == expected


SPO2_SCALE1 = [
    (91, 3),
    (92, 2),
    (93, 2),
    (94, 1),
    (95, 1),
    (96, 0),
    (100, 0),
]


@pytest.mark.parametrize(("spo2", "expected"), edge_cases(SPO2_SCALE1, "%"))
def test_spo2_scale1_band_edges(spo2: int, expected: int) -> None:
    assert spo2_scale1_score(spo2) == expected


@pytest.mark.parametrize(("spo2", "expected"), edge_cases(SPO2_SCALE1, "%"))
def test_spo2_scale1_does_not_depend_on_oxygen(spo2: int, expected: int) -> None:
    on_air = score(normal_vitals(spo2=spo2, supplemental_oxygen=False))
    on_oxygen = score(normal_vitals(spo2=spo2, supplemental_oxygen=True))
    assert on_air.parameters["spo2"] == on_oxygen.parameters["spo2"] == expected


SPO2_SCALE2_ON_AIR = [
    (83, 3),
    (84, 2),
    (85, 2),
    (86, 1),
    (87, 1),
    (88, 0),
    (92, 0),
    (93, 0),
    (94, 0),
    (95, 0),
    (96, 0),
    (97, 0),
    (100, 0),
]

SPO2_SCALE2_ON_OXYGEN = [
    (83, 3),
    (84, 2),
    (85, 2),
    (86, 1),
    (87, 1),
    (88, 0),
    (92, 0),
    (93, 1),
    (94, 1),
    (95, 2),
    (96, 2),
    (97, 3),
    (100, 3),
]


@pytest.mark.parametrize(("spo2", "expected"), edge_cases(SPO2_SCALE2_ON_AIR, "%-air"))
def test_spo2_scale2_on_air_band_edges(spo2: int, expected: int) -> None:
    assert spo2_scale2_score(spo2, on_oxygen=False) == expected


@pytest.mark.parametrize(("spo2", "expected"), edge_cases(SPO2_SCALE2_ON_OXYGEN, "%-oxygen"))
def test_spo2_scale2_on_oxygen_band_edges(spo2: int, expected: int) -> None:
    assert spo2_scale2_score(spo2, on_oxygen=True) == expected


SYSTOLIC_BP = [
    (90, 3),
    (91, 2),
    (100, 2),
    (101, 1),
    (110, 1),
    (111, 0),
    (219, 0),
    (220, 3),
]


@pytest.mark.parametrize(("bp", "expected"), edge_cases(SYSTOLIC_BP, "mmHg"))
def test_systolic_bp_band_edges(bp: int, expected: int) -> None:
    assert systolic_bp_score(bp) == expected


PULSE = [
    (40, 3),
    (41, 1),
    (50, 1),
    (51, 0),
    (90, 0),
    (91, 1),
    (110, 1),
    (111, 2),
    (130, 2),
    (131, 3),
]


@pytest.mark.parametrize(("pulse", "expected"), edge_cases(PULSE, "/min"))
def test_pulse_band_edges(pulse: int, expected: int) -> None:
    assert pulse_score(pulse) == expected


TEMPERATURE = [
    (35.0, 3),
    (35.1, 1),
    (36.0, 1),
    (36.1, 0),
    (38.0, 0),
    (38.1, 1),
    (39.0, 1),
    (39.1, 2),
]


@pytest.mark.parametrize(("celsius", "expected"), edge_cases(TEMPERATURE, "C"))
def test_temperature_band_edges(celsius: float, expected: int) -> None:
    assert temperature_score(celsius) == expected


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        pytest.param("A", 0, id="alert"),
        pytest.param("C", 3, id="new-confusion"),
        pytest.param("V", 3, id="voice"),
        pytest.param("P", 3, id="pain"),
        pytest.param("U", 3, id="unresponsive"),
    ],
)
def test_consciousness_acvpu(level: str, expected: int) -> None:
    assert consciousness_score(level) == expected


@pytest.mark.parametrize("level", ["", "a", "alert", "X", "AVPU", " A"])
def test_unknown_consciousness_level_is_refused(level: str) -> None:
    with pytest.raises(ValueError, match="consciousness"):
        consciousness_score(level)


def test_air_or_oxygen() -> None:
    assert air_or_oxygen_score(True) == 2
    assert air_or_oxygen_score(False) == 0


# --- decimals never fall in a gap between the chart's printed ranges ------------------------------


@pytest.mark.parametrize(
    ("scorer", "value", "expected"),
    [
        pytest.param(temperature_score, 35.0, 3, id="35.0C->3"),
        pytest.param(temperature_score, 35.05, 1, id="35.05C->1"),
        pytest.param(temperature_score, 36.05, 0, id="36.05C->0"),
        pytest.param(temperature_score, 38.05, 1, id="38.05C->1"),
        pytest.param(temperature_score, 39.05, 2, id="39.05C->2"),
        pytest.param(respiration_rate_score, 8.5, 1, id="rr-8.5->1"),
        pytest.param(respiration_rate_score, 11.5, 0, id="rr-11.5->0"),
        pytest.param(respiration_rate_score, 20.5, 2, id="rr-20.5->2"),
        pytest.param(respiration_rate_score, 24.5, 3, id="rr-24.5->3"),
        pytest.param(systolic_bp_score, 90.5, 2, id="bp-90.5->2"),
        pytest.param(systolic_bp_score, 100.5, 1, id="bp-100.5->1"),
        pytest.param(systolic_bp_score, 110.5, 0, id="bp-110.5->0"),
        pytest.param(systolic_bp_score, 219.5, 3, id="bp-219.5->3"),
        pytest.param(pulse_score, 40.5, 1, id="pulse-40.5->1"),
        pytest.param(pulse_score, 90.5, 1, id="pulse-90.5->1"),
        pytest.param(pulse_score, 130.5, 3, id="pulse-130.5->3"),
        pytest.param(spo2_scale1_score, 91.5, 2, id="s1-91.5->2"),
        pytest.param(spo2_scale1_score, 95.5, 0, id="s1-95.5->0"),
    ],
)
def test_decimal_values_between_printed_bands(
    scorer: Callable[[float], int], value: float, expected: int
) -> None:
    assert scorer(value) == expected


@pytest.mark.parametrize(
    ("spo2", "on_oxygen", "expected"),
    [
        pytest.param(92.5, True, 1, id="92.5-oxygen->1"),
        pytest.param(92.5, False, 0, id="92.5-air->0"),
        pytest.param(96.5, True, 3, id="96.5-oxygen->3"),
        pytest.param(87.5, True, 0, id="87.5-oxygen->0"),
    ],
)
def test_spo2_scale2_decimals(spo2: float, on_oxygen: bool, expected: int) -> None:
    assert spo2_scale2_score(spo2, on_oxygen=on_oxygen) == expected


@pytest.mark.parametrize(
    "scorer",
    [
        respiration_rate_score,
        spo2_scale1_score,
        systolic_bp_score,
        pulse_score,
        temperature_score,
    ],
)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_measurement_is_refused(scorer: Callable[[float], int], value: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        scorer(value)


# --- SpO2 scale 2 through score(): oxygen is part of the sub-score above 92 % ---------------------


@pytest.mark.parametrize(
    ("spo2", "on_air", "on_oxygen"),
    [
        pytest.param(93, 0, 1, id="93%"),
        pytest.param(95, 0, 2, id="95%"),
        pytest.param(97, 0, 3, id="97%"),
    ],
)
def test_scale2_on_air_versus_on_oxygen(spo2: int, on_air: int, on_oxygen: int) -> None:
    air = score(normal_vitals(spo2_scale=2, spo2=spo2, supplemental_oxygen=False))
    oxygen = score(normal_vitals(spo2_scale=2, spo2=spo2, supplemental_oxygen=True))
    assert air.parameters["spo2"] == on_air
    assert oxygen.parameters["spo2"] == on_oxygen
    assert oxygen.parameters["air_or_oxygen"] == 2
    assert oxygen.total == on_oxygen + 2


def test_scale2_above_92_with_oxygen_unknown_is_not_scored() -> None:
    result = score(normal_vitals(spo2_scale=2, spo2=95, supplemental_oxygen=None))
    assert result.parameters["spo2"] is None
    assert result.parameters["air_or_oxygen"] is None
    assert result.complete is False
    assert result.total == 0
    assert result.risk is None


def test_scale2_at_or_below_92_with_oxygen_unknown_still_scores_spo2() -> None:
    result = score(normal_vitals(spo2_scale=2, spo2=85, supplemental_oxygen=None))
    assert result.parameters["spo2"] == 2
    assert result.parameters["air_or_oxygen"] is None
    assert result.complete is False


def test_same_spo2_scores_differently_on_scale1_and_scale2() -> None:
    scale1 = score(normal_vitals(spo2_scale=1, spo2=88))
    scale2 = score(normal_vitals(spo2_scale=2, spo2=88))
    assert scale1.parameters["spo2"] == 3
    assert scale2.parameters["spo2"] == 0


def test_unknown_spo2_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="spo2_scale"):
        score(normal_vitals(spo2_scale=3))


# --- clinical risk, in the RCP order of precedence -----------------------------------------------


def sub_scores(**changes: int | None) -> dict[str, int | None]:
    parameters: dict[str, int | None] = dict.fromkeys(PARAMETERS, 0)
    parameters.update(changes)
    return parameters


@pytest.mark.parametrize(
    ("total", "parameters", "expected"),
    [
        pytest.param(0, sub_scores(), "low", id="total-0-low"),
        pytest.param(
            4, sub_scores(pulse=2, temperature=1, respiration_rate=1), "low", id="total-4-no-3-low"
        ),
        pytest.param(3, sub_scores(consciousness=3), "low-medium", id="single-3-total-3"),
        pytest.param(4, sub_scores(systolic_bp=3, pulse=1), "low-medium", id="single-3-total-4"),
        pytest.param(
            5, sub_scores(consciousness=3, air_or_oxygen=2), "medium", id="single-3-total-5-medium"
        ),
        pytest.param(6, sub_scores(pulse=2, spo2=2, temperature=2), "medium", id="total-6"),
        pytest.param(7, sub_scores(pulse=3, spo2=2, temperature=2), "high", id="total-7-high"),
        pytest.param(20, sub_scores(**dict.fromkeys(PARAMETERS, 3)), "high", id="total-20"),
    ],
)
def test_clinical_risk_precedence(
    total: int, parameters: dict[str, int | None], expected: str
) -> None:
    assert clinical_risk(total, parameters, complete=True) == expected


def test_single_3_with_total_5_is_medium_through_score() -> None:
    result = score(normal_vitals(consciousness="V", supplemental_oxygen=True))
    assert result.total == 5
    assert result.risk == "medium"


def test_single_3_with_total_3_is_low_medium_through_score() -> None:
    result = score(normal_vitals(respiration_rate=26))
    assert result.total == 3
    assert result.risk == "low-medium"


def test_a_deteriorating_patient_scores_high() -> None:
    result = score(
        Vitals(
            spo2_scale=1,
            respiration_rate=22,
            spo2=93,
            supplemental_oxygen=True,
            systolic_bp=105,
            pulse=115,
            consciousness="A",
            temperature=38.5,
        )
    )
    assert result.parameters == {
        "respiration_rate": 2,
        "spo2": 2,
        "air_or_oxygen": 2,
        "systolic_bp": 1,
        "pulse": 2,
        "consciousness": 0,
        "temperature": 1,
    }
    assert result.total == 10
    assert result.complete is True
    assert result.risk == "high"


def test_normal_patient_is_low_and_complete() -> None:
    result = score(normal_vitals())
    assert result == Score(
        total=0, risk="low", complete=True, parameters=dict.fromkeys(PARAMETERS, 0)
    )


# --- incomplete sets: a missing parameter is never scored as 0 -----------------------------------


def test_missing_temperature_is_reported_not_scored() -> None:
    result = score(normal_vitals(temperature=None, pulse=115))
    assert list(result.parameters) == list(PARAMETERS)
    assert result.parameters["temperature"] is None
    assert result.complete is False
    assert result.total == 2


def test_incomplete_set_that_already_reaches_7_is_high() -> None:
    result = score(normal_vitals(temperature=None, consciousness="U", systolic_bp=85, pulse=120))
    assert result.total == 8
    assert result.complete is False
    assert result.risk == "high"


def test_incomplete_set_reaching_exactly_7_is_high() -> None:
    result = score(normal_vitals(pulse=None, consciousness="P", systolic_bp=95, temperature=39.5))
    assert result.total == 7
    assert result.risk == "high"


@pytest.mark.parametrize(
    ("changes", "measured_total"),
    [
        pytest.param(
            {"temperature": None, "consciousness": "C", "supplemental_oxygen": True}, 5, id="5"
        ),
        pytest.param({"pulse": None, "systolic_bp": 95, "respiration_rate": 22}, 4, id="4-no-3"),
        pytest.param({"pulse": None, "consciousness": "U"}, 3, id="single-3"),
        pytest.param({"spo2": None}, 0, id="0"),
    ],
)
def test_incomplete_set_below_7_has_no_risk(changes: dict[str, Any], measured_total: int) -> None:
    result = score(normal_vitals(**changes))
    assert result.complete is False
    assert result.total == measured_total
    assert result.risk is None


def test_nothing_measured() -> None:
    result = score(Vitals(spo2_scale=1))
    assert result.total == 0
    assert result.risk is None
    assert result.complete is False
    assert result.parameters == dict.fromkeys(PARAMETERS, None)


def test_missing_oxygen_status_is_not_scored_as_air() -> None:
    result = score(normal_vitals(supplemental_oxygen=None))
    assert result.parameters["air_or_oxygen"] is None
    assert result.parameters["spo2"] == 0
    assert result.complete is False
    assert result.risk is None


# --- properties -----------------------------------------------------------------------------------

vitals_strategy = st.builds(
    Vitals,
    spo2_scale=st.sampled_from([1, 2]),
    respiration_rate=st.none() | st.integers(0, 80),
    spo2=st.none() | st.integers(50, 100),
    supplemental_oxygen=st.none() | st.booleans(),
    systolic_bp=st.none() | st.integers(30, 300),
    pulse=st.none() | st.integers(0, 250),
    consciousness=st.none() | st.sampled_from(["A", "C", "V", "P", "U"]),
    temperature=st.none() | st.floats(25.0, 45.0, allow_nan=False),
)


@given(vitals_strategy)
def test_total_is_sum_of_scored_parameters(vitals: Vitals) -> None:
    result = score(vitals)
    assert tuple(result.parameters) == PARAMETERS
    assert result.total == sum(s for s in result.parameters.values() if s is not None)
    assert 0 <= result.total <= 20


@given(vitals_strategy)
def test_complete_iff_every_parameter_scored(vitals: Vitals) -> None:
    result = score(vitals)
    assert result.complete == all(s is not None for s in result.parameters.values())
    if result.complete:
        assert result.risk is not None
    else:
        assert result.risk in (None, "high")


@given(vitals_strategy)
def test_missing_measurement_is_never_scored(vitals: Vitals) -> None:
    result = score(vitals)
    measured = {
        "respiration_rate": vitals.respiration_rate,
        "spo2": vitals.spo2,
        "air_or_oxygen": vitals.supplemental_oxygen,
        "systolic_bp": vitals.systolic_bp,
        "pulse": vitals.pulse,
        "consciousness": vitals.consciousness,
        "temperature": vitals.temperature,
    }
    for name, value in measured.items():
        if value is None:
            assert result.parameters[name] is None


def monotone_away_from(
    scorer: Callable[[float], int], centre: float, low: float, high: float
) -> Callable[..., None]:
    """A property: stepping further from ``centre`` never lowers the sub-score."""

    @given(st.floats(low, high), st.floats(0, high - low))
    def check(x: float, d: float) -> None:
        if x >= centre:
            assert scorer(x + d) >= scorer(x)
        if x <= centre:
            assert scorer(x - d) >= scorer(x)

    return check


test_respiration_rate_monotone = monotone_away_from(respiration_rate_score, 16, 0, 80)
test_spo2_scale1_monotone = monotone_away_from(spo2_scale1_score, 100, 50, 100)
test_systolic_bp_monotone = monotone_away_from(systolic_bp_score, 165, 30, 300)
test_pulse_monotone = monotone_away_from(pulse_score, 70, 0, 250)
test_temperature_monotone = monotone_away_from(temperature_score, 37.0, 25.0, 45.0)
test_spo2_scale2_on_air_monotone = monotone_away_from(
    lambda x: spo2_scale2_score(x, on_oxygen=False), 90, 50, 100
)
test_spo2_scale2_on_oxygen_monotone = monotone_away_from(
    lambda x: spo2_scale2_score(x, on_oxygen=True), 90, 50, 100
)


@given(st.floats(50, 100))
def test_oxygen_never_lowers_spo2_scale2_score(spo2: float) -> None:
    assert spo2_scale2_score(spo2, on_oxygen=True) >= spo2_scale2_score(spo2, on_oxygen=False)
