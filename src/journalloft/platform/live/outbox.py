"""The change outbox: a committed change reaches the change feed even when the feed refused it.

With Redis (:class:`~journalloft.platform.live.changes.RedisChangeFeed`) the feed is another server:
it can refuse an ``XADD`` (``maxmemory`` with ``noeviction``), be away, or the process can die
between its commit and its publish. So a write that changes what a lookup answers also writes
its changes to the municipality's ``change_outbox`` table, **in the same transaction**
(:func:`write`). After the commit the writer hands them to the feed itself, and the relay
deletes the row with the next batch of published rows, within :data:`TIDY_SECONDS`
(:meth:`OutboxRelay.deliver`, the fast path: one commit a push, not two); whatever is left
is published by the relay
(:meth:`OutboxRelay.run`, one per process): every second for the municipalities whose publish
failed in this process, and every ``change_outbox_sweep_seconds`` (and at start) for every
municipality, so that a row left by a process killed mid-way is published by another process,
or by the restarted one.

Delivery is at least once: a row published and then not deleted (the process died in between)
is published again. A repeated change costs a board one more read of a person's current entry,
never a wrong one. Rows are claimed with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL), so two relays
do not publish the same rows at once.

The embedded default (no Redis) has no outbox: its feed is in the writing process's memory, and
a publish there cannot fail short of the process dying, which ends its streams too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Table, delete, insert, select

from journalloft.platform.live.changes import Change, ChangeFeed
from journalloft.platform.observability.metrics import REDIS_ERRORS
from journalloft.platform.storage.engines import Stores
from journalloft.platform.storage.models import ChangeOutbox

log = logging.getLogger("journalloft.outbox")

OUTBOX: Table = ChangeOutbox.__table__  # type: ignore[attr-defined]

BATCH_ROWS = 200
"""Rows one relay step publishes in one command."""

GRACE_SECONDS = 5.0
"""A sweep leaves rows younger than this to the writer that made them (its fast path is
under way); a publish that failed is retried at once, whatever the row's age."""

RETRY_SECONDS = 1.0

TIDY_SECONDS = 0.2
"""How long the relay gathers published rows before it deletes them together; well within
:data:`GRACE_SECONDS`, so a sweep does not publish them again."""


def write(connection: Connection, changes: Sequence[Change]) -> int | None:
    """Record ``changes`` (all of one municipality: the connection's) in the transaction that
    makes them; the row's id, for :meth:`OutboxRelay.deliver` after the commit."""
    if not changes:
        return None
    rows = [[c.kind, c.service or "", c.patient] for c in changes]
    result = connection.execute(insert(OUTBOX).values(created_at=datetime.now(UTC), changes=rows))
    key = result.inserted_primary_key
    return int(key[0]) if key is not None else None


def _changes(kommunenummer: str, rows: Sequence[Sequence[str]]) -> list[Change]:
    return [Change(kind, kommunenummer, service or None, who) for kind, service, who in rows]


