"""Audit retention on both sides of its edge, on 29 February too.

Audit events are kept ``audit_retention_years`` whole calendar years (5 by default): purged when
they occurred before ``now`` minus those years, kept from that instant on. Counted back from
29 February into a year without one, the edge is 28 February (audit.retention_cutoff); into a
leap year it is 29 February.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from journalloft.platform.audit.log import retention_cutoff
from journalloft.platform.operations.retention import PurgeResult, purge_all
from support import people, tenant_document
from support.platform import Backend, TestPlatform, start_platform

LEAP_DAY = datetime(2028, 2, 29, 3, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("now", "years", "cutoff"),
    [
        (LEAP_DAY, 5, datetime(2023, 2, 28, 3, 0, tzinfo=UTC)),
        (LEAP_DAY, 4, datetime(2024, 2, 29, 3, 0, tzinfo=UTC)),
        (LEAP_DAY, 1, datetime(2027, 2, 28, 3, 0, tzinfo=UTC)),
        (datetime(2028, 3, 1, tzinfo=UTC), 5, datetime(2023, 3, 1, tzinfo=UTC)),
        (datetime(2028, 2, 28, tzinfo=UTC), 5, datetime(2023, 2, 28, tzinfo=UTC)),
        (datetime(2026, 11, 22, 3, 0, tzinfo=UTC), 5, datetime(2021, 11, 22, 3, 0, tzinfo=UTC)),
    ],
)
def test_the_retention_cutoff_is_whole_calendar_years(
    now: datetime, years: int, cutoff: datetime
) -> None:
    assert retention_cutoff(now, years) == cutoff


@pytest.fixture
def platform(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestPlatform]:
    """Bodø (5 years, the default) and 4604 (4 years)."""
    for platform in start_platform(backend, tmp_path_factory.mktemp("retention")):
        platform.onboard(tenant_document("1804"))
        platform.onboard(tenant_document("4604", policy={"audit_retention_years": 4}))
        yield platform


def read_at(platform: TestPlatform, at: datetime, patient: str, client: str) -> None:
    platform.set_now(at)
    answer = platform.client.post(
        "/v1/news2/query", json={"patients": [patient]}, headers=platform.headers(client)
    )
    assert answer.status_code == 200, answer.text


def logged(platform: TestPlatform, kommunenummer: str, patient: str, operator: str) -> list[str]:
    answer = platform.client.post(
        f"/v1/tenants/{kommunenummer}/audit/query",
        json={"patient": patient},
        headers=platform.headers(operator),
    )
    assert answer.status_code == 200, answer.text
    return sorted(e["occurred_at"] for e in answer.json()["events"] if e["action"] == "read")


@pytest.mark.parametrize(
    ("kommunenummer", "consumer", "operator", "edge"),
    [
        ("1804", "bodo-legevakt", "bodo-drift", datetime(2023, 2, 28, 3, 0, tzinfo=UTC)),
        ("4604", "k4604-legevakt", "k4604-drift", datetime(2024, 2, 29, 3, 0, tzinfo=UTC)),
    ],
    ids=["5 years: 28 February", "4 years: 29 February"],
)
def test_audit_purge_on_29_february_keeps_the_edge_and_drops_the_second_before(
    platform: TestPlatform, kommunenummer: str, consumer: str, operator: str, edge: datetime
) -> None:
    (patient,) = people(1, seed=f"retention-leap-{kommunenummer}")
    platform.token(consumer)
    for at in (edge - SECOND, edge, edge + SECOND):
        read_at(platform, at, patient, consumer)
    platform.set_now(LEAP_DAY)
    assert PurgeResult(kommunenummer, "audit", 1) in purge_all(platform.runtime)
    kept = logged(platform, kommunenummer, patient, operator)
    assert [datetime.fromisoformat(at) for at in kept] == [edge, edge + SECOND]
