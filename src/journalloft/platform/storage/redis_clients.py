"""The platform's Redis clients, made in one place with one policy.

redis-py's ``from_url`` gives a client that does not retry at all: one connection that fails,
or one connect that waits past its timeout while the machine is busy for a moment, fails the
request (or a server's start-up) that needed it. Every client here:

- waits up to :data:`CONNECT_TIMEOUT_SECONDS` for a connection (a Redis on the same network
  answers in a millisecond; five seconds is a Redis that is away, not one that is slow);
- tries again, :data:`RETRIES` times with a growing, jittered pause, when a connection fails or
  is lost (``ConnectionError``): a restarted Redis, a connection the server closed while idle;
- does **not** try again when a command's answer is late (``TimeoutError``): the command may
  have been applied, and the platform's commands are not all safe to apply twice (a DPoP
  proof's ``SET NX`` would then refuse its own first use as a replay). The caller's own
  handling of a Redis that is away applies instead (see ``docs/operations.md``);
- holds at most :attr:`PoolLimits.connections` connections (``JOURNALLOFT_REDIS_POOL_SIZE``):
  a command that finds them all in use waits for one up to :attr:`PoolLimits.wait_seconds`,
  then raises :class:`PoolSaturated`. A burst of requests is back-pressure (the request gets 503
  with ``Retry-After``, counted as ``journalloft_overloaded``), not a Redis fault: redis-py's own
  pools either grow without bound (blocking client) or fail at 100 (asyncio client) with an
  error that looked like Redis failing.
"""

from __future__ import annotations

import asyncio
import queue
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.retry
from redis.backoff import ExponentialWithJitterBackoff

CONNECT_TIMEOUT_SECONDS = 5.0
RETRIES = 3


@dataclass(frozen=True, slots=True)
class PoolLimits:
    """How many connections one client holds, and how long a command waits for one."""

    connections: int = 16
    wait_seconds: float = 2.0


class PoolSaturated(redis.RedisError):
    """Every connection of the client's pool was in use for the whole wait: this process is
    busy (back-pressure), not Redis failing. Not a ``ConnectionError``: not retried."""


def _saturated(error: redis.ConnectionError) -> bool:
    """The pool's wait ran out (redis-py raises its ``ConnectionError`` from or while handling
    the wait's timeout), as opposed to a connection that failed."""
    waited = (asyncio.TimeoutError, TimeoutError, queue.Empty)
    return isinstance(error.__cause__, waited) or isinstance(error.__context__, waited)


class _BlockingPool(redis.BlockingConnectionPool):
    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
        except redis.ConnectionError as error:
            if _saturated(error):
                raise PoolSaturated("all of this process's Redis connections are busy") from None
            raise


class _LoopPool(redis.asyncio.BlockingConnectionPool):
    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
        except redis.ConnectionError as error:
            if _saturated(error):
                raise PoolSaturated("all of this process's Redis connections are busy") from None
            raise


def _backoff() -> ExponentialWithJitterBackoff:
    return ExponentialWithJitterBackoff(base=0.05, cap=1.0)


def blocking_client(
    url: str, *, socket_timeout: float = 2.0, limits: PoolLimits | None = None
) -> redis.Redis:
    """A client for worker threads and the command line."""
    limits = limits or PoolLimits()
    pool = _BlockingPool.from_url(
        url,
        max_connections=limits.connections,
        timeout=limits.wait_seconds,
        socket_timeout=socket_timeout,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        retry=redis.retry.Retry(
            _backoff(), RETRIES, supported_errors=(redis.exceptions.ConnectionError,)
        ),
    )
    return redis.Redis.from_pool(pool)  # owns the pool (closes it); the pool's retry applies


def loop_client(
    url: str,
    *,
    socket_timeout: float = 2.0,
    client_name: str | None = None,
    limits: PoolLimits | None = None,
) -> redis.asyncio.Redis:
    """A client for the event loop that makes it (an asyncio client is bound to its loop).
    ``client_name``: its connections' name in Redis (``CLIENT LIST``), set again on every
    reconnect."""
    limits = limits or PoolLimits()
    pool = _LoopPool.from_url(
        url,
        max_connections=limits.connections,
        timeout=limits.wait_seconds,
        client_name=client_name,
        socket_timeout=socket_timeout,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        retry=redis.asyncio.retry.Retry(
            _backoff(), RETRIES, supported_errors=(redis.exceptions.ConnectionError,)
        ),
    )
    return redis.asyncio.Redis.from_pool(pool)  # owns the pool; the pool's retry applies
