"""A committed change reaches every open stream, or the stream is told to start again: when Redis
refuses the change feed's writes, when it restarts empty, and when the process that committed
the change dies before publishing it (issue 27, item 4). Each test runs a redis-server of its
own (never the shared one), on both stores."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
import redis
from sqlalchemy import func, select

from journalloft.platform.live.changes import Change
from journalloft.platform.live.outbox import OUTBOX, OutboxRelay, write
from support import SERVICES, measurement, people, servers, tenant_document
from support.live import EventReader, open_events, served_platform
from support.platform import BACKENDS, Backend, TestPlatform, start_platform
from support.servers import RedisServer, ServedPlatform, served, wait_for

ANNE, BJORN = people(2, seed="change-outbox")
EPJ, LEGEVAKT = "bodo-epj", "bodo-legevakt"


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    yield from servers.own_redis()


@pytest.fixture
def own_redis(backend: Backend, redis_server: RedisServer) -> Backend:
    """The backend's store, with the test's own Redis (emptied)."""
    return servers.with_redis(backend, redis_server)


def live(backend: Backend, tmp_path: Path, **settings: Any) -> Iterator[TestPlatform]:
    """Served, with the pilot 1804. Tests waiting for an event give the stream a heartbeat
    longer than the reader's timeout: a missing event fails the test within that timeout."""
    with served_platform(backend, tmp_path, **settings) as platform:
        platform.onboard(tenant_document("1804", services={s: {} for s in SERVICES}))
        yield platform


def push(platform: TestPlatform, record: dict[str, Any]) -> None:
    response = platform.client.post(
        "/v1/tenants/1804/news2/records", json={"records": [record]}, headers=platform.headers(EPJ)
    )
    assert response.status_code == 200, response.text


def subscribe(platform: TestPlatform) -> str:
    response = platform.client.post(
        "/v1/news2/subscriptions",
        json={"patients": [ANNE, BJORN], "kommuner": ["1804"]},
        headers=platform.headers(LEGEVAKT),
    )
    assert response.status_code == 201, response.text
    subscription_id: str = response.json()["id"]
    return subscription_id


def outbox_rows(platform: TestPlatform) -> int:
    with platform.runtime.stores.tenant_transaction("1804") as connection:
        return int(connection.execute(select(func.count()).select_from(OUTBOX)).scalar_one())


def emptied(platform: TestPlatform) -> Callable[[], bool]:
    return lambda: outbox_rows(platform) == 0


def next_update(events: EventReader) -> Any:
    event = events.next()
    assert event is not None, "the stream ended"
    assert event.event == "update", event
    return event


def test_a_change_redis_refused_reaches_the_open_stream_once_redis_takes_writes_again(
    own_redis: Backend, redis_server: RedisServer, tmp_path: Path
) -> None:
    admin = redis.Redis.from_url(redis_server.url)
    for platform in live(own_redis, tmp_path, heartbeat_seconds=60):
        headers = platform.headers(LEGEVAKT)
        platform.headers(EPJ)  # tokens now: the issuer writes to Redis
        subscription_id = subscribe(platform)
        with open_events(platform.client, subscription_id, headers, timeout=20) as events:
            [snapshot] = events.take(1)
            assert snapshot.event == "snapshot"
            push(platform, measurement("m-1", ANNE, pulse=71))
            first = next_update(events)
            admin.config_set("maxmemory-policy", "noeviction")
            admin.config_set("maxmemory", 1)
            try:
                with pytest.raises(redis.ResponseError, match="maxmemory"):
                    admin.set("probe", "refused")
                push(platform, measurement("m-2", ANNE, pulse=139))  # acknowledged...
                assert outbox_rows(platform) == 1  # ...and kept in the municipality's store
            finally:
                admin.config_set("maxmemory", 0)
            update = next_update(events)
            assert update.id > first.id
            assert update.json()["patient"] == ANNE
            assert "139" in update.data
        wait_for("the outbox emptied", emptied(platform), timeout=15)


def test_redis_restarted_empty_makes_open_streams_and_reconnects_start_again(
    own_redis: Backend, redis_server: RedisServer, tmp_path: Path
) -> None:
    for platform in live(own_redis, tmp_path, heartbeat_seconds=60):
        headers = platform.headers(LEGEVAKT)
        platform.headers(EPJ)
        subscription_id = subscribe(platform)
        subscription = platform.runtime.subscriptions.get(subscription_id)
        assert subscription is not None
        with open_events(platform.client, subscription_id, headers, timeout=30) as events:
            events.take(1)
            push(platform, measurement("m-1", ANNE, pulse=71))
            before = next_update(events)
            redis_server.stop()
            redis_server.start()  # empty: the feed and the subscriptions are gone
            platform.runtime.subscriptions.save(subscription)  # as if those were kept
            reset, snapshot = events.take(2)
        assert reset.event == "reset"
        assert "restarted" in reset.json()["reason"]
        assert snapshot.event == "snapshot"
        assert "71" in snapshot.data
        # a change after the restart: the new feed holds it, not what the old one lost
        platform.headers(EPJ)
        push(platform, measurement("m-2", ANNE, pulse=90))
        with open_events(
            platform.client, subscription_id, headers, last_event_id=before.id, timeout=30
        ) as events:
            reset, snapshot = events.take(2)
        assert reset.event == "reset"
        assert snapshot.event == "snapshot"
        assert "90" in snapshot.data


