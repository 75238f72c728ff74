"""The change feed: what committed, for whom, in order, kept for the replay window.

Every write that changes what a lookup answers (an ingest, a withdrawal, a restriction change)
publishes one :class:`Change` per person after its transaction commits. A change carries no
data, only where to look (municipality, service, person): the event streams (see
:mod:`journalloft.platform.operations.subscriptions`) read the person's current entry through the
lookup, which applies restrictions and writes the audit events.

Each change gets an id ``<milliseconds>-<sequence>``, increasing; the ids are the events' ids a
board sends back as ``Last-Event-ID``. The feed keeps changes for the replay window: a board away
for less gets every change it missed from :meth:`ChangeFeed.after`; a board away longer gets
:class:`TooOld` and starts again from a snapshot.

Two feeds with one interface: :class:`MemoryChangeFeed` in process (the embedded default, one
process), and :class:`RedisChangeFeed`, a Redis Stream every server process appends to and
reads, so a write handled by one process reaches streams open on any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import redis
import redis.asyncio

from journalloft.platform.storage.redis_clients import PoolLimits, blocking_client, loop_client

log = logging.getLogger("journalloft.changes")

STREAM_KEY = "journalloft:changes"
EPOCH_KEY = "journalloft:changes:epoch"
"""When the stream began (milliseconds, one before its first possible entry's): written with
its first entry, or by the first reader that finds it missing. A Redis restarted empty has
none, or a newer one: every id before it may belong to a feed that is gone."""

DATA = "data"
SUBSCRIPTION = "subscription"


@dataclass(frozen=True, slots=True)
class Change:
    """What changed: a person's data in one municipality (``kind`` :data:`DATA`; ``service``
    None for a restriction, which changes every service), or a subscription (``kind``
    :data:`SUBSCRIPTION`: its patient list was replaced, or it ended; ``patient`` is its id)."""

    kind: str
    kommunenummer: str
    service: str | None
    patient: str


def data_change(kommunenummer: str, service: str | None, patient: str) -> Change:
    return Change(DATA, kommunenummer, service, patient)


def subscription_change(subscription_id: str) -> Change:
    return Change(SUBSCRIPTION, "", None, subscription_id)


EventId = tuple[int, int]


_ID = re.compile(r"([0-9]{1,20})-([0-9]{1,20})")
_ID_PART_MAX = 2**64 - 1
"""A Redis Stream id's two parts are unsigned 64-bit integers."""


def parse_id(text: str) -> EventId | None:
    """``<ms>-<seq>`` (ASCII digits, each part within 64 bits, as a Redis Stream id's) as a
    comparable pair; None if it is not one (a client's garbage: a reset, never an error)."""
    found = _ID.fullmatch(text.strip()) if len(text) <= 48 else None
    if found is None:
        return None
    ms, seq = int(found[1]), int(found[2])
    if ms > _ID_PART_MAX or seq > _ID_PART_MAX:
        return None
    return ms, seq


def format_id(event_id: EventId) -> str:
    return f"{event_id[0]}-{event_id[1]}"


class TooOld(Exception):
    """The id is older than the replay window (or not one of this feed's): start again."""


Listener = Callable[[Sequence[tuple[EventId, Change]]], Awaitable[None]]
Lost = Callable[[str], None]
"""Told (with the reason) when changes may have been lost: the feed's store restarted empty."""


class ChangeFeed(Protocol):
    window_seconds: int

    def publish(self, changes: Sequence[Change]) -> None:
        """Append changes after their transaction committed (from any thread)."""
        ...

    async def latest(self) -> EventId:
        """The id of the newest change, (0, 0) if none: a snapshot's position."""
        ...

    async def after(self, position: EventId) -> list[tuple[EventId, Change]]:
        """Every change after ``position``, in order; :class:`TooOld` if some may be gone."""
        ...

    async def start(self, listener: Listener, *, lost: Lost | None = None) -> EventId:
        """Call ``listener`` with each batch of new changes, in order, until :meth:`stop`; and
        ``lost`` if some changes may never come. Returns the position it starts after."""
        ...

    async def stop(self) -> None: ...

    def close(self) -> None: ...


def _check_window(position: EventId, window_seconds: int, latest: EventId) -> None:
    """Replay only from an id within the window and not past the newest: ``0-0`` is older than
    any window too (a snapshot of an empty feed carries it; its reconnect gets a fresh
    snapshot), so no id replays the whole feed."""
    if position > latest:
        raise TooOld("the id is not one this feed gave")
    if position[0] < time.time() * 1000 - window_seconds * 1000:
        raise TooOld("the id is older than the replay window")