class OutboxRelay:
    """Hands each municipality's outbox to the change feed (see the module's text)."""

    def __init__(
        self,
        *,
        stores: Stores,
        feed: ChangeFeed,
        municipalities: Callable[[], Sequence[str]],
        sweep_seconds: float,
    ) -> None:
        self._stores = stores
        self._feed = feed
        self._municipalities = municipalities
        self.sweep_seconds = sweep_seconds
        self._lock = threading.Lock()
        self._failed: set[str] = set()
        """Municipalities whose publish failed in this process: retried every second."""
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tidy: asyncio.Event | None = None
        self._tidying: asyncio.Task[None] | None = None
        self._delivered: dict[str, list[int]] = {}
        """Rows published by :meth:`deliver` and not yet deleted, per municipality."""

    def deliver(self, kommunenummer: str, outbox_id: int | None, changes: Sequence[Change]) -> None:
        """After the commit (any thread): publish the changes and have their row deleted (with
        the next batch, or at once when no relay runs in this process). A failure is logged and
        left to the relay; the write stays acknowledged."""
        if not changes:
            return
        try:
            self._feed.publish(changes)
        except Exception as exc:
            REDIS_ERRORS.labels("changes").inc()
            log.warning(
                "changes committed in %s kept in its outbox, the change feed refused them "
                "(the relay retries): %s",
                kommunenummer,
                exc,
            )
            self._retry(kommunenummer)
            return
        if outbox_id is None:
            return
        with self._lock:
            loop, tidy = self._loop, self._tidy
            if loop is not None and tidy is not None:
                self._delivered.setdefault(kommunenummer, []).append(outbox_id)
        if loop is not None and tidy is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: the sweep has it
                loop.call_soon_threadsafe(tidy.set)
            return
        self._delete(kommunenummer, [outbox_id])  # no relay running (the command line)

    def _delete(self, kommunenummer: str, ids: Sequence[int]) -> None:
        """Delete published rows (one statement); a failure leaves them to the relay, which
        publishes them once more and deletes them then."""
        try:
            with self._stores.tenant_transaction(kommunenummer) as connection:
                connection.execute(delete(OUTBOX).where(OUTBOX.c.id.in_(ids)))
        except Exception as exc:
            log.warning("published outbox rows of %s were not deleted: %s", kommunenummer, exc)

    def delete_delivered(self) -> None:
        """Delete the rows published since the last call, one statement per municipality."""
        with self._lock:
            delivered, self._delivered = self._delivered, {}
        for kommunenummer, ids in delivered.items():
            self._delete(kommunenummer, ids)

    async def _tidy_up(self, tidy: asyncio.Event) -> None:
        """Delete published rows in batches: a push's row goes in the next batch (within
        :data:`TIDY_SECONDS`), so a push commits once rather than twice (its write, then its
        row's delete), and a busy source's rows go in one statement."""
        while True:
            await tidy.wait()
            tidy.clear()
            await asyncio.to_thread(self.delete_delivered)
            await asyncio.sleep(TIDY_SECONDS)

    def _retry(self, kommunenummer: str) -> None:
        with self._lock:
            self._failed.add(kommunenummer)
            loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(wake.set)

    def relay(self, kommunenummer: str, *, grace_seconds: float = 0.0) -> int:
        """Publish one batch of the municipality's outbox older than ``grace_seconds`` and
        delete it, in one transaction (rows another relay holds are skipped); how many rows.
        Raises what the feed or the store raised: the rows stay."""
        horizon = datetime.now(UTC) - timedelta(seconds=grace_seconds)
        with self._stores.tenant_transaction(kommunenummer) as connection:
            rows = connection.execute(
                select(OUTBOX.c.id, OUTBOX.c.changes)
                .where(OUTBOX.c.created_at <= horizon)
                .order_by(OUTBOX.c.id)
                .limit(BATCH_ROWS)
                .with_for_update(skip_locked=True)
            ).all()
            if not rows:
                return 0
            self._feed.publish([c for row in rows for c in _changes(kommunenummer, row.changes)])
            connection.execute(delete(OUTBOX).where(OUTBOX.c.id.in_([row.id for row in rows])))
        return len(rows)

    def relay_all(self, kommunenummer: str, *, grace_seconds: float = 0.0) -> None:
        while self.relay(kommunenummer, grace_seconds=grace_seconds) == BATCH_ROWS:
            pass

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(self._wake))
        tidy = asyncio.Event()
        self._tidying = asyncio.create_task(self._tidy_up(tidy))
        with self._lock:
            self._loop, self._tidy = asyncio.get_running_loop(), tidy

    async def _run(self, wake: asyncio.Event) -> None:
        next_sweep = 0.0  # at once: a process restarted after a kill publishes what it left
        while True:
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + self.sweep_seconds
                for kommunenummer in await self._known():
                    await self._step(kommunenummer, GRACE_SECONDS)
            with self._lock:
                failed, self._failed = self._failed, set()
            known = await self._known() if failed else []
            for kommunenummer in sorted(failed & set(known) if known else failed):
                await self._step(kommunenummer, 0.0)
            wait = RETRY_SECONDS if self._failed else next_sweep - time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=max(wait, 0.01))
            if wake.is_set():
                wake.clear()
                await asyncio.sleep(RETRY_SECONDS)  # a failed publish: not again at once

    async def _known(self) -> Sequence[str]:
        """The onboarded municipalities (the directory may read the platform store); none if
        they cannot be listed now. A failed one offboarded since is not retried."""
        try:
            return await asyncio.to_thread(self._municipalities)
        except Exception as exc:
            log.warning("the outbox relay could not list the municipalities: %s", exc)
            return []

    async def _step(self, kommunenummer: str, grace_seconds: float) -> None:
        try:
            await asyncio.to_thread(self.relay_all, kommunenummer, grace_seconds=grace_seconds)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("the outbox of %s was not relayed (retrying): %s", kommunenummer, exc)
            with self._lock:
                self._failed.add(kommunenummer)

    async def stop(self) -> None:
        with self._lock:
            self._loop, self._tidy = None, None
        for task in (self._task, self._tidying):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._tidying = None
        await asyncio.to_thread(self.delete_delivered)  # what the last batch had not taken
