"""No person id in PostgreSQL's server log (issue 27 item 3): no statement fails on a person id's
unique key in normal operation. Two requests that restrict the same new person at once both
succeeded, but the losing INSERT made PostgreSQL log ``DETAIL: Key (patient)=(<id>) already
exists.``

The test runs its own PostgreSQL server (``support.servers``), with PostgreSQL's default log
settings, and reads that server's log: the shared server's log holds every other test's lines,
and a deployment's log settings (docs/operations.md) must not be what hides a person id.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, insert
from sqlalchemy.exc import IntegrityError

from journalloft.platform.operations.restrictions import RESTRICTION, set_restriction
from journalloft.platform.storage.tables import TENANT
from support import people
from support.servers import PostgresServer, own_postgres, wait_for

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
RACED, CANARY = people(2, seed="postgres-log")


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    yield from own_postgres()


@pytest.fixture(scope="module")
def engine(server: PostgresServer) -> Iterator[Engine]:
    """The restriction table of one tenant schema on the test's own server."""
    engine = create_engine(server.url).execution_options(
        schema_translate_map={TENANT: "tenant_log"}
    )
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE SCHEMA tenant_log")
        RESTRICTION.create(connection)
    yield engine
    engine.dispose()


def waiting_for_a_lock(server: PostgresServer) -> bool:
    with psycopg.connect(server.libpq()) as connection:
        found = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        ).fetchone()
    return bool(found and found[0])


def test_two_requests_restricting_the_same_new_person_log_no_person_id(
    server: PostgresServer, engine: Engine
) -> None:
    """The second restriction waits for the first's transaction, then changes nothing; the log
    shows a unique-key failure's DETAIL (the canary, written on purpose) but not the raced id."""
    outcomes: list[bool | BaseException] = []

    def second() -> None:
        try:
            with engine.begin() as connection:
                outcomes.append(
                    set_restriction(
                        connection, patient=RACED, restricted=True, by="second", now=NOW
                    )
                )
        except Exception as exc:
            outcomes.append(exc)

    with engine.begin() as first:
        assert set_restriction(first, patient=RACED, restricted=True, by="first", now=NOW)
        racing = threading.Thread(target=second)
        racing.start()
        # the second has read "not restricted" and its insert waits for this transaction
        wait_for("the second restriction waits", lambda: waiting_for_a_lock(server) or None)
    racing.join(timeout=30)
    assert not racing.is_alive()
    assert outcomes == [False]

    # the log does show such a failure: a plain INSERT of a person already restricted
    with engine.begin() as connection:
        set_restriction(connection, patient=CANARY, restricted=True, by="canary", now=NOW)
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(
            insert(RESTRICTION).values(patient=CANARY, restricted_at=NOW, restricted_by="x")
        )

    def logged() -> str | None:
        text = server.log.read_text(errors="replace")
        return text if CANARY in text else None

    log = wait_for("the canary's failure in the server log", logged)
    assert f"Key (patient)=({CANARY}) already exists" in log
    assert RACED not in log
