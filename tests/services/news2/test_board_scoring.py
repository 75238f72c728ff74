"""The board's scoring path against the plain one: the chart lookups against the chart read as
chained ``<=``, and each board entry against :func:`score` of :func:`vitals_of` of its row.

The board scores every row of every query without building a ``Vitals`` or a ``Score``; these
tests hold it to exactly what the plain path answers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from journalloft.platform.http.problems import JSONResponse
from journalloft.platform.storage.tables import rfc3339
from journalloft.services.news2.scoring import (
    PARAMETERS,
    pulse_score,
    respiration_rate_score,
    score,
    spo2_scale1_score,
    spo2_scale2_score,
    systolic_bp_score,
    temperature_score,
)
from journalloft.services.news2.service import board, measurement_out, vitals_of
from journalloft.services.news2.shapes import MeasurementRow

# --- the chart read as chained <=, one printed row at a time (RCP 2017, chart 1) -----------------


def chart_respiration_rate(rate: float) -> int:
    if rate <= 8:
        return 3
    if rate <= 11:
        return 1
    if rate <= 20:
        return 0
    if rate <= 24:
        return 2
    return 3


def chart_spo2_scale1(spo2: float) -> int:
    if spo2 <= 91:
        return 3
    if spo2 <= 93:
        return 2
    if spo2 <= 95:
        return 1
    return 0


def chart_spo2_scale2(spo2: float, on_oxygen: bool) -> int:
    if spo2 <= 83:
        return 3
    if spo2 <= 85:
        return 2
    if spo2 <= 87:
        return 1
    if spo2 <= 92 or not on_oxygen:
        return 0
    if spo2 <= 94:
        return 1
    if spo2 <= 96:
        return 2
    return 3


def chart_systolic_bp(bp: float) -> int:
    if bp <= 90:
        return 3
    if bp <= 100:
        return 2
    if bp <= 110:
        return 1
    if bp <= 219:
        return 0
    return 3


def chart_pulse(pulse: float) -> int:
    if pulse <= 40:
        return 3
    if pulse <= 50:
        return 1
    if pulse <= 90:
        return 0
    if pulse <= 110:
        return 1
    if pulse <= 130:
        return 2
    return 3


def chart_temperature(celsius: float) -> int:
    if celsius <= 35.0:
        return 3
    if celsius <= 36.0:
        return 1
    if celsius <= 38.0:
        return 0
    if celsius <= 39.0:
        return 1
    return 2


def grid(low: int, high: int, steps_per_unit: int) -> list[float]:
    """Every integer from ``low`` to ``high`` and the decimals between them."""
    decimals = [
        step / steps_per_unit for step in range(low * steps_per_unit, high * steps_per_unit + 1)
    ]
    return [*range(low, high + 1), *decimals]


@pytest.mark.parametrize(
    ("scorer", "chart", "values"),
    [
        pytest.param(respiration_rate_score, chart_respiration_rate, grid(0, 80, 20), id="rr"),
        pytest.param(spo2_scale1_score, chart_spo2_scale1, grid(0, 100, 20), id="spo2-scale1"),
        pytest.param(systolic_bp_score, chart_systolic_bp, grid(0, 300, 20), id="systolic-bp"),
        pytest.param(pulse_score, chart_pulse, grid(0, 300, 20), id="pulse"),
        pytest.param(temperature_score, chart_temperature, grid(20, 45, 100), id="temperature"),
    ],
)
def test_every_value_scores_as_the_chart_reads(
    scorer: Callable[[float], int], chart: Callable[[float], int], values: list[float]
) -> None:
    assert [scorer(value) for value in values] == [chart(value) for value in values]


@pytest.mark.parametrize("on_oxygen", [True, False], ids=["oxygen", "air"])
def test_every_spo2_on_scale2_scores_as_the_chart_reads(on_oxygen: bool) -> None:
    values = grid(0, 100, 20)
    scored = [spo2_scale2_score(value, on_oxygen=on_oxygen) for value in values]
    assert scored == [chart_spo2_scale2(value, on_oxygen) for value in values]


# --- each board entry is its row scored the plain way --------------------------------------------

NOW = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)

instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)

rows = st.tuples(
    st.sampled_from(["patient-a", "patient-b"]),
    st.text(min_size=1, max_size=8),
    instants,
    instants,
    st.sampled_from([1, 2]),
    st.none() | st.integers(0, 80),
    st.none() | st.integers(50, 100),
    st.none() | st.booleans(),
    st.none() | st.integers(30, 300),
    st.none() | st.integers(0, 250),
    st.none() | st.sampled_from(["A", "C", "V", "P", "U"]),
    st.none() | st.floats(25.0, 45.0),
    st.none() | st.text(max_size=8),
    st.none() | st.text(max_size=8),
    st.none() | st.text(max_size=8),
    st.none(),  # source_scores: scored by the platform (source-scored rows: test_source_scores)
    st.none() | st.text(min_size=1, max_size=11),  # recorded_by_national_id
    st.none() | st.text(min_size=1, max_size=9),  # data_controller_orgnr
    st.none() | st.text(min_size=1, max_size=9),  # data_controller_resh
    st.none() | st.text(min_size=1, max_size=8),  # data_controller_name
    st.none() | st.text(min_size=1, max_size=8),  # source_system
    st.none()
    | st.dictionaries(
        st.sampled_from(PARAMETERS), st.text(min_size=1, max_size=5), min_size=1
    ),  # interpretations
)


def plain_entry(row: MeasurementRow) -> dict[str, Any]:
    """What the board should say about ``row``: its fields, :func:`rfc3339` instants and
    :func:`score` of :func:`vitals_of` of the row."""
    result = score(vitals_of(row._asdict()))
    recorded_by: dict[str, Any] | None = None
    if (row.recorded_by_name, row.recorded_by_hpr, row.recorded_by_national_id) != (None,) * 3:
        recorded_by = {"name": row.recorded_by_name, "hpr": row.recorded_by_hpr}
        if row.recorded_by_national_id is not None:
            recorded_by["national_id"] = row.recorded_by_national_id
    provenance: dict[str, Any] = {}
    if row.data_controller_orgnr is not None:
        provenance["data_controller"] = {
            "orgnr": row.data_controller_orgnr,
            "name": row.data_controller_name,
        }
    elif row.data_controller_resh is not None:
        provenance["data_controller"] = {
            "resh": row.data_controller_resh,
            "name": row.data_controller_name,
        }
    if row.source_system is not None:
        provenance["source_system"] = row.source_system
    if row.interpretations:
        provenance["interpretations"] = row.interpretations
    return {
        "id": row.record_id,
        "effective": rfc3339(row.effective),
        "updated": rfc3339(row.updated),
        "respiration_rate": row.respiration_rate,
        "spo2": row.spo2,
        "spo2_scale": row.spo2_scale,
        "supplemental_oxygen": row.supplemental_oxygen,
        "systolic_bp": row.systolic_bp,
        "pulse": row.pulse,
        "consciousness": row.consciousness,
        "temperature": row.temperature,
        "recorded_by": recorded_by,
        "location": row.location,
        "score": {
            "total": result.total,
            "risk": result.risk,
            "complete": result.complete,
            "parameters": result.parameters,
        },
    } | provenance


def rendered(value: Any) -> Any:
    """``value`` as the API writes it: through the platform's one JSON renderer."""
    return orjson.loads(JSONResponse(value).body)


