"""Redis connections are bounded by the platform's settings: a burst of stream opens (every board
reconnecting after a deploy) gets its streams, holds no Redis connection per waiting stream, and
a pool that stays busy is back-pressure (503 with Retry-After, counted as overload), not a Redis
fault (issue 27, item 6). Each test runs a redis-server of its own and reads its CLIENT LIST."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import redis
from prometheus_client import REGISTRY

from journalloft.platform.storage.redis_clients import (
    PoolLimits,
    PoolSaturated,
    blocking_client,
    loop_client,
)
from support import SERVICES, people, servers, tenant_document
from support.live import served_platform
from support.platform import Backend, TestPlatform
from support.servers import RedisServer

WARD = people(3, seed="redis-pools")
LEGEVAKT = "bodo-legevakt"
POOL = 3
CLIENTS = 5
"""The platform's Redis clients in a process: key-value and change feed (threads and event loop
each) and subscriptions."""
BURST = 150


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    yield from servers.own_redis()


@pytest.fixture
def own_redis(backend: Backend, redis_server: RedisServer) -> Backend:
    return servers.with_redis(backend, redis_server)


def platform_connections(admin: redis.Redis) -> int:
    """Connections to the test's Redis other than the admin's own."""
    return len(admin.client_list()) - 1


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def open_streams(
    platform: TestPlatform, subscription_id: str, admin: redis.Redis
) -> tuple[list[int], int]:
    """``BURST`` streams opened at once; each is read to its snapshot and kept open until all
    are. Their statuses, and Redis's connection count while all are open."""
    base = str(platform.client.base_url)
    headers = {**platform.headers(LEGEVAKT), "Accept": "text/event-stream"}
    path = f"/v1/subscriptions/{subscription_id}/events"
    opened = 0
    all_open = asyncio.Event()
    release = asyncio.Event()

    async def one(client: httpx2.AsyncClient) -> int:
        nonlocal opened
        async with client.stream("GET", path, headers=headers) as response:
            if response.status_code == 200:
                async for line in response.aiter_lines():
                    if line.startswith("event: snapshot"):
                        break
            opened += 1
            if opened == BURST:
                all_open.set()
            await release.wait()
            return response.status_code

    limits = httpx2.Limits(max_connections=None, max_keepalive_connections=0)
    async with httpx2.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        tasks = [asyncio.create_task(one(client)) for _ in range(BURST)]
        await asyncio.wait_for(all_open.wait(), timeout=120)
        during = await asyncio.to_thread(platform_connections, admin)
        release.set()
        statuses = await asyncio.gather(*tasks)
    return statuses, during


def test_a_burst_of_stream_opens_gets_every_stream_with_bounded_redis_connections(
    own_redis: Backend, redis_server: RedisServer, tmp_path: Path
) -> None:
    admin = redis.Redis.from_url(redis_server.url)
    errors_before = sample("journalloft_redis_errors_total", use="request")
    with served_platform(
        own_redis, tmp_path, redis_pool_size=POOL, redis_pool_wait_seconds=30
    ) as platform:
        platform.onboard(tenant_document("1804", services={s: {} for s in SERVICES}))
        made = platform.client.post(
            "/v1/news2/subscriptions",
            json={"patients": WARD, "kommuner": ["1804"]},
            headers=platform.headers(LEGEVAKT),
        )
        assert made.status_code == 201, made.text
        statuses, during = asyncio.run(open_streams(platform, made.json()["id"], admin))
        assert statuses == [200] * BURST
        assert during <= CLIENTS * POOL
        assert platform_connections(admin) <= CLIENTS * POOL  # and after they closed
    assert sample("journalloft_redis_errors_total", use="request") == errors_before


def test_a_busy_pool_is_saturation_not_a_redis_fault(redis_server: RedisServer) -> None:
    limits = PoolLimits(connections=2, wait_seconds=0.2)
    threads = blocking_client(redis_server.url, limits=limits)
    pool = threads.connection_pool
    held = [pool.get_connection() for _ in range(2)]
    with pytest.raises(PoolSaturated):
        threads.get("other")
    pool.release(held.pop())
    assert threads.get("other") is None  # one free again: served
    pool.release(held.pop())
    threads.close()

    async def on_loop() -> None:
        client = loop_client(redis_server.url, limits=limits)
        pool = client.connection_pool
        held = [await pool.get_connection() for _ in range(2)]  # type: ignore[no-untyped-call]
        with pytest.raises(PoolSaturated):
            await client.get("other")
        await pool.release(held.pop())
        assert await client.get("other") is None
        await pool.release(held.pop())
        await client.aclose()

    asyncio.run(on_loop())


def test_a_request_that_finds_the_pool_busy_is_a_503_counted_as_overload(
    own_redis: Backend, tmp_path: Path
) -> None:
    with served_platform(
        own_redis, tmp_path, redis_pool_size=2, redis_pool_wait_seconds=0.2
    ) as platform:
        platform.onboard(tenant_document("1804", services={s: {} for s in SERVICES}))
        headers = platform.headers(LEGEVAKT)
        store: Any = platform.runtime.subscriptions
        pool = store._redis.connection_pool
        held = [pool.get_connection() for _ in range(2)]  # a burst holds them all
        try:
            overloaded = sample("journalloft_overloaded_total", pool="redis")
            redis_errors = sample("journalloft_redis_errors_total", use="request")
            answer = platform.client.get("/v1/news2/subscriptions", headers=headers)
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"] == "1"
            assert sample("journalloft_overloaded_total", pool="redis") == overloaded + 1
            assert sample("journalloft_redis_errors_total", use="request") == redis_errors
        finally:
            for connection in held:
                pool.release(connection)
        assert platform.client.get("/v1/news2/subscriptions", headers=headers).status_code == 200
