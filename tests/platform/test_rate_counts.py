"""Rate counters on the event loop: exact within a process, shared through Redis in batches."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
import redis

from journalloft.platform.storage.kv import (
    KeyValue,
    MemoryKeyValue,
    RedisKeyValue,
    connect_key_value,
)
from support.platform import REDIS_URL, Backend, unavailable
from support.servers import RedisServer, own_redis


async def hits(kv: KeyValue, key: str, n: int) -> list[int]:
    return [await kv.count_async(key, window_seconds=60) for _ in range(n)]


def test_counts_are_exact_within_a_process(backend: Backend) -> None:
    async def run() -> list[int]:
        kv = connect_key_value(backend.redis_url)
        try:
            return await hits(kv, f"rate:test:{uuid.uuid4().hex}", 7)
        finally:
            await kv.close_async()

    assert asyncio.run(run()) == [1, 2, 3, 4, 5, 6, 7]


@pytest.mark.redis
def test_two_processes_share_their_counts_within_a_flush_interval() -> None:
    if not REDIS_URL:
        unavailable("JOURNALLOFT_TEST_REDIS_URL is not set")
    assert REDIS_URL
    redis_url = REDIS_URL
    key = f"rate:test:{uuid.uuid4().hex}"

    async def run() -> tuple[list[int], list[int], int, int]:
        first, second = RedisKeyValue(redis_url), RedisKeyValue(redis_url)
        try:
            from_first = await hits(first, key, 5)
            from_second = await hits(second, key, 3)
            # what each process's timer does every FLUSH_SECONDS, done here without waiting
            await first._flush()
            await second._flush()
            # each learns the other's hits at its next exchange with Redis
            await hits(first, key, 1)
            await hits(second, key, 1)
            await first._flush()
            await second._flush()
            after_first = await first.count_async(key, window_seconds=60)
            after_second = await second.count_async(key, window_seconds=60)
            return from_first, from_second, after_first, after_second
        finally:
            await first.close_async()
            await second.close_async()

    from_first, from_second, after_first, after_second = asyncio.run(run())
    assert from_first == [1, 2, 3, 4, 5]
    assert from_second[0] >= 2  # its first hit is counted in Redis at once, after some of first's
    assert after_first == 10  # its flush answered 9 (8, and its own hit), and one more since
    assert after_second == 11  # its flush answered 10: every hit so far
    shared = redis.Redis.from_url(redis_url)
    assert int(shared.get(f"journalloft:{key}") or 0) == 12  # closing sends what is left
    assert 0 < shared.ttl(f"journalloft:{key}") <= 60


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def test_an_in_process_count_lasts_its_window_and_starts_again_after_it() -> None:
    clock = Clock()
    kv = MemoryKeyValue(clock)
    assert [kv.count("k", window_seconds=60) for _ in range(2)] == [1, 2]
    clock.now += 59.999
    assert kv.count("k", window_seconds=60) == 3
    clock.now += 0.001  # 60 s after the first hit: a new window
    assert kv.count("k", window_seconds=60) == 1
    assert kv.count("other", window_seconds=60) == 1


def test_a_replay_key_in_process_lasts_its_ttl() -> None:
    clock = Clock()
    kv = MemoryKeyValue(clock)
    assert kv.add_once("j", ttl_seconds=90)
    clock.now += 89.999
    assert not kv.add_once("j", ttl_seconds=90)
    clock.now += 0.001
    assert kv.add_once("j", ttl_seconds=90)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    yield from own_redis()


def test_while_redis_is_down_rates_are_counted_in_process_and_replays_fail_closed(
    redis_server: RedisServer,
) -> None:
    """Redis goes away: rate counts go on in this process (from 1, exact, on and off the event
    loop), a replay check raises rather than answer "new"; when Redis is back the hits counted
    meanwhile on the event loop are added there at the next flush."""
    kv = RedisKeyValue(redis_server.url)
    sync_key, loop_key = f"rate:down:{uuid.uuid4().hex}", f"rate:down:{uuid.uuid4().hex}"
    redis_server.stop()

    async def while_down() -> list[int]:
        return await hits(kv, loop_key, 3)

    async def when_back() -> int:
        await kv._flush()  # what the flush timer does
        return await kv.count_async(loop_key, window_seconds=60)

    loop = asyncio.new_event_loop()
    try:
        assert [kv.count(sync_key, window_seconds=60) for _ in range(3)] == [1, 2, 3]
        with pytest.raises(redis.RedisError):
            kv.add_once(f"dpop:down:{uuid.uuid4().hex}", ttl_seconds=120)
        assert loop.run_until_complete(while_down()) == [1, 2, 3]
        redis_server.start()
        shared = redis.Redis.from_url(redis_server.url)
        assert loop.run_until_complete(when_back()) == 4
        assert int(shared.get(f"journalloft:{loop_key}") or 0) == 3
        assert 0 < int(shared.ttl(f"journalloft:{loop_key}")) <= 60
        assert kv.add_once(f"dpop:back:{uuid.uuid4().hex}", ttl_seconds=120)
        loop.run_until_complete(kv.close_async())
    finally:
        loop.close()
        kv.close()
