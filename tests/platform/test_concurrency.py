"""Concurrent pushes of the same records: nothing is lost, and the newest ``updated`` wins."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, text

from journalloft.platform.core.tenancy import tenant_schema_name
from journalloft.platform.operations.units import in_unit_of_work
from support import people
from support.fhir import okt_episode, transaction
from support.platform import TestPlatform

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
(PATIENT,) = people(1, seed="concurrency")


def version(minute: int) -> dict[str, Any]:
    at = (NOW - timedelta(minutes=60 - minute)).isoformat()
    return {
        "id": "same-record",
        "patient": PATIENT,
        "updated": at,
        "effective": (NOW - timedelta(hours=2)).isoformat(),
        "spo2_scale": 1,
        "pulse": 40 + minute,
    }


def test_concurrent_versions_of_one_record_end_with_the_newest(platform: TestPlatform) -> None:
    platform.set_now(NOW)
    headers = platform.headers("bodo-epj")
    minutes = list(range(1, 25))
    replies: list[int] = []
    counts: list[dict[str, int]] = []
    start = threading.Barrier(len(minutes))

    def push(minute: int) -> None:
        start.wait()
        response = platform.client.post(
            "/v1/tenants/1804/news2/records", json={"records": [version(minute)]}, headers=headers
        )
        replies.append(response.status_code)
        counts.append(response.json())

    threads = [threading.Thread(target=push, args=(m,)) for m in reversed(minutes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert replies == [200] * len(minutes)
    assert sum(c["created"] for c in counts) == 1
    assert sum(c["created"] + c["updated"] + c["stale"] for c in counts) == len(minutes)
    board = platform.client.post(
        "/v1/news2/query", json={"patients": [PATIENT]}, headers=platform.headers("bodo-legevakt")
    ).json()
    assert board["results"][0]["latest"]["pulse"] == 40 + max(minutes)


def test_concurrent_fhir_transactions_over_the_same_identifiers_all_succeed(
    platform: TestPlatform,
) -> None:
    """Each transaction stores the same new EpisodeOfCare identifiers, in its own order. On
    PostgreSQL two of them inserting the same keys in opposite orders each wait for the other
    (a deadlock): the rows are written in one order, and a deadlock that still happens is tried
    again, never answered as a database that is unavailable (503)."""
    persons = people(8, seed="concurrency-fhir")
    episodes = 200
    transactions = 12
    headers = platform.headers("bodo-epj", **{"Content-Type": "application/fhir+json"})
    bundles = []
    for n in range(transactions):
        order = list(range(episodes))
        random.Random(n).shuffle(order)
        bundles.append(
            transaction(
                *(
                    okt_episode(persons[i % len(persons)], period={"start": f"2026-01-{1 + n:02d}"})
                    for i in order
                ),
                urls=[f"EpisodeOfCare?identifier=urn:test:episode|ep-{i}" for i in order],
            )
        )
    replies: list[tuple[int, str]] = []
    start = threading.Barrier(transactions)

    def post(bundle: dict[str, Any]) -> None:
        start.wait()
        response = platform.client.post("/fhir/1804", json=bundle, headers=headers)
        replies.append((response.status_code, response.text))

    threads = [threading.Thread(target=post, args=(b,)) for b in bundles]
    with all_at_once(platform, "kommunal_tjeneste", transactions):
        for thread in threads:
            thread.start()
    for thread in threads:
        thread.join()

    assert [status for status, _ in replies] == [200] * transactions, replies
    found = platform.client.post(
        "/v1/kommunale-tjenester/query",
        json={"patients": persons, "kommuner": ["1804"]},
        headers=platform.headers("bodo-legevakt"),
    ).json()
    assert {r["patient"] for r in found["results"]} == set(persons)


@contextlib.contextmanager
def all_at_once(platform: TestPlatform, table: str, writers: int) -> Iterator[None]:
    """On PostgreSQL: hold ``table`` locked until ``writers`` transactions wait for it (their
    first statement locks the rows they read), then let them go together, so that their writes
    overlap. On SQLite nothing: its writers take the database's one write lock in turn."""
    url = platform.runtime.settings.database_url
    if url is None:
        yield
        return
    engine = create_engine(url)
    try:
        with engine.connect() as holder:
            holder.exec_driver_sql(
                f"LOCK TABLE {tenant_schema_name('1804')}.{table} IN EXCLUSIVE MODE"
            )
            yield

            def waiting() -> int:
                with engine.connect() as probe:
                    return int(
                        probe.execute(
                            text(
                                "SELECT count(*) FROM pg_locks WHERE NOT granted "
                                "AND relation = CAST(:table AS regclass)"
                            ),
                            {"table": f"{tenant_schema_name('1804')}.{table}"},
                        ).scalar_one()
                    )

            deadline = time.monotonic() + 10
            while waiting() < writers:
                assert time.monotonic() < deadline, "the writers did not all reach the lock"
                time.sleep(0.02)
            holder.rollback()
    finally:
        engine.dispose()


def test_a_deadlock_is_tried_again_not_called_an_outage(platform: TestPlatform) -> None:
    """Two units of work that take two locks in opposite orders: PostgreSQL ends one of them
    (``deadlock_detected``), which is tried again and succeeds."""
    if platform.runtime.settings.database_url is None:
        pytest.skip("SQLite's writers take the one write lock in turn: no deadlock")
    both_hold_one = threading.Barrier(2)
    attempts: list[str] = []
    outcomes: dict[str, object] = {}

    def unit(name: str, first: int, second: int) -> None:
        def work(connection: Connection) -> str:
            attempts.append(name)
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": first})
            if attempts.count(name) == 1:
                both_hold_one.wait(timeout=10)
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": second})
            return name

        try:
            outcomes[name] = in_unit_of_work(platform.runtime, "1804", work)
        except Exception as exc:
            outcomes[name] = exc

    threads = [
        threading.Thread(target=unit, args=("a", 7001, 7002)),
        threading.Thread(target=unit, args=("b", 7002, 7001)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert outcomes == {"a": "a", "b": "b"}, outcomes
    assert len(attempts) == 3, attempts  # the one the server ended, once more
