"""A NEWS2 score the source computed and sent without the vital signs: each sub-score a possible
value, the total their sum, stored marked as the source's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from journalloft.plugin import RecordRejected
from journalloft.services.news2.service import (
    decode_source_scores,
    encode_source_scores,
    measurement_out,
    prepare_measurement,
)

NOW = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)
SCORES = {
    "respiration_rate": 3,
    "spo2": 3,
    "air_or_oxygen": 2,
    "systolic_bp": 3,
    "pulse": 3,
    "consciousness": 3,
    "temperature": None,
}


def record(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "m-1",
        "patient": "x",
        "updated": NOW.isoformat(),
        "effective": (NOW - timedelta(hours=1)).isoformat(),
        "spo2_scale": 2,
        "source_scores": dict(SCORES),
        "total_score": 17,
    }
    base.update(changes)
    return base


def test_a_source_score_is_stored_and_answered_as_the_sources() -> None:
    columns = prepare_measurement(record(), now=NOW)
    assert columns["source_scores"] == "3,3,2,3,3,3,-"
    assert decode_source_scores(columns["source_scores"]) == SCORES
    row = ("x", "m-1", NOW, NOW, 2, *[None] * 10, columns["source_scores"], *[None] * 6)
    score = measurement_out(row)["score"]
    assert score == {
        "total": 17,
        "risk": "high",
        "complete": False,
        "parameters": SCORES,
        "scored_by": "source",
    }


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"total_score": 16}, "/total_score"),
        ({"total_score": None}, "/total_score"),
        ({"source_scores": {**SCORES, "air_or_oxygen": 1}}, "/source_scores/air_or_oxygen"),
        ({"source_scores": {**SCORES, "consciousness": 2}}, "/source_scores/consciousness"),
        ({"pulse": 70}, "/source_scores/pulse"),  # the vital sign sent scores 0, not 3
    ],
)
def test_a_source_score_that_cannot_be_is_refused(changes: dict[str, Any], pointer: str) -> None:
    with pytest.raises(RecordRejected) as rejected:
        prepare_measurement(record(**changes), now=NOW)
    assert pointer in {e.pointer for e in rejected.value.errors}


def test_without_source_scores_nothing_is_marked() -> None:
    columns = prepare_measurement(record(source_scores=None, total_score=None, pulse=70), now=NOW)
    assert columns["source_scores"] is None
    assert encode_source_scores({}) == "-,-,-,-,-,-,-"
