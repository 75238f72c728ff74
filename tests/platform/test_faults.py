"""Faults against real servers: the platform's own process killed mid-ingest, its PostgreSQL and
Redis going away and coming back (their own, on free ports: never the shared ones). What the
platform does in each case is in docs/operations.md ("Faults"); these tests hold it to that.

Each is bounded: every wait has a timeout, and the whole module aims at well under 90 s."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import httpx2
import psycopg
import pytest
from joserfc.jwk import ECKey

from journalloft.platform.core.tenancy import tenant_schema_name
from support import people, tenant_document, token_form
from support.platform import Backend, TestPlatform, start_platform
from support.security import PUBLIC_URL, an_hour_ago, dpop_headers, dpop_token
from support.servers import (
    PostgresServer,
    RedisServer,
    ServedPlatform,
    own_postgres,
    own_redis,
    served,
    wait_for,
)

Answer = httpx2.Response  # what the in-process test client answers with
RECORDS = "/v1/tenants/1804/kommunale-tjenester/records"
TABLE = "kommunal_tjeneste"
BATCH = 25
AT = an_hour_ago()
PEOPLE = people(40, seed="faults")


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """The module's own PostgreSQL (tests that stop it start it again)."""
    yield from own_postgres()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    yield from own_redis()


def fresh_database(postgres: PostgresServer) -> str:
    name = f"journalloft_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres.libpq(), autocommit=True, connect_timeout=5) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return postgres.url.rsplit("/", 1)[0] + "/" + name


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
    database = platform.database_url.rsplit("/", 1)[1] if platform.database_url else "postgres"
    libpq = postgres.libpq().rsplit("/", 1)[0] + "/" + database
    with psycopg.connect(libpq, connect_timeout=5) as connection:
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
    platform = ServedPlatform(tmp_path, database_url=fresh_database(postgres) if postgres else None)
    with served(platform) as running:
        epj = JournalSystem(running, batches=30)
        poster = threading.Thread(target=epj.run, args=(time.monotonic() + 60,))
        poster.start()
        try:
            wait_for("ingest under way", epj.past(5))
            failures = epj.failures
            running.kill()
            # the server is dead: what is stored is whole batches, and every one acknowledged
            assert_whole_batches(stored_ids(running, postgres), dict(epj.acknowledged))
            # the journal system meets a closed port, and keeps its batch
            wait_for("a post to the dead server", lambda: epj.failures > failures, timeout=10)
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
    # a batch stored before its acknowledgement was lost is only "unchanged" when retried, and
    # a batch is stored whole or not at all (created <= total, asserted before, could not fail)
    unchanged = sum(c["unchanged"] for c in epj.acknowledged.values())
    assert unchanged == sum(c["unchanged"] for c in epj.retried_counts)
    for counts in epj.acknowledged.values():
        assert counts["created"] in (0, BATCH), counts


R = TypeVar("R")


def timed(call: Callable[[], R]) -> tuple[R, float]:
    started = time.monotonic()
    answer = call()
    return answer, time.monotonic() - started


def assert_unavailable(answer: Answer) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"


BOUND = 8.0
"""The longest any request may take while a database or Redis is away (timeouts of 2 s)."""


def platform_on(
    postgres: PostgresServer, tmp_path: Path, **settings: Any
) -> Iterator[TestPlatform]:
    """The platform on a fresh database of the module's PostgreSQL, its timeouts 2 s."""
    backend = Backend("postgresql", fresh_database(postgres), None)
    yield from start_platform(
        backend,
        tmp_path,
        database_connect_timeout_seconds=2,
        database_statement_timeout_seconds=2,
        **settings,
    )


@pytest.fixture
def pg_platform(postgres: PostgresServer, tmp_path: Path) -> Iterator[TestPlatform]:
    yield from platform_on(postgres, tmp_path)


def push(platform: TestPlatform, record_id: str) -> Answer:
    return platform.client.post(
        RECORDS,
        json={"records": [{**record(0, 0), "id": record_id}]},
        headers=platform.headers("bodo-epj"),
    )


