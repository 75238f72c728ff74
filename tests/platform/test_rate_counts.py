"""Rate counters on the event loop: exact within a process, shared through Redis in batches."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis

from journalloft.platform.storage.kv import KeyValue, RedisKeyValue, connect_key_value
from support.platform import REDIS_URL, Backend, unavailable


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
