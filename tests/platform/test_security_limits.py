"""Rate limits per client per tenant, from the tenant's policy: 429 with Retry-After; counted in
Redis on the production backend, so that every process shares them.

The limit counts per minute of the platform's clock: the tests set that clock to the start of a
minute (the next one of real time, so that records an hour old are in the past) and to its last
second and the next minute's first, instead of waiting for a fresh minute."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx2 as httpx  # what the test client answers with
import pytest
import redis

from support import SERVICES, people, sample_record, tenant_document
from support.platform import Backend, TestPlatform, start_platform
from support.security import an_hour_ago

(ALICE,) = people(1, seed="security-limits")
SALTEN = {"client_id": "salten-legevakt", "name": "Salten legevakt", "services": ["news2"]}


@pytest.fixture(scope="module")
def platform(
    module_backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestPlatform]:
    """Bodø with the default limit and Tromsø (5501) with 3 requests a minute; Salten's
    legevakt is a consumer of both."""
    for platform in start_platform(module_backend, tmp_path_factory.mktemp("limits")):
        platform.onboard(tenant_document("1804", extra_consumers=[SALTEN]))
        platform.onboard(
            tenant_document(
                "5501",
                name="Tromsø kommune",
                organisasjonsnummer="940101808",
                policy={"rate_limit_per_minute": 3},
                extra_consumers=[SALTEN],
            )
        )
        yield platform


@pytest.fixture
def minute(platform: TestPlatform) -> Iterator[datetime]:
    """The start of a clock minute, the platform's clock set to it (restored after)."""
    original = platform.runtime.clock
    start = datetime.fromtimestamp((time.time() // 60 + 1) * 60, UTC)
    platform.set_now(start)
    yield start
    platform.runtime.clock = original


def look_up(platform: TestPlatform, client: str, *kommuner: str) -> httpx.Response:
    body = {"patients": [ALICE], **({"kommuner": list(kommuner)} if kommuner else {})}
    return platform.client.post("/v1/news2/query", json=body, headers=platform.headers(client))


def test_a_client_over_a_tenants_limit_gets_429_with_retry_after(
    platform: TestPlatform, minute: datetime
) -> None:
    for client in ("salten-legevakt", "k5501-legevakt"):
        platform.token(client)  # tokens first: the token endpoint is not the tenant's
    statuses = [look_up(platform, "salten-legevakt", "5501").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert look_up(platform, "salten-legevakt", "5501").headers["retry-after"] == "60"
    platform.set_now(minute + timedelta(seconds=59))  # the minute's last second: still over
    limited = look_up(platform, "salten-legevakt", "5501")
    assert limited.status_code == 429
    assert limited.headers["content-type"] == "application/problem+json"
    assert limited.headers["retry-after"] == "1"
    assert "Tromsø kommune" in limited.json()["detail"]

    assert look_up(platform, "salten-legevakt", "1804").status_code == 200  # another tenant
    assert look_up(platform, "k5501-legevakt", "5501").status_code == 200  # another client
    # Without kommuner, the municipalities that would answer do, and 5501 is named as refused.
    across = look_up(platform, "salten-legevakt")
    assert across.status_code == 200
    assert [r["kommunenummer"] for r in across.json()["refused"]] == ["5501"]
    assert "requests a minute" in across.json()["refused"][0]["reason"]

    redis_url = platform.runtime.settings.redis_url
    if redis_url:
        window = int(minute.timestamp() // 60)
        shared = redis.Redis.from_url(redis_url)
        counted = 0
        for _ in range(40):  # hits after a process's first are shared within a flush interval
            counted = int(shared.get(f"journalloft:rate:5501:salten-legevakt:{window}") or 0)
            if counted >= 5:
                break
            time.sleep(0.05)
        assert counted >= 5
        assert 0 < shared.ttl(f"journalloft:rate:5501:salten-legevakt:{window}") <= 60
    platform.set_now(minute + timedelta(seconds=60))  # the next minute counts afresh
    statuses = [look_up(platform, "salten-legevakt", "5501").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


@pytest.mark.parametrize("service", SERVICES)
def test_every_services_requests_count_against_the_tenants_limit(
    platform: TestPlatform, service: str, minute: datetime
) -> None:
    """A tenant of its own per service (4 requests a minute), so the counts stay apart."""
    kommunenummer = f"46{SERVICES.index(service) + 10}"
    tenant = platform.onboard(tenant_document(kommunenummer, policy={"rate_limit_per_minute": 4}))
    source, consumer = tenant.sources[0].client_id, tenant.consumers[0].client_id
    for client in (source, consumer):
        platform.token(client)
    record = sample_record(service, "l-1", ALICE, at=an_hour_ago())
    path = f"/v1/tenants/{kommunenummer}/{service}/records"
    pushes = [
        platform.client.post(path, json={"records": [record]}, headers=platform.headers(source))
        for _ in range(5)
    ]
    assert [p.status_code for p in pushes] == [200, 200, 200, 200, 429]
    body = {"patients": [ALICE], "kommuner": [kommunenummer]}
    lookups = [
        platform.client.post(f"/v1/{service}/query", json=body, headers=platform.headers(consumer))
        for _ in range(5)
    ]
    assert [r.status_code for r in lookups] == [200, 200, 200, 200, 429]