def look(platform: TestPlatform) -> Answer:
    return platform.client.post(
        "/v1/kommunale-tjenester/query",
        json={"patients": PEOPLE[:1], "kommuner": ["1804"]},
        headers=platform.headers("bodo-legevakt"),
    )


def test_postgresql_away_answers_503_in_bounded_time_and_recovers_without_restart(
    postgres: PostgresServer, pg_platform: TestPlatform
) -> None:
    platform = pg_platform
    platform.onboard(tenant_document("1804"))
    platform.headers("bodo-epj"), platform.headers("bodo-legevakt")  # tokens, while it can
    assert push(platform, "before").status_code == 200
    assert look(platform).status_code == 200
    postgres.stop()
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:  # under load: requests in parallel
            calls = [lambda: push(platform, "during"), lambda: look(platform)] * 3
            answers = list(pool.map(timed, calls))
        for answer, took in answers:
            assert_unavailable(answer)
            assert took < BOUND, took
        ready, took = timed(lambda: platform.client.get("/readyz"))
        assert_unavailable(ready)
        assert took < BOUND
        assert platform.client.get("/healthz").status_code == 200
    finally:
        postgres.start()
    # back without a restart of the platform: the pools reconnect by themselves
    wait_for("ready again", lambda: platform.client.get("/readyz").status_code == 200)
    wait_for("lookups again", lambda: look(platform).status_code == 200)
    assert push(platform, "after").status_code == 200
    answer = look(platform).json()
    assert answer["results"], answer


def test_a_database_that_hangs_on_a_lock_is_a_timeout_not_a_hung_worker(
    postgres: PostgresServer, pg_platform: TestPlatform
) -> None:
    platform = pg_platform
    platform.onboard(tenant_document("1804"))
    assert push(platform, "before").status_code == 200
    database = platform.runtime.settings.database_url
    assert database is not None
    libpq = postgres.libpq().rsplit("/", 1)[0] + "/" + database.rsplit("/", 1)[1]
    with psycopg.connect(libpq, connect_timeout=5) as holder:
        holder.execute(
            f"LOCK TABLE {tenant_schema_name('1804')}.{TABLE} IN ACCESS EXCLUSIVE MODE"
        )  # held until this block ends: every read and write of the table waits
        for call in (lambda: push(platform, "blocked"), lambda: look(platform)):
            answer, took = timed(call)
            assert_unavailable(answer)
            assert 1.5 < took < BOUND, took  # the statement timeout (2 s), not sooner or never
        holder.rollback()
    assert push(platform, "after").status_code == 200
    assert look(platform).status_code == 200


@pytest.fixture
def cached_pg_platform(postgres: PostgresServer, tmp_path: Path) -> Iterator[TestPlatform]:
    """As production runs: the municipalities' settings cached (a lookup reads no platform
    table), the statement timeout 2 s."""
    yield from platform_on(postgres, tmp_path, tenant_cache_seconds=3600)


def test_a_frozen_database_is_a_503_not_a_hung_lookup(
    postgres: PostgresServer, cached_pg_platform: TestPlatform
) -> None:
    # SIGSTOP: the connections stay open and nothing answers, not even the server's own
    # statement timeout. Before, a lookup on an open connection waited for it without end.
    # (What still waits without end: the paths that use blocking connections, see
    # docs/operations.md, Faults.)
    platform = cached_pg_platform
    platform.onboard(tenant_document("1804"))
    assert push(platform, "before").status_code == 200
    assert look(platform).status_code == 200
    platform.token("bodo-legevakt")  # the token is not what this test waits on
    postgres.freeze(True)
    try:
        answer, took = timed(lambda: look(platform))
        assert_unavailable(answer)
        # the query path's own bound (statement timeout 2 s + 2 s), then psycopg's attempt to
        # cancel the statement in the server (5 s) and to read its end (5 s)
        assert took < 4 + 10 + BOUND, took
    finally:
        postgres.freeze(False)
    wait_for("lookups again", lambda: look(platform).status_code == 200)