class MemoryChangeFeed:
    """The feed in process: a deque trimmed to the replay window. Publishers may be worker
    threads; the listener runs on the event loop that called :meth:`start`."""

    def __init__(self, window_seconds: int) -> None:
        self.window_seconds = window_seconds
        self._lock = threading.Lock()
        self._entries: deque[tuple[EventId, float, Change]] = deque()
        self._last: EventId = (int(time.time() * 1000), 0)
        """The newest id: at first the start's instant (a snapshot's position before any
        change; every change's id is greater)."""
        self._oldest_dropped: EventId = (0, 0)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._delivered: EventId = (0, 0)

    def publish(self, changes: Sequence[Change]) -> None:
        if not changes:
            return
        now = time.time()
        with self._lock:
            ms = int(now * 1000)
            for change in changes:
                last_ms, seq = self._last
                self._last = (ms, 0) if ms > last_ms else (last_ms, seq + 1)
                self._entries.append((self._last, now, change))
            horizon = now - self.window_seconds
            while self._entries and self._entries[0][1] < horizon:
                self._oldest_dropped = self._entries.popleft()[0]
            loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(wake.set)

    async def latest(self) -> EventId:
        with self._lock:
            return self._last

    def _since(self, position: EventId) -> list[tuple[EventId, Change]]:
        """The entries after ``position``, walking back from the newest: as many steps as
        entries returned, however long the window is."""
        found = []
        with self._lock:
            for i, _, c in reversed(self._entries):
                if i <= position:
                    break
                found.append((i, c))
        found.reverse()
        return found

    async def after(self, position: EventId) -> list[tuple[EventId, Change]]:
        with self._lock:
            latest, dropped = self._last, self._oldest_dropped
        _check_window(position, self.window_seconds, latest)
        if position < dropped:
            raise TooOld("the changes after this id are gone")
        return self._since(position)

    async def start(self, listener: Listener, *, lost: Lost | None = None) -> EventId:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._delivered = await self.latest()
        self._task = asyncio.create_task(self._run(listener, self._wake))
        return self._delivered

    async def _run(self, listener: Listener, wake: asyncio.Event) -> None:
        while True:
            await wake.wait()
            wake.clear()
            batch = self._since(self._delivered)
            if batch:
                self._delivered = batch[-1][0]
                try:
                    await listener(batch)
                except Exception:
                    log.exception("a change listener failed")

    async def stop(self) -> None:
        task, self._task, self._loop = self._task, None, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def close(self) -> None:
        return None


def _decode(fields: dict[bytes, bytes]) -> Change:
    service = fields.get(b"s", b"").decode()
    return Change(
        kind=fields.get(b"t", DATA.encode()).decode(),
        kommunenummer=fields.get(b"k", b"").decode(),
        service=service or None,
        patient=fields.get(b"p", b"").decode(),
    )


def _entries(raw: Any) -> list[tuple[EventId, Change]]:
    """Stream entries as Redis answers them (``[(id, {field: value})]``, bytes)."""
    found = []
    for entry_id, fields in raw:
        parsed = parse_id(entry_id.decode())
        if parsed is not None:
            found.append((parsed, _decode(fields)))
    return found


# Append changes to the stream, in order, each its own entry (its own id: an event's id), and
# trim what is older than the replay window; the epoch is set if the stream has none (a new or
# restarted-empty Redis). KEYS: the stream, the epoch; ARGV: the horizon, then kind,
# kommunenummer, service, person for each change.
_APPEND = """
local now = redis.call('TIME')
redis.call('SET', KEYS[2], string.format('%d', now[1] * 1000 + math.floor(now[2] / 1000) - 1), 'NX')
for i = 2, #ARGV, 4 do
  redis.call('XADD', KEYS[1], 'MINID', '~', ARGV[1], '*',
             't', ARGV[i], 'k', ARGV[i + 1], 's', ARGV[i + 2], 'p', ARGV[i + 3])
end
return (#ARGV - 1) / 4
"""


# The epoch (see EPOCH_KEY), set to the server's time if there is none.
_EPOCH = """
local now = redis.call('TIME')
redis.call('SET', KEYS[1], string.format('%d', now[1] * 1000 + math.floor(now[2] / 1000) - 1), 'NX')
return redis.call('GET', KEYS[1])
"""