def test_a_change_its_process_died_before_publishing_is_relayed_by_another_process(
    own_redis: Backend, tmp_path: Path
) -> None:
    for survivor in live(own_redis, tmp_path, heartbeat_seconds=60, change_outbox_sweep_seconds=1):
        headers = survivor.headers(LEGEVAKT)
        subscription_id = subscribe(survivor)
        with open_events(survivor.client, subscription_id, headers, timeout=30) as events:
            events.take(1)
            # another process on the same stores, which dies right after its commit: what it
            # committed is in the outbox, never published by it
            for dying in start_platform(own_redis, tmp_path, change_outbox_sweep_seconds=3600):
                dying.keys = survivor.keys
                assert dying.runtime.outbox is not None
                dying.runtime.outbox.deliver = lambda *_: None  # type: ignore[method-assign]
                push(dying, measurement("m-1", ANNE, pulse=139))
                assert outbox_rows(survivor) == 1
            update = next_update(events)
            assert update.json()["patient"] == ANNE
            assert "139" in update.data
        wait_for("the outbox emptied", emptied(survivor), timeout=15)


def test_the_embedded_default_publishes_in_process_without_an_outbox(tmp_path: Path) -> None:
    for platform in live(Backend("sqlite", None, None), tmp_path, heartbeat_seconds=0.5):
        assert platform.runtime.outbox is None
        subscription_id = subscribe(platform)
        with open_events(platform.client, subscription_id, platform.headers(LEGEVAKT)) as events:
            events.take(1)
            push(platform, measurement("m-1", ANNE, pulse=139))
            assert "139" in next_update(events).data
        assert outbox_rows(platform) == 0


@pytest.mark.parametrize("backend", [BACKENDS[1]], indirect=True)
def test_two_workers_redis_refusing_writes_every_acknowledged_change_reaches_the_stream(
    backend: Backend, redis_server: RedisServer, tmp_path: Path
) -> None:
    """Production's shape: ``journalloft serve --workers 2`` on PostgreSQL and Redis. Ingests
    acknowledged by either worker while Redis refuses writes all reach a stream open on one."""
    redis.Redis.from_url(redis_server.url).flushall()
    admin = redis.Redis.from_url(redis_server.url)
    platform = ServedPlatform(
        tmp_path / "served",
        database_url=backend.database_url,
        redis_url=redis_server.url,
        workers=2,
        settings={"JOURNALLOFT_HEARTBEAT_SECONDS": "60"},  # the read timeout bounds each wait
    )
    (tmp_path / "served").mkdir()
    ward = [ANNE, BJORN]
    with served(platform) as running:
        legevakt, epj = running.headers(LEGEVAKT), running.headers(EPJ)
        made = httpx2.post(
            running.url + "/v1/kommunale-tjenester/subscriptions",
            json={"patients": ward, "kommuner": ["1804"]},
            headers=legevakt,
            timeout=10,
        )
        assert made.status_code == 201, made.text
        with (
            httpx2.Client(base_url=running.url) as client,
            open_events(client, made.json()["id"], legevakt, timeout=30) as events,
        ):
            [snapshot] = events.take(1)
            assert snapshot.event == "snapshot"
            admin.config_set("maxmemory-policy", "noeviction")
            admin.config_set("maxmemory", 1)
            try:
                for i in range(6):  # spread over both workers
                    answer = httpx2.post(
                        running.url + "/v1/tenants/1804/kommunale-tjenester/records",
                        json={"records": [service_record(f"r-{i}", ward[i % 2])]},
                        headers=epj,
                        timeout=10,
                    )
                    assert answer.status_code == 200, answer.text
            finally:
                admin.config_set("maxmemory", 0)
            seen: set[str] = set()
            while not {f"r-{i}" for i in range(6)} <= seen:
                update = next_update(events)
                seen |= {f"r-{i}" for i in range(6) if f'"r-{i}"' in update.data}
    assert "kept in its outbox" in running.log_text()


def service_record(record_id: str, patient: str) -> dict[str, Any]:
    return {
        "id": record_id,
        "patient": patient,
        "updated": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "service_code": "015",
        "description": "Hjemmesykepleie",
        "unit": {"name": "Hjemmetjenesten", "phone": "+47 75 55 00 00"},
        "start": "2026-01-05",
        "temporary_cessation": False,
    }


def test_a_published_row_is_deleted_by_the_relay_soon_and_at_once_without_one(
    own_redis: Backend, tmp_path: Path
) -> None:
    """A push commits once: its published row is deleted with the relay's next batch (well
    before a sweep, here an hour away), and, where no relay runs (the command line), by the
    writer at once."""
    for platform in live(own_redis, tmp_path, change_outbox_sweep_seconds=3600):
        push(platform, measurement("m-1", ANNE, pulse=71))
        push(platform, measurement("m-2", BJORN, pulse=72))
        wait_for("the published rows deleted", emptied(platform), timeout=5)
        with platform.runtime.stores.tenant_transaction("1804") as connection:
            change = Change("data", "1804", "news2", ANNE)
            outbox_id = write(connection, [change])
        assert outbox_rows(platform) == 1
        idle = OutboxRelay(  # as the command line has it: never started
            stores=platform.runtime.stores,
            feed=platform.runtime.changes,
            municipalities=lambda: ["1804"],
            sweep_seconds=3600,
        )
        idle.deliver("1804", outbox_id, [change])
        assert outbox_rows(platform) == 0
