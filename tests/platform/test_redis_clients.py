"""The platform's Redis clients try a lost connection again, and only that.

A proxy on loopback stands between the platform and the test Redis: it drops the first
connections it is given (as a Redis that is restarting does) and relays the rest. A client with
redis-py's defaults (no retry) fails on the first; the platform's try again and succeed. A late
answer is not tried again (the command may have been applied)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy.engine import make_url

from journalloft.platform.live.changes import RedisChangeFeed
from journalloft.platform.storage.kv import RedisKeyValue
from journalloft.platform.storage.redis_clients import RETRIES, blocking_client, loop_client
from support.platform import REDIS_URL, unavailable

pytestmark = pytest.mark.redis


class DroppingProxy:
    """Closes the first ``drop`` connections as soon as they are made; relays the others to
    the Redis at ``target`` (host, port). ``late``: the answer to a command that contains these
    bytes is held back a second."""

    def __init__(self, target: tuple[str, int], *, drop: int, late: bytes | None = None) -> None:
        self.target = target
        self.drop = drop
        self.late = late
        self.accepted = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def url(self, database: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{database}"

    def _serve(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            if self.accepted <= self.drop:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            hold = threading.Event()  # set when the command whose answer is held back passes
            for source, sink, mark, held in (
                (client, upstream, self.late, None),
                (upstream, client, None, hold),
            ):
                threading.Thread(
                    target=_relay, args=(source, sink, mark, hold, held), daemon=True
                ).start()

    def close(self) -> None:
        self._closing.set()
        self._listener.close()


def _relay(
    source: socket.socket,
    sink: socket.socket,
    mark: bytes | None,
    hold: threading.Event,
    held: threading.Event | None,
) -> None:
    with contextlib.suppress(OSError):
        while chunk := source.recv(65536):
            if mark is not None and mark in chunk:
                hold.set()
            if held is not None and held.is_set():
                held.clear()
                threading.Event().wait(1.0)
            sink.sendall(chunk)
    for end in (source, sink):
        with contextlib.suppress(OSError):
            end.close()


@pytest.fixture
def target() -> tuple[tuple[str, int], int]:
    if not REDIS_URL:
        unavailable("JOURNALLOFT_TEST_REDIS_URL is not set")
    assert REDIS_URL
    url = make_url(REDIS_URL.replace("redis://", "redis+x://", 1))
    database = int(url.database or 0)
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        unavailable(f"Redis at JOURNALLOFT_TEST_REDIS_URL is unreachable: {exc}")
    return (url.host or "127.0.0.1", url.port or 6379), database


@pytest.fixture
def proxy(target: tuple[tuple[str, int], int]) -> Iterator[DroppingProxy]:
    dropping = DroppingProxy(target[0], drop=RETRIES)
    yield dropping
    dropping.close()


def test_redis_py_alone_fails_on_a_dropped_connection(
    proxy: DroppingProxy, target: tuple[tuple[str, int], int]
) -> None:
    # what the platform's clients are for: redis-py's own default does not try again
    plain = redis.Redis.from_url(proxy.url(target[1]), socket_timeout=2)
    with pytest.raises(redis.ConnectionError):
        plain.ping()
    plain.close()


def test_a_replay_check_survives_dropped_connections(
    proxy: DroppingProxy, target: tuple[tuple[str, int], int]
) -> None:
    store = RedisKeyValue(proxy.url(target[1]))
    try:
        # each of the first RETRIES connections is dropped: tried again, and the last one works
        assert store.add_once("test-redis-clients:jti-1", ttl_seconds=5) is True
        assert store.add_once("test-redis-clients:jti-1", ttl_seconds=5) is False
        assert proxy.accepted == RETRIES + 1
    finally:
        store.close()


def test_the_event_loop_client_survives_dropped_connections(
    proxy: DroppingProxy, target: tuple[tuple[str, int], int]
) -> None:
    async def ping() -> bool:
        client = loop_client(proxy.url(target[1]))
        try:
            return bool(await client.ping())
        finally:
            await client.aclose()

    assert asyncio.run(ping()) is True
    assert proxy.accepted == RETRIES + 1


def test_more_dropped_connections_than_retries_is_an_error(
    target: tuple[tuple[str, int], int],
) -> None:
    dropping = DroppingProxy(target[0], drop=RETRIES + 1)
    client = blocking_client(dropping.url(target[1]))
    try:
        with pytest.raises(redis.ConnectionError):
            client.ping()
        assert dropping.accepted == RETRIES + 1
    finally:
        client.close()
        dropping.close()


def test_a_late_answer_is_not_tried_again(target: tuple[tuple[str, int], int]) -> None:
    # SET NX applied once, its answer late: trying again would answer "not new" for the
    # proof's own first use. It is a timeout, and the key was set exactly once.
    key = "journalloft:test-redis-clients:late"
    slow = DroppingProxy(target[0], drop=0, late=key.encode())
    client = blocking_client(slow.url(target[1]), socket_timeout=0.3)
    direct = redis.Redis(host=target[0][0], port=target[0][1], db=target[1])
    direct.delete(key)
    try:
        with pytest.raises(redis.TimeoutError):
            client.set(key, b"1", nx=True, ex=5)
        assert slow.accepted == 1
        assert direct.get(key) == b"1"
    finally:
        direct.delete(key)
        direct.close()
        client.close()
        slow.close()


def test_the_change_feeds_reader_stops_at_once_without_being_cancelled(
    target: tuple[tuple[str, int], int],
) -> None:
    # its XREAD blocks for a second at a time; the stop unblocks it (CLIENT UNBLOCK), and the
    # reader ends by itself: a cancelled blocked read once kept a platform's stop waiting
    (host, port), database = target
    feed = RedisChangeFeed(f"redis://{host}:{port}/{database}", window_seconds=60)

    async def start_and_stop() -> tuple[float, bool]:
        async def listener(batch: object) -> None:
            return None

        await feed.start(listener)
        task = feed._task
        assert task is not None
        await asyncio.sleep(0.2)  # the reader is now blocked in XREAD
        began = time.monotonic()
        await feed.stop()
        return time.monotonic() - began, task.cancelled()

    try:
        took, cancelled = asyncio.run(start_and_stop())
    finally:
        feed.close()
    assert took < 0.8, took
    assert not cancelled