FROZEN_BOUND = 2 + 2 + 2 + BOUND
"""A request's longest wait on a frozen server: the answer's bound (the statement timeout, 2 s,
+ 2 s), a new connection's connect timeout (2 s), and the margin of :data:`BOUND`."""


def test_a_frozen_database_bounds_every_blocking_path_with_a_503(
    postgres: PostgresServer, pg_platform: TestPlatform, tmp_path: Path
) -> None:
    """Ingest, the token endpoint, a reload of the municipalities' settings (the platform's
    default here: ``TENANT_CACHE_SECONDS`` = 0), readiness and onboarding, on blocking
    connections in worker threads, each give up on a frozen server on their own side and answer
    ``503`` with ``Retry-After`` (onboarding: fails). Before, each waited the whole freeze and
    ``/readyz`` then answered ``200``."""
    platform = pg_platform
    platform.onboard(tenant_document("1804"))
    epj = platform.headers("bodo-epj")
    assert push_with(platform, epj, "before").status_code == 200
    assert look(platform).status_code == 200  # its token too, while it can
    form = token_form("bodo-drift", platform.key("bodo-drift"), audience=PUBLIC_URL)
    calls: dict[str, Callable[[], Answer]] = {
        "ingest": lambda: push_with(platform, epj, "frozen"),
        "token": lambda: platform.client.post("/oauth/token", data=form),
        "settings reload": lambda: look(platform),
        "readiness": lambda: platform.client.get("/readyz"),
    }
    document = tenant_document("1806")
    pool = ThreadPoolExecutor(max_workers=len(calls) + 1)
    postgres.freeze(True)
    try:  # the server runs again before the pool is joined, whatever the outcome
        answers = {name: pool.submit(timed, call) for name, call in calls.items()}
        onboarding = pool.submit(timed, lambda: onboard_failure(platform, document))
        for name, future in answers.items():
            answer, took = future.result(timeout=FROZEN_BOUND * 2)
            assert answer.status_code == 503, (name, answer.text)
            assert answer.headers["retry-after"], name
            assert took < FROZEN_BOUND, (name, took)
        failure, took = onboarding.result(timeout=FROZEN_BOUND * 2)
        assert failure is not None, "onboarding succeeded on a frozen server"
        assert took < FROZEN_BOUND, ("onboarding", took)
    finally:
        postgres.freeze(False)
        pool.shutdown(wait=True)
    wait_for("ready again", lambda: platform.client.get("/readyz").status_code == 200)
    assert push_with(platform, epj, "after").status_code == 200
    assert look(platform).status_code == 200


def onboard_failure(platform: TestPlatform, document: dict[str, Any]) -> BaseException | None:
    try:
        platform.onboard(document)
    except Exception as exc:
        return exc
    return None


@pytest.fixture
def redis_platform(redis_server: RedisServer, tmp_path: Path) -> Iterator[TestPlatform]:
    yield from start_platform(Backend("sqlite", None, redis_server.url), tmp_path)


def test_redis_away_replay_checks_fail_closed_rate_counts_degrade_and_it_recovers(
    redis_server: RedisServer, redis_platform: TestPlatform
) -> None:
    platform = redis_platform
    platform.onboard(tenant_document("1804"))
    key = ECKey.generate_key("P-256", auto_kid=True)
    token = dpop_token(platform, "bodo-legevakt", key)
    query = "/v1/kommunale-tjenester/query"
    body = {"patients": PEOPLE[:1], "kommuner": ["1804"]}

    def with_dpop() -> Answer:
        headers = dpop_headers(token, key, "POST", query)
        return platform.client.post(query, json=body, headers=headers)

    assert with_dpop().status_code == 200
    bearer = platform.headers("bodo-epj")
    redis_server.stop()
    try:
        # fails closed: a DPoP proof whose jti cannot be checked is not accepted
        answer, took = timed(with_dpop)
        assert_unavailable(answer)
        assert took < BOUND
        # and so is a client assertion at the token endpoint
        form = token_form("bodo-drift", platform.key("bodo-drift"), audience=PUBLIC_URL)
        answer, took = timed(lambda: platform.client.post("/oauth/token", data=form))
        assert_unavailable(answer)
        assert took < BOUND
        # degrades: rate limits are counted in this process only, requests are served
        answer, took = timed(lambda: push_with(platform, bearer, "no-redis"))
        assert answer.status_code == 200, answer.text
        assert took < BOUND
        assert_unavailable(platform.client.get("/readyz"))
        assert platform.client.get("/healthz").status_code == 200
    finally:
        redis_server.start()
    wait_for("DPoP again", lambda: with_dpop().status_code == 200)
    assert platform.client.get("/readyz").status_code == 200
    form = token_form("bodo-drift", platform.key("bodo-drift"), audience=PUBLIC_URL)
    assert platform.client.post("/oauth/token", data=form).status_code == 200