class RedisChangeFeed:
    """The feed as one Redis Stream (:data:`STREAM_KEY`) shared by every process: ``XADD`` with
    ``MINID`` trimming to the replay window (approximate: Redis may keep a little more, never
    less), ``XRANGE`` to replay, and one ``XREAD BLOCK`` loop per process feeding its streams."""

    BLOCK_MS = 1000
    GATHER_SECONDS = 0.01
    """After a read that returned changes, wait this long before the next: at a few hundred
    changes a second each read then takes what arrived meanwhile, not one change (a read costs
    the process about as much for one change as for fifty)."""

    def __init__(self, url: str, window_seconds: int, *, limits: PoolLimits | None = None) -> None:
        self.window_seconds = window_seconds
        self._url = url
        self._limits = limits
        self._redis = blocking_client(url, socket_timeout=5, limits=limits)
        self._append = self._redis.register_script(_APPEND)
        self._epoch_script = self._redis.register_script(_EPOCH)
        self._async: redis.asyncio.Redis | None = None
        self._task: asyncio.Task[None] | None = None
        self._name = f"journalloft-feed-{uuid.uuid4().hex[:12]}"
        """This process's reader's connection name in Redis, to unblock its XREAD at stop."""
        self._stopping = False

    def _client(self) -> redis.asyncio.Redis:
        if self._async is None:
            self._async = loop_client(
                self._url,
                socket_timeout=self.BLOCK_MS / 1000 + 5,
                client_name=self._name,
                limits=self._limits,
            )
        return self._async

    def publish(self, changes: Sequence[Change]) -> None:
        """One command for the whole batch (a script that appends each change), not one per
        person: a 1,000-record ingest sent 1,000 ``XADD`` through the client library, a fifth of
        the ingest's time."""
        if not changes:
            return
        horizon = f"{int((time.time() - self.window_seconds) * 1000)}-0"
        fields: list[str] = []
        for change in changes:
            fields += (change.kind, change.kommunenummer, change.service or "", change.patient)
        self._append(keys=[STREAM_KEY, EPOCH_KEY], args=[horizon, *fields])

    async def latest(self) -> EventId:
        raw = await self._client().xrevrange(STREAM_KEY, count=1)
        found = _entries(raw)
        return found[0][0] if found else (0, 0)

    async def after(self, position: EventId) -> list[tuple[EventId, Change]]:
        # Trimming removes only entries older than the window (MINID), and the position is
        # within it: every change after it is still in the stream, unless the stream is not
        # the one that gave it (Redis restarted empty: a newer epoch).
        epoch = await self._client().get(EPOCH_KEY)
        if epoch is None or position < (int(epoch), 0):
            raise TooOld("the change feed was restarted since this id")
        _check_window(position, self.window_seconds, max(await self.latest(), (int(epoch), 0)))
        raw = await self._client().xrange(STREAM_KEY, min=f"({format_id(position)}", max="+")
        return _entries(raw)

    async def start(self, listener: Listener, *, lost: Lost | None = None) -> EventId:
        self._stopping = False
        epoch = await self._epoch()
        position = max(await self.latest(), (int(epoch), 0))  # an empty feed: its beginning
        self._task = asyncio.create_task(self._run(listener, lost, position, epoch))
        return position

    async def _epoch(self) -> bytes:
        """The stream's epoch, set now if it has none (a write only then: a Redis that refuses
        writes still lets the reader start and read)."""
        found: Any = await self._client().get(EPOCH_KEY)
        if found is None:
            found = await asyncio.to_thread(self._epoch_script, keys=[EPOCH_KEY])
        return bytes(found)

    async def _run(
        self, listener: Listener, lost: Lost | None, position: EventId, epoch: bytes
    ) -> None:
        client = self._client()
        while not self._stopping:
            try:
                now = await client.get(EPOCH_KEY)
                if now != epoch:  # restarted empty: what it held and this reader had not read
                    epoch = await self._epoch()  # is gone, and its ids may come again
                    position = (0, 0)
                    log.warning("the change feed was restarted empty: open streams start again")
                    if lost is not None:
                        lost("the change feed was restarted: some changes may be missing")
                reply: Any = await client.xread(
                    {STREAM_KEY: format_id(position)}, block=self.BLOCK_MS, count=1000
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: try again, the position is kept
                log.warning("reading the change feed failed (retrying): %s", exc)
                await asyncio.sleep(1)
                continue
            for _, raw in reply or []:
                batch = _entries(raw)
                if batch:
                    position = batch[-1][0]
                    try:
                        await listener(batch)
                    except Exception:
                        log.exception("a change listener failed")
            if reply:
                await asyncio.sleep(self.GATHER_SECONDS)

    async def stop(self) -> None:
        """End the reader by unblocking its ``XREAD`` (``CLIENT UNBLOCK``), not by cancelling
        it: redis-py 8 did not always finish cancelling a blocked read, and the stop then
        waited without end (caught in CI by :mod:`~journalloft.platform.core.stopping`). Cancelling
        is what is left if the unblock does not end it."""
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            with contextlib.suppress(redis.RedisError):
                await asyncio.to_thread(self._unblock_reader)
            done, _ = await asyncio.wait({task}, timeout=self.GATHER_SECONDS + 2)
            if not done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        client, self._async = self._async, None
        if client is not None:
            await client.aclose()

    def _unblock_reader(self) -> None:
        clients: Any = self._redis.client_list()
        for found in clients:
            if found.get("name") == self._name:
                self._redis.client_unblock(int(found["id"]))

    def close(self) -> None:
        self._redis.close()


def connect_change_feed(
    redis_url: str | None, window_seconds: int, *, limits: PoolLimits | None = None
) -> ChangeFeed:
    if redis_url:
        return RedisChangeFeed(redis_url, window_seconds, limits=limits)
    return MemoryChangeFeed(window_seconds)
