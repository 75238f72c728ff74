"""Short-lived shared state: replay caches (``jti``) and rate-limit counters.

Redis when configured, so that every process and host sees the same state; in process otherwise
(the embedded default runs one process).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Protocol

import redis
import redis.asyncio


class KeyValue(Protocol):
    def add_once(self, key: str, *, ttl_seconds: int) -> bool:
        """Remember ``key`` for ``ttl_seconds``; False if it was already there (a replay)."""
        ...

    def count(self, key: str, *, window_seconds: int) -> int:
        """Count one more hit on ``key`` in its window; return the count so far."""
        ...

    async def count_async(self, key: str, *, window_seconds: int) -> int:
        """:meth:`count` on the event loop."""
        ...

    def ping(self) -> bool: ...

    def close(self) -> None: ...

    async def close_async(self) -> None:
        """Release what the event loop holds (called when the app stops)."""
        ...


class MemoryKeyValue:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}
        self._counts: dict[str, int] = {}
        self._next_sweep = 0.0

    def _sweep(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + 10
        for key in [k for k, until in self._expiry.items() if until <= now]:
            del self._expiry[key]
            self._counts.pop(key, None)

    def add_once(self, key: str, *, ttl_seconds: int) -> bool:
        now = time.monotonic()
        with self._lock:
            self._sweep(now)
            if self._expiry.get(key, 0.0) > now:
                return False
            self._expiry[key] = now + ttl_seconds
            return True

    def count(self, key: str, *, window_seconds: int) -> int:
        now = time.monotonic()
        with self._lock:
            self._sweep(now)
            if self._expiry.get(key, 0.0) <= now:
                self._expiry[key] = now + window_seconds
                self._counts[key] = 0
            self._counts[key] = self._counts.get(key, 0) + 1
            return self._counts[key]

    async def count_async(self, key: str, *, window_seconds: int) -> int:
        return self.count(key, window_seconds=window_seconds)

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        return None

    async def close_async(self) -> None:
        return None


class RedisKeyValue:
    """Redis through a blocking client for worker threads and an asyncio client for the event
    loop (made on the loop that first needs it)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._async: redis.asyncio.Redis | None = None
        self._async_loop: asyncio.AbstractEventLoop | None = None

    def _on_loop(self) -> redis.asyncio.Redis:
        loop = asyncio.get_running_loop()
        if self._async is None or self._async_loop is not loop:
            self._async = redis.asyncio.Redis.from_url(
                self._url, socket_timeout=2, socket_connect_timeout=2
            )
            self._async_loop = loop
        return self._async

    def add_once(self, key: str, *, ttl_seconds: int) -> bool:
        return bool(self._redis.set(f"journalloft:{key}", b"1", nx=True, ex=ttl_seconds))

    # One command per hit: INCR is atomic, and only the hit that creates the counter sets its
    # expiry (EXPIRE NX, so a retry never extends it). Keys name their window, so a counter whose
    # EXPIRE was lost to a crash is never counted again.

    def count(self, key: str, *, window_seconds: int) -> int:
        name = f"journalloft:{key}"
        hits = int(self._redis.incr(name))
        if hits == 1:
            self._redis.expire(name, window_seconds, nx=True)
        return hits

    async def count_async(self, key: str, *, window_seconds: int) -> int:
        name = f"journalloft:{key}"
        client = self._on_loop()
        hits = int(await client.incr(name))
        if hits == 1:
            await client.expire(name, window_seconds, nx=True)
        return hits

    async def close_async(self) -> None:
        client, self._async, self._async_loop = self._async, None, None
        if client is not None:
            await client.aclose()

    def ping(self) -> bool:
        try:
            return bool(self._redis.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        self._redis.close()


def connect_key_value(redis_url: str | None) -> KeyValue:
    return RedisKeyValue(redis_url) if redis_url else MemoryKeyValue()
