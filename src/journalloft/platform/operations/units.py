"""The unit of work: one transaction of one municipality's store, retried when two requests
race to create the same record, or the server ends one of two racing units (a deadlock)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from journalloft.platform.audit.log import AUDITED
from journalloft.platform.core.errors import NotFound, ServiceUnavailable
from journalloft.platform.live import outbox
from journalloft.platform.live.changes import Change
from journalloft.platform.observability.metrics import AUDIT_EVENTS
from journalloft.platform.runtime import Runtime

UNIT_OF_WORK_ATTEMPTS = 3
BUSY = "the store is busy with the same records; send it again"
LOST_A_RACE = frozenset({"40P01", "40001"})
"""PostgreSQL's SQLSTATEs of a transaction rolled back for a concurrent one: ``deadlock_detected``
and ``serialization_failure``. Tried again; never reported as a database that is unavailable."""
MISSING_STORE = frozenset({"42P01", "3F000"})
"""PostgreSQL's SQLSTATEs of a store that is not there: ``undefined_table``,
``invalid_schema_name`` (a municipality offboarded while a request was on its way)."""
T = TypeVar("T")


def store_missing(exc: BaseException) -> bool:
    """Whether ``exc`` (SQLAlchemy's or psycopg's) says a table or schema does not exist."""
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    return getattr(cause, "sqlstate", None) in MISSING_STORE


def in_unit_of_work(
    runtime: Runtime,
    kommunenummer: str,
    work: Callable[[Connection], T],
    *,
    changes: Callable[[T], Sequence[Change]] | None = None,
) -> T:
    """Run ``work`` in one transaction of the tenant's store; committed before this returns.
    ``changes``: what the work changed for the event streams (from its result); with Redis they
    are written to the store's outbox in the same transaction, and after the commit handed to
    the change feed (:mod:`~journalloft.platform.live.outbox`)."""
    for attempt in range(1, UNIT_OF_WORK_ATTEMPTS + 1):
        try:
            with runtime.stores.tenant_transaction(kommunenummer) as connection:
                connection.info.pop(AUDITED, None)
                result = work(connection)
                changed = changes(result) if changes is not None else []
                outbox_id = None
                if changed and runtime.outbox is not None:
                    outbox_id = outbox.write(connection, changed)
                audited: dict[str, int] = connection.info.pop(AUDITED, {})
            for action, n in audited.items():  # committed: now they count
                AUDIT_EVENTS.labels(action).inc(n)
            if changed:
                runtime.committed(kommunenummer, outbox_id, changed)
            return result
        except IntegrityError:
            # Two requests raced to create the same record; the next attempt sees the winner's row.
            if attempt == UNIT_OF_WORK_ATTEMPTS:
                raise ServiceUnavailable(BUSY) from None
        except DBAPIError as exc:
            if store_missing(exc) and runtime.tenants.offboarded(kommunenummer):
                # offboarded while this request was on its way: as for any unknown municipality
                raise NotFound(
                    f"no municipality {kommunenummer} on this platform", title="Unknown tenant"
                ) from None
            if not isinstance(exc, OperationalError):
                raise
            if getattr(exc.orig, "sqlstate", None) in LOST_A_RACE:
                # The server ended this unit to let a concurrent one go on (a deadlock, or a
                # serialisation failure): rolled back whole, and nothing is wrong with the
                # database. The next attempt waits its turn.
                if attempt == UNIT_OF_WORK_ATTEMPTS:
                    raise ServiceUnavailable(BUSY, retry_after=1) from None
                continue
            # The tenant's database is down or unreachable (or SQLite's file stayed locked). The
            # unit was rolled back, or (if the connection broke during COMMIT) may have been
            # committed: either way the client sends it again, and writes are idempotent.
            raise ServiceUnavailable(
                f"municipality {kommunenummer}: its database is unavailable; send it again later"
            ) from None
    raise AssertionError("unreachable")
