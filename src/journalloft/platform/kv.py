"""Short-lived shared state: replay caches (``jti``) and rate-limit counters.

Redis when configured, so that every process and host sees the same state; in process otherwise
(the embedded default runs one process).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

import redis


class KeyValue(Protocol):
    def add_once(self, key: str, *, ttl_seconds: int) -> bool:
        """Remember ``key`` for ``ttl_seconds``; False if it was already there (a replay)."""
        ...

    def count(self, key: str, *, window_seconds: int) -> int:
        """Count one more hit on ``key`` in its window; return the count so far."""
        ...

    def ping(self) -> bool: ...

    def close(self) -> None: ...


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

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        return None


class RedisKeyValue:
    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def add_once(self, key: str, *, ttl_seconds: int) -> bool:
        return bool(self._redis.set(f"journalloft:{key}", b"1", nx=True, ex=ttl_seconds))

    def count(self, key: str, *, window_seconds: int) -> int:
        name = f"journalloft:{key}"
        pipeline = self._redis.pipeline()
        pipeline.incr(name)
        pipeline.expire(name, window_seconds, nx=True)
        hits, _ = pipeline.execute()
        return int(hits)

    def ping(self) -> bool:
        try:
            return bool(self._redis.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        self._redis.close()


def connect_key_value(redis_url: str | None) -> KeyValue:
    return RedisKeyValue(redis_url) if redis_url else MemoryKeyValue()
