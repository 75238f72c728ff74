"""Faults against real servers: the platform's own process killed mid-ingest, its PostgreSQL and
Redis going away and coming back (their own, on free ports: never the shared ones). What the
platform does in each case is in docs/operations.md ("Faults"); these tests hold it to that.

Each is bounded: every wait has a timeout, and the whole module aims at well under 90 s."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from journalloft.platform.tenancy import tenant_schema_name
from support import people
from support.security import an_hour_ago
from support.servers import (
    PostgresServer,
    RedisServer,
    ServedPlatform,
    own_postgres,
    own_redis,
    served,
    wait_for,
)

RECORDS = "/v1/tenants/1804/kommunale-tjenester/records"
TABLE = "kommunal_tjeneste"
BATCH = 25
AT = an_hour_ago()
PEOPLE = people(40, seed="faults")


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    yield from own_postgres()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    yield from own_redis()


def record(batch: int, i: int) -> dict[str, Any]:
    return {
        "id": f"b{batch}-r{i}",
        "patient": PEOPLE[(batch * BATCH + i) % len(PEOPLE)],
        "updated": AT,
        "service_code": "015",
        "description": f"Hjemmesykepleie, batch {batch}",
        "unit": {"name": "Hjemmetjenesten", "phone": "+47 75 55 00 00"},
        "start": "2026-01-05",
        "temporary_cessation": False,
    }


@dataclass
class JournalSystem:
    """An EPJ that posts numbered batches without pause and retries every batch that was not
    acknowledged, until all are."""

    platform: ServedPlatform
    batches: int
    acknowledged: dict[int, dict[str, int]] = field(default_factory=dict)
    retried_counts: list[dict[str, int]] = field(default_factory=list)
    failures: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self, deadline: float) -> None:
        token: str | None = None
        batch = 0
        attempts: dict[int, int] = {}
        with httpx.Client(base_url=self.platform.url, timeout=10) as client:
            while batch < self.batches and time.monotonic() < deadline and not self._stop.is_set():
                try:
                    token = token or self.platform.token("bodo-epj")
                    answer = client.post(
                        RECORDS,
                        json={"records": [record(batch, i) for i in range(BATCH)]},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                except (httpx.HTTPError, AssertionError):
                    answer = None
                attempts[batch] = attempts.get(batch, 0) + 1
                if answer is not None and answer.status_code == 200:
                    counts: dict[str, int] = answer.json()
                    self.acknowledged[batch] = counts
                    if attempts[batch] > 1:
                        self.retried_counts.append(counts)
                    batch += 1
                else:
                    assert answer is None or answer.status_code >= 500, answer.text
                    self.failures += 1
                    time.sleep(0.05)  # not acknowledged: the same batch again

    def stop(self) -> None:
        self._stop.set()

    def past(self, batches: int) -> Callable[[], bool]:
        return lambda: len(self.acknowledged) > batches


def stored_ids(platform: ServedPlatform, postgres: PostgresServer | None) -> list[str]:
    query = f"SELECT record_id FROM {TABLE} WHERE source = 'bodo-epj' AND record_id LIKE 'b%'"
    if postgres is None:
        path = platform.data_dir / "tenants" / "1804.sqlite3"
        with sqlite3.connect(path, timeout=10) as connection:
            return [row[0] for row in connection.execute(query)]
    with psycopg.connect(postgres.libpq(), connect_timeout=5) as connection:
        connection.execute(f"SET search_path TO {tenant_schema_name('1804')}")
        return [row[0] for row in connection.execute(query)]


def assert_whole_batches(ids: list[str], acknowledged: dict[int, dict[str, int]]) -> None:
    assert len(ids) == len(set(ids)), "a record stored twice"
    per_batch: dict[int, int] = {}
    for record_id in ids:
        if record_id.startswith("b"):
            batch = int(record_id[1:].split("-")[0])
            per_batch[batch] = per_batch.get(batch, 0) + 1
    partial = {b: n for b, n in per_batch.items() if n != BATCH}
    assert not partial, f"batches stored in part: {partial}"
    missing = set(acknowledged) - set(per_batch)
    assert not missing, f"acknowledged batches lost: {sorted(missing)}"


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_kill_9_during_ingest_loses_nothing_and_doubles_nothing(
    store: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    postgres: PostgresServer | None = None
    if store == "postgresql":
        postgres = request.getfixturevalue("postgres")
    platform = ServedPlatform(tmp_path, database_url=postgres.url if postgres else None)
    for running in served(platform):
        epj = JournalSystem(running, batches=40)
        poster = threading.Thread(target=epj.run, args=(time.monotonic() + 60,))
        poster.start()
        try:
            for at_least in (5, 17):
                wait_for("ingest under way", epj.past(at_least))
                running.kill()
                # the server is dead: what is stored is whole batches, and every one acknowledged
                assert_whole_batches(stored_ids(running, postgres), dict(epj.acknowledged))
                time.sleep(0.3)  # the journal system meets a closed port, and keeps its batch
                running.start()
            poster.join(timeout=70)
        finally:
            epj.stop()
            poster.join(timeout=15)
        assert len(epj.acknowledged) == epj.batches, "the journal system did not finish"
        assert epj.failures > 0, "no request was interrupted: the test proved nothing"
    ids = stored_ids(platform, postgres)
    assert_whole_batches(ids, epj.acknowledged)
    assert len(ids) == epj.batches * BATCH
    for counts in epj.acknowledged.values():
        assert counts["received"] == BATCH
        assert counts["created"] + counts["unchanged"] == BATCH, counts
        assert counts["updated"] == counts["stale"] == 0, counts
    # a batch stored before its acknowledgement was lost is only "unchanged" when retried
    created = sum(c["created"] for c in epj.acknowledged.values())
    unchanged = sum(c["unchanged"] for c in epj.acknowledged.values())
    assert created + unchanged == epj.batches * BATCH
    assert created <= epj.batches * BATCH