def push_with(platform: TestPlatform, headers: dict[str, str], record_id: str) -> Answer:
    return platform.client.post(
        RECORDS, json={"records": [{**record(0, 0), "id": record_id}]}, headers=headers
    )


def test_sigterm_finishes_what_is_in_flight_refuses_new_requests_and_exits(
    tmp_path: Path,
) -> None:
    platform = ServedPlatform(tmp_path, settings={"JOURNALLOFT_SHUTDOWN_GRACE_SECONDS": "15"})
    with served(platform) as running:
        epj = running.headers("bodo-epj")
        legevakt = running.headers("bodo-legevakt")
        process = running.process
        assert process is not None
        store = sqlite3.connect(tmp_path / "tenants" / "1804.sqlite3", isolation_level=None)
        store.execute("BEGIN IMMEDIATE")  # the ingest below waits for this write lock
        outcome: list[httpx.Response] = []

        def post() -> None:
            batch = {"records": [record(7, i) for i in range(BATCH)]}
            outcome.append(httpx.post(running.url + RECORDS, json=batch, headers=epj, timeout=30))

        in_flight = threading.Thread(target=post)
        in_flight.start()
        try:
            time.sleep(0.5)
            process.send_signal(signal.SIGTERM)
            refused = wait_for(
                "new requests refused",
                lambda: refusal(running.url + "/v1/news2/query", legevakt),
                timeout=5,
            )
            assert refused.headers["retry-after"] == "2"
            assert refused.headers["content-type"] == "application/problem+json"
            assert httpx.get(running.url + "/readyz", timeout=5).status_code == 503
            assert httpx.get(running.url + "/healthz", timeout=5).status_code == 200
            assert process.poll() is None, "it stopped with a request in flight"
        finally:
            store.execute("ROLLBACK")
            store.close()
            in_flight.join(timeout=30)
        assert outcome
        assert outcome[0].status_code == 200, outcome
        assert outcome[0].json()["created"] == BATCH
        started = time.monotonic()
        process.wait(timeout=10)
        assert time.monotonic() - started < 10
    ids = stored_ids(platform, None)
    assert len([i for i in ids if i.startswith("b7-")]) == BATCH


def test_sigterm_ends_open_streams_with_a_retry_hint(tmp_path: Path) -> None:
    """An open event stream is told the server is stopping (a ``disconnect`` with a ``retry``
    hint), so the board reconnects with its last id elsewhere; the process then exits."""
    platform = ServedPlatform(tmp_path, settings={"JOURNALLOFT_SHUTDOWN_GRACE_SECONDS": "15"})
    with served(platform) as running:
        legevakt = running.headers("bodo-legevakt")
        process = running.process
        assert process is not None
        made = httpx.post(
            running.url + "/v1/news2/subscriptions",
            json={"patients": PEOPLE[:2], "kommuner": ["1804"]},
            headers=legevakt,
            timeout=10,
        )
        assert made.status_code == 201, made.text
        lines: list[str] = []
        with httpx.stream(
            "GET", running.url + made.json()["events"], headers=legevakt, timeout=20
        ) as stream:
            for line in stream.iter_lines():
                lines.append(line)
                if line.startswith("event: snapshot"):
                    process.send_signal(signal.SIGTERM)
                if any(seen.startswith("event: disconnect") for seen in lines) and not line:
                    break  # the whole disconnect event (up to its blank line) is read
        told = "\n".join(lines)
        assert "event: disconnect" in told
        assert "stopping" in told
        assert "retry: 1000" in told
        process.wait(timeout=15)