@given(rows)
def test_an_entry_is_its_row_scored_the_plain_way(row: tuple[Any, ...]) -> None:
    entry = measurement_out(row)
    expected = plain_entry(MeasurementRow._make(row))
    assert rendered(entry) == expected
    assert list(entry) == list(expected)
    assert measurement_out(MeasurementRow._make(row)) == entry


@given(st.lists(rows, max_size=12))
def test_the_board_groups_entries_by_person_in_row_order(rows: list[tuple[Any, ...]]) -> None:
    result = rendered(board(rows))
    expected: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        expected.setdefault(row[0], []).append(plain_entry(MeasurementRow._make(row)))
    assert {patient: entry["measurements"] for patient, entry in result.items()} == expected
    assert list(result) == list(expected)


@pytest.mark.parametrize(
    ("instant", "written"),
    [
        pytest.param(NOW, "2026-11-22T05:00:00Z", id="utc"),
        pytest.param(NOW.replace(microsecond=120), "2026-11-22T05:00:00.000120Z", id="micro"),
        pytest.param(NOW.replace(year=987), "0987-11-22T05:00:00Z", id="year-987"),
        pytest.param(
            NOW.astimezone(timezone(timedelta(hours=1))), "2026-11-22T05:00:00Z", id="plus-1h"
        ),
        pytest.param(NOW.astimezone(ZoneInfo("Europe/Oslo")), "2026-11-22T05:00:00Z", id="oslo"),
        pytest.param(NOW.replace(tzinfo=ZoneInfo("UTC")), "2026-11-22T05:00:00Z", id="zone-utc"),
    ],
)
def test_instants_are_written_in_utc_with_z(instant: datetime, written: str) -> None:
    row = ("patient-a", "m-1", instant, instant, 1, *[None] * 17)
    entry = rendered(measurement_out(row))
    assert entry["effective"] == entry["updated"] == written == rfc3339(instant)


@given(instants)
def test_an_instant_in_utc_is_written_as_rfc3339(instant: datetime) -> None:
    row = ("patient-a", "m-1", instant, instant, 1, *[None] * 17)
    assert rendered(measurement_out(row))["effective"] == rfc3339(instant)
