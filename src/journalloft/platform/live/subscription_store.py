"""Where subscriptions live: Redis with expiry in production (every process sees them), in
process in the embedded default (one process; a restart ends them, and a board whose
subscription is gone gets 404 and makes a new one).

A subscription is short-lived working state, like a board's session: it holds the lookup body a
board asked for (people and municipalities), who owns it, and when it expires. Redis removes it
at its expiry without a purge job; its people are never written to the platform's database.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from journalloft.platform.storage.redis_clients import PoolLimits, blocking_client


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    client_id: str
    service: str
    body: dict[str, Any]
    """The lookup body: ``patients`` and, if given, ``kommuner`` and the service's options."""
    created_at: float
    expires_at: float
    label: str | None = None
    """The client's own name for it (``journalloft board`` marks the subscriptions it made with
    its name, so that it never touches another's); not part of the lookup body."""

    @property
    def patients(self) -> list[str]:
        patients: list[str] = self.body["patients"]
        return patients

    @property
    def kommuner(self) -> list[str] | None:
        kommuner: list[str] | None = self.body.get("kommuner")
        return kommuner


def new_subscription(
    client_id: str,
    service: str,
    body: dict[str, Any],
    *,
    lifetime_seconds: int,
    label: str | None = None,
) -> Subscription:
    now = time.time()
    return Subscription(
        id=secrets.token_urlsafe(16),
        client_id=client_id,
        service=service,
        body=body,
        created_at=now,
        expires_at=now + lifetime_seconds,
        label=label,
    )


class SubscriptionStore(Protocol):
    def save(self, subscription: Subscription) -> None:
        """Store it (a new one, or a replaced one under its id)."""
        ...

    def add(self, subscription: Subscription, *, limit: int) -> bool:
        """Store a new subscription unless its client already holds ``limit`` unexpired ones
        (then False, nothing stored); the count and the write are one step."""
        ...

    def get(self, subscription_id: str) -> Subscription | None:
        """The subscription if it exists and has not expired."""
        ...

    def owned_by(self, client_id: str) -> list[Subscription]: ...

    def delete(self, subscription_id: str) -> bool: ...

    def close(self) -> None: ...


class MemorySubscriptions:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._all: dict[str, Subscription] = {}

    def _sweep(self) -> None:
        now = time.time()
        for key in [k for k, s in self._all.items() if s.expires_at <= now]:
            del self._all[key]

    def save(self, subscription: Subscription) -> None:
        with self._lock:
            self._sweep()
            self._all[subscription.id] = subscription

    def add(self, subscription: Subscription, *, limit: int) -> bool:
        with self._lock:
            self._sweep()
            held = sum(1 for s in self._all.values() if s.client_id == subscription.client_id)
            if held >= limit:
                return False
            self._all[subscription.id] = subscription
            return True

    def get(self, subscription_id: str) -> Subscription | None:
        with self._lock:
            found = self._all.get(subscription_id)
        return found if found is not None and found.expires_at > time.time() else None

    def owned_by(self, client_id: str) -> list[Subscription]:
        with self._lock:
            self._sweep()
            mine = [s for s in self._all.values() if s.client_id == client_id]
        return sorted(mine, key=lambda s: s.created_at)

    def delete(self, subscription_id: str) -> bool:
        with self._lock:
            return self._all.pop(subscription_id, None) is not None

    def close(self) -> None:
        return None


# One step in Redis: drop the client's expired ids, refuse past the limit, else store the
# subscription and add its id (scored by its expiry) to the client's set, which lives as long as
# the longest-lived of them.
_ADD = """
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
if tonumber(ARGV[5]) >= 0 and redis.call('ZSCORE', KEYS[2], ARGV[1]) == false
   and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'EXAT', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if redis.call('EXPIRETIME', KEYS[2]) < tonumber(ARGV[3]) then
  redis.call('EXPIREAT', KEYS[2], ARGV[3])
end
return 1
"""


class RedisSubscriptions:
    """One key per subscription (JSON, expiring with it) and, per client, a sorted set of its
    subscriptions' ids scored by their expiry (counted for the limit, listed by ``GET``)."""

    def __init__(self, url: str, *, limits: PoolLimits | None = None) -> None:
        self._redis = blocking_client(url, limits=limits)
        self._add = self._redis.register_script(_ADD)

    @staticmethod
    def _key(subscription_id: str) -> str:
        return f"journalloft:subscription:{subscription_id}"

    @staticmethod
    def _owner_key(client_id: str) -> str:
        return f"journalloft:subscriptions-by:{client_id}"

    def _store(self, subscription: Subscription, limit: int) -> bool:
        expires = int(subscription.expires_at) + 1
        stored = self._add(
            keys=[self._key(subscription.id), self._owner_key(subscription.client_id)],
            args=[
                subscription.id,
                json.dumps(asdict(subscription)),
                expires,
                int(time.time()),
                limit,
            ],
        )
        return bool(stored)

    def save(self, subscription: Subscription) -> None:
        self._store(subscription, -1)

    def add(self, subscription: Subscription, *, limit: int) -> bool:
        return self._store(subscription, limit)

    def get(self, subscription_id: str) -> Subscription | None:
        raw = self._redis.get(self._key(subscription_id))
        if raw is None:
            return None
        found = Subscription(**json.loads(raw))
        return found if found.expires_at > time.time() else None

    def owned_by(self, client_id: str) -> list[Subscription]:
        owner = self._owner_key(client_id)
        members: Any = self._redis.zrangebyscore(owner, int(time.time()), "+inf")
        ids = sorted(i.decode() if isinstance(i, bytes) else str(i) for i in members)
        if not ids:
            return []
        raws: Any = self._redis.mget([self._key(i) for i in ids])  # one round trip, not one each
        found, gone = [], []
        now = time.time()
        for subscription_id, raw in zip(ids, raws, strict=True):
            subscription = Subscription(**json.loads(raw)) if raw is not None else None
            if subscription is None or subscription.expires_at <= now:
                gone.append(subscription_id)
            elif subscription.client_id == client_id:
                found.append(subscription)
        if gone:
            self._redis.zrem(owner, *gone)
        return sorted(found, key=lambda s: s.created_at)

    def delete(self, subscription_id: str) -> bool:
        found = self.get(subscription_id)
        if found is None:
            return False
        pipeline = self._redis.pipeline(transaction=True)
        pipeline.delete(self._key(subscription_id))
        pipeline.zrem(self._owner_key(found.client_id), subscription_id)
        pipeline.execute()
        return True

    def close(self) -> None:
        self._redis.close()


def connect_subscriptions(
    redis_url: str | None, *, limits: PoolLimits | None = None
) -> SubscriptionStore:
    if redis_url:
        return RedisSubscriptions(redis_url, limits=limits)
    return MemorySubscriptions()
