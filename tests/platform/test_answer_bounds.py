"""What one lookup answer may hold: each person's newest records up to a bound, and at most so
many records in all, shared fairly among the people asked; an entry that holds less than the
municipality has says so (``truncated``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from support import people, tenant_document
from support.platform import Backend, TestPlatform, start_platform

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
A, B, C = people(3, seed="answer-bounds")
PER_PERSON = 3
PER_ANSWER = 7


@pytest.fixture
def bounded(backend: Backend, tmp_path: Path) -> Iterator[TestPlatform]:
    for platform in start_platform(
        backend,
        tmp_path,
        lookup_records_per_person=PER_PERSON,
        lookup_records_per_answer=PER_ANSWER,
    ):
        platform.onboard(tenant_document("1804"))
        platform.set_now(NOW)
        yield platform


def measurement(patient: str, n: int) -> dict[str, Any]:
    at = (NOW - timedelta(minutes=60 - n)).isoformat()
    return {
        "id": f"{patient}-m{n}",
        "patient": patient,
        "updated": at,
        "effective": at,
        "spo2_scale": 1,
        "pulse": 60 + n,
    }


def push(platform: TestPlatform, records: list[dict[str, Any]]) -> None:
    answer = platform.client.post(
        "/v1/tenants/1804/news2/records",
        json={"records": records},
        headers=platform.headers("bodo-epj"),
    )
    assert answer.status_code == 200, answer.text


def look_up(platform: TestPlatform, patients: list[str]) -> dict[str, Any]:
    answer = platform.client.post(
        "/v1/news2/query", json={"patients": patients}, headers=platform.headers("bodo-legevakt")
    )
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    service = platform.runtime.services["news2"]
    for entry in found["results"]:
        assert not platform.runtime.schemas.errors(entry, service.result_schema), entry
    return {entry["patient"]: entry for entry in found["results"]}


def pulses(entry: dict[str, Any]) -> list[int]:
    return [m["pulse"] for m in entry["measurements"]]


def test_a_person_with_more_records_than_the_bound_gets_the_newest_and_a_marker(
    bounded: TestPlatform,
) -> None:
    push(bounded, [measurement(A, n) for n in range(1, PER_PERSON + 3)])  # 5: two too many
    push(bounded, [measurement(B, n) for n in range(1, PER_PERSON + 1)])  # exactly the bound
    found = look_up(bounded, [A, B])
    assert pulses(found[A]) == [65, 64, 63]  # the newest, newest first
    assert found[A]["latest"]["pulse"] == 65
    assert found[A]["truncated"] is True
    assert pulses(found[B]) == [63, 62, 61]
    assert "truncated" not in found[B]


def test_the_answer_is_bounded_in_all_and_shared_among_the_people(bounded: TestPlatform) -> None:
    for person in (A, B, C):
        push(bounded, [measurement(person, n) for n in range(1, PER_PERSON + 1)])
    found = look_up(bounded, [A, B, C])  # 9 records, 7 allowed: every person's newest first
    assert sum(len(e["measurements"]) for e in found.values()) == PER_ANSWER
    assert all(e["latest"]["pulse"] == 63 for e in found.values())
    assert {p for p, e in found.items() if e.get("truncated")} == {
        p for p, e in found.items() if len(e["measurements"]) < PER_PERSON
    }
    assert len([e for e in found.values() if e.get("truncated")]) == 2
    # asked for fewer people at once, each gets the rest
    for person in (A, B, C):
        alone = look_up(bounded, [person])[person]
        assert pulses(alone) == [63, 62, 61]
        assert "truncated" not in alone
