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
  handling of a Redis that is away applies instead (see ``docs/operations.md``).
"""

from __future__ import annotations

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.retry
from redis.backoff import ExponentialWithJitterBackoff

CONNECT_TIMEOUT_SECONDS = 5.0
RETRIES = 3


def _backoff() -> ExponentialWithJitterBackoff:
    return ExponentialWithJitterBackoff(base=0.05, cap=1.0)


def blocking_client(url: str, *, socket_timeout: float = 2.0) -> redis.Redis:
    """A client for worker threads and the command line."""
    return redis.Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        retry=redis.retry.Retry(
            _backoff(), RETRIES, supported_errors=(redis.exceptions.ConnectionError,)
        ),
    )


def loop_client(
    url: str, *, socket_timeout: float = 2.0, client_name: str | None = None
) -> redis.asyncio.Redis:
    """A client for the event loop that makes it (an asyncio client is bound to its loop).
    ``client_name``: its connections' name in Redis (``CLIENT LIST``), set again on every
    reconnect."""
    return redis.asyncio.Redis.from_url(
        url,
        client_name=client_name,
        socket_timeout=socket_timeout,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        retry=redis.asyncio.retry.Retry(
            _backoff(), RETRIES, supported_errors=(redis.exceptions.ConnectionError,)
        ),
    )