def refusal(url: str, headers: dict[str, str]) -> httpx.Response | None:
    answer = httpx.post(url, json={"patients": PEOPLE[:1]}, headers=headers, timeout=5)
    return answer if answer.status_code == 503 else None


def test_sqlite_the_command_line_writing_while_the_server_serves_is_no_error(
    tmp_path: Path,
) -> None:
    """``journalloft demo``, ``purge`` and ``restrictions`` write the same SQLite files as the
    server: each transaction takes the write lock up front and waits for it (busy timeout), so
    a client never sees "database is locked", as a 500 or at all."""
    platform = ServedPlatform(tmp_path)
    people_file = tmp_path / "restricted.txt"
    people_file.write_text("\n".join(PEOPLE[:5]) + "\n", encoding="utf-8")
    with served(platform) as running:
        epj, legevakt = running.headers("bodo-epj"), running.headers("bodo-legevakt")
        done = threading.Event()
        failed: list[BaseException] = []

        def command_line() -> None:
            try:
                ids = ["--file", str(people_file)]
                running.python(
                    "from journalloft.cli import main\n"
                    "for _ in range(2):\n"
                    "    assert main(['demo', '--people', '150']) == 0\n"
                    "    assert main(['purge']) == 0\n"
                    f"    assert main(['restrictions', 'add', '1804', *{ids!r}]) == 0\n"
                    f"    assert main(['restrictions', 'remove', '1804', *{ids!r}]) == 0\n",
                    timeout=80,
                )
            except BaseException as exc:
                failed.append(exc)
            finally:
                done.set()

        writer = threading.Thread(target=command_line)
        writer.start()
        statuses: list[int] = []
        with httpx.Client(base_url=running.url, timeout=40) as client:
            batch = 0
            while not done.is_set():
                pushed = client.post(
                    RECORDS,
                    json={"records": [record(batch, i) for i in range(BATCH)]},
                    headers=epj,
                )
                looked = client.post(
                    "/v1/kommunale-tjenester/query",
                    json={"patients": PEOPLE[:50] if batch % 2 else PEOPLE[:1]},
                    headers=legevakt,
                )
                statuses += [pushed.status_code, looked.status_code]
                batch += 1
        writer.join(timeout=10)
        assert not failed, failed
        assert len(statuses) >= 10, "the command line finished before the clients got going"
        assert set(statuses) == {200}, statuses
        assert "locked" not in running.log_text()


def test_sigterm_stops_within_the_grace_and_a_request_still_running_gets_503(
    tmp_path: Path,
) -> None:
    platform = ServedPlatform(tmp_path, settings={"JOURNALLOFT_SHUTDOWN_GRACE_SECONDS": "2"})
    with served(platform) as running:
        epj = running.headers("bodo-epj")
        process = running.process
        assert process is not None
        store = sqlite3.connect(tmp_path / "tenants" / "1804.sqlite3", isolation_level=None)
        store.execute("BEGIN IMMEDIATE")  # held past the grace: the ingest cannot finish
        outcome: list[httpx.Response] = []
        url = running.url + RECORDS
        batch = {"records": [record(8, i) for i in range(BATCH)]}
        in_flight = threading.Thread(
            target=lambda: outcome.append(httpx.post(url, json=batch, headers=epj, timeout=30))
        )
        in_flight.start()
        try:
            time.sleep(0.5)
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)
            took = time.monotonic() - started
        finally:
            store.execute("ROLLBACK")
            store.close()
            in_flight.join(timeout=30)
        assert took < 2 + 2 + 3, took  # the grace, uvicorn's own, and the app's shutdown
        assert outcome
        assert outcome[0].status_code == 503, outcome[0].text
        assert outcome[0].headers["retry-after"] == "2"
    assert not [i for i in stored_ids(platform, None) if i.startswith("b8-")]
