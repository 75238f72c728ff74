"""Short-lived shared state: replay caches (``jti``) and rate-limit counters.

Redis when configured, so that every process and host sees the same state; in process otherwise
(the embedded default runs one process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis
import redis.asyncio

from journalloft.platform.observability import tracing
from journalloft.platform.observability.metrics import OVERLOADED, REDIS_ERRORS
from journalloft.platform.storage.redis_clients import (
    PoolLimits,
    PoolSaturated,
    blocking_client,
    loop_client,
)

log = logging.getLogger("journalloft.kv")


def _failed(use: str, error: redis.RedisError) -> None:
    """Count a failed command: a busy pool is this process's overload, not a Redis error."""
    if isinstance(error, PoolSaturated):
        OVERLOADED.labels("redis").inc()
    else:
        REDIS_ERRORS.labels(use).inc()


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
    """In process, on ``clock`` (monotonic seconds; a test passes its own)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
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
        now = self._clock()
        with self._lock:
            self._sweep(now)
            if self._expiry.get(key, 0.0) > now:
                return False
            self._expiry[key] = now + ttl_seconds
            return True

    def count(self, key: str, *, window_seconds: int) -> int:
        now = self._clock()
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


@dataclass(slots=True)
class _Tally:
    """One rate counter as this process sees it."""

    shared: int  # the count in Redis at the last exchange, this process's sent hits included
    pending: int  # this process's hits since, not yet added in Redis
    window_seconds: int
    last_hit: float


class RedisKeyValue:
    """Redis through a blocking client for worker threads and an asyncio client for the event
    loop (made on the loop that first needs it).

    Rate counters on the event loop (:meth:`count_async`) are batched: the first hit on a key in
    this process is counted in Redis at once, later ones locally and added in Redis every
    :data:`FLUSH_SECONDS` for all keys in one round trip. A count is then Redis's at the last
    exchange plus this process's hits since: exact within a process, and across processes a
    client can get past its limit by what the others let through in one flush interval. It saves
    a Redis round trip on almost every request. If Redis cannot be reached the hits stay counted
    here and go at the next flush.
    """

    FLUSH_SECONDS = 0.1

    def __init__(self, url: str, *, limits: PoolLimits | None = None) -> None:
        self._url = url
        self._limits = limits
        self._redis = blocking_client(url, limits=limits)
        self._async: redis.asyncio.Redis | None = None
        self._async_loop: asyncio.AbstractEventLoop | None = None
        self._tallies: dict[str, _Tally] = {}
        self._flushing: asyncio.Task[None] | None = None
        self._local = MemoryKeyValue()
        self._warned = -self.WARN_EVERY_SECONDS

    def _on_loop(self) -> redis.asyncio.Redis:
        loop = asyncio.get_running_loop()
        if self._async is None or self._async_loop is not loop:
            self._async = loop_client(self._url, limits=self._limits)
            self._async_loop = loop
            self._tallies.clear()
            self._flushing = None
        return self._async

    WARN_EVERY_SECONDS = 10.0

    def _degraded(self) -> None:
        """Say so in the log, once every :data:`WARN_EVERY_SECONDS` (not on every request: at
        03:00 the log must still be readable; the metric counts every one)."""
        now = time.monotonic()
        if now - self._warned >= self.WARN_EVERY_SECONDS:
            self._warned = now
            log.warning("rate counted in this process only: Redis is not reachable")

    def add_once(self, key: str, *, ttl_seconds: int) -> bool:
        """Fails closed: if Redis cannot say whether the key is new, this raises (the request
        gets a 503), never answers "new" for what could be a replay."""
        try:
            with tracing.span("redis SET", **{"db.system": "redis", "journalloft.use": "replay"}):
                return bool(self._redis.set(f"journalloft:{key}", b"1", nx=True, ex=ttl_seconds))
        except redis.RedisError as exc:
            _failed("replay", exc)
            raise

    # One command per hit: INCR is atomic, and only the hit that creates the counter sets its
    # expiry (EXPIRE NX, so a retry never extends it). Keys name their window, so a counter whose
    # EXPIRE was lost to a crash is never counted again.

    def count(self, key: str, *, window_seconds: int) -> int:
        """Degrades: while Redis cannot be reached, hits are counted in this process only."""
        name = f"journalloft:{key}"
        try:
            with tracing.span("redis INCR", **{"db.system": "redis", "journalloft.use": "rate"}):
                hits = int(self._redis.incr(name))
                if hits == 1:
                    self._redis.expire(name, window_seconds, nx=True)
        except redis.RedisError as exc:
            _failed("rate", exc)
            self._degraded()
            return self._local.count(key, window_seconds=window_seconds)
        return hits

    async def count_async(self, key: str, *, window_seconds: int) -> int:
        name = f"journalloft:{key}"
        client = self._on_loop()
        now = time.monotonic()
        tally = self._tallies.get(name)
        if tally is None:
            try:
                with tracing.span(
                    "redis INCR", **{"db.system": "redis", "journalloft.use": "rate"}
                ):
                    hits = int(await client.incr(name))
                    if hits == 1:
                        await client.expire(name, window_seconds, nx=True)
            except redis.RedisError as exc:
                # Degrades: counted here, and added in Redis at a flush once it answers again.
                _failed("rate", exc)
                self._degraded()
                tally = self._tallies.get(name)
                if tally is None:
                    tally = self._tallies[name] = _Tally(0, 0, window_seconds, now)
                tally.pending += 1
                tally.last_hit = now
                if self._flushing is None:
                    self._flushing = asyncio.get_running_loop().create_task(self._flush_soon())
                return tally.shared + tally.pending
            tally = self._tallies.get(name)  # another request may have made it meanwhile
            if tally is None:
                tally = self._tallies[name] = _Tally(hits, 0, window_seconds, now)
            tally.shared = max(tally.shared, hits)
            return tally.shared + tally.pending
        tally.pending += 1
        tally.last_hit = now
        if self._flushing is None:
            self._flushing = asyncio.get_running_loop().create_task(self._flush_soon())
        return tally.shared + tally.pending

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self.FLUSH_SECONDS)
        self._flushing = None
        await self._flush()

    async def _flush(self) -> None:
        client = self._on_loop()
        sent = [(name, tally, tally.pending) for name, tally in self._tallies.items()]
        sent = [entry for entry in sent if entry[2]]
        if sent:
            pipeline = client.pipeline(transaction=False)
            for name, tally, hits in sent:
                pipeline.incrby(name, hits)
                pipeline.expire(name, tally.window_seconds, nx=True)
            try:
                replies = await pipeline.execute()
            except redis.RedisError as exc:
                _failed("rate", exc)
                log.warning("rate counts not shared (kept for the next flush): %s", exc)
                if self._flushing is None:
                    self._flushing = asyncio.get_running_loop().create_task(self._flush_soon())
                return
            for (_, tally, hits), total in zip(sent, replies[::2], strict=True):
                tally.pending -= hits
                tally.shared = max(tally.shared, int(total))
        now = time.monotonic()
        for name in [
            name
            for name, tally in self._tallies.items()
            if not tally.pending and now - tally.last_hit > tally.window_seconds
        ]:
            del self._tallies[name]

    async def close_async(self) -> None:
        flushing, self._flushing = self._flushing, None
        if flushing is not None:
            flushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flushing
        if self._async is not None and self._async_loop is asyncio.get_running_loop():
            with contextlib.suppress(redis.RedisError):
                await self._flush()
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


def connect_key_value(redis_url: str | None, *, limits: PoolLimits | None = None) -> KeyValue:
    return RedisKeyValue(redis_url, limits=limits) if redis_url else MemoryKeyValue()
