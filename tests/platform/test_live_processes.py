"""Production's shape: two ``journalloft serve`` processes sharing PostgreSQL and Redis. A change
ingested through one reaches a stream open on the other, and a board that loses its connection
while ingests go on reconnects to the other process and gets every event once, in order, each
in the audit log."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import select

from journalloft.platform.runtime import build_runtime
from journalloft.platform.storage.migrations import migrate_platform
from journalloft.platform.storage.models import AuditEvent
from support import SERVICES, free_port, people, tenant_document
from support import measurement as measured
from support.live import open_events
from support.platform import BACKENDS, REPO, Backend, TestPlatform, make_settings

pytestmark = pytest.mark.parametrize("backend", [BACKENDS[1]], indirect=True)

ANNE, BJORN, CECILIE, DAG = people(4, seed="live-processes")
LEGEVAKT = "bodo-legevakt"
AWAY_SECONDS = 60


def serve(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "journalloft.cli", "serve", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        assert process.poll() is None, "the server exited"
        try:
            if httpx2.get(f"{url}/health/live", timeout=1).status_code < 500:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not start")


@pytest.fixture
def two_servers(backend: Backend, tmp_path: Path) -> Iterator[tuple[TestPlatform, httpx2.Client]]:
    port_a, port_b = free_port(), free_port()
    url_a, url_b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    # one public URL, as behind a load balancer: tokens from either process are valid at both
    settings = make_settings(backend, tmp_path / "var", public_url=url_a)
    runtime = build_runtime(settings)
    migrate_platform(runtime.stores)
    assert backend.database_url is not None
    assert backend.redis_url is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNALLOFT_")}
    env |= {
        "JOURNALLOFT_HOME": str(REPO),
        "JOURNALLOFT_DATA_DIR": str(tmp_path / "var"),
        "JOURNALLOFT_DATABASE_URL": backend.database_url,
        "JOURNALLOFT_REDIS_URL": backend.redis_url,
        "JOURNALLOFT_PUBLIC_URL": url_a,
        "JOURNALLOFT_TENANT_CACHE_SECONDS": "0",
        "JOURNALLOFT_PURGE_INTERVAL_SECONDS": "0",
        "JOURNALLOFT_HEARTBEAT_SECONDS": "0.5",
    }
    servers = [
        serve(port_a, env, tmp_path / "a.log"),
        serve(port_b, env, tmp_path / "b.log"),
    ]
    try:
        wait_until_up(url_a, servers[0])
        wait_until_up(url_b, servers[1])
        with (
            httpx2.Client(base_url=url_a, timeout=10) as a,
            httpx2.Client(base_url=url_b, timeout=10) as b,
        ):
            platform = TestPlatform(client=a, runtime=runtime, tmp=tmp_path)
            for kommunenummer in ("1804", "3201"):
                platform.onboard(tenant_document(kommunenummer, services={s: {} for s in SERVICES}))
            yield platform, b
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=20)
        runtime.close()


BASE = time.time() - 3600


def measurement(record_id: str, patient: str, pulse: int) -> dict[str, Any]:
    """Measured at BASE plus the record's number in seconds: later records are later."""
    number = int(record_id.removeprefix("m-"))
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(BASE + number))
    return measured(record_id, patient, at=at, pulse=pulse)


def push(client: httpx2.Client, platform: TestPlatform, record: dict[str, Any]) -> None:
    response = client.post(
        "/v1/tenants/1804/news2/records",
        json={"records": [record]},
        headers=platform.headers("bodo-epj"),
    )
    assert response.status_code == 200, response.text


def read_count(platform: TestPlatform, patient: str) -> int:
    table = AuditEvent.__table__.c  # type: ignore[attr-defined]
    with platform.runtime.stores.tenant_transaction("1804") as connection:
        rows = connection.execute(
            select(table.id).where(
                table.action == "read", table.client_id == LEGEVAKT, table.patient == patient
            )
        )
        return len(list(rows))


def test_a_board_reconnecting_to_another_process_gets_every_event_once_in_order(
    two_servers: tuple[TestPlatform, httpx2.Client],
) -> None:
    platform, other = two_servers
    here = platform.client
    push(here, platform, measurement("m-0", ANNE, 70))
    made = here.post(
        "/v1/news2/subscriptions",
        json={"patients": [ANNE, BJORN, CECILIE]},
        headers=platform.headers(LEGEVAKT),
    ).json()
    with open_events(here, made["id"], platform.headers(LEGEVAKT)) as events:
        [snapshot] = events.take(1)
        assert [r["patient"] for r in snapshot.json()["results"]] == [ANNE]
        push(other, platform, measurement("m-1", BJORN, 80))  # through the other process
        [first] = events.take(1)
        assert first.json()["latest"]["id"] == "m-1"
    # the board is away for a minute; ingests go on through both processes, some for someone
    # the subscription does not cover
    sent = []
    away_until = time.monotonic() + AWAY_SECONDS
    i = 2
    while time.monotonic() < away_until:
        patient = [ANNE, BJORN, CECILIE, DAG][i % 4]
        push([here, other][i % 2], platform, measurement(f"m-{i}", patient, 70 + i % 60))
        if patient != DAG:
            sent.append((patient, f"m-{i}"))
        i += 1
        time.sleep(1.5)
    reads_before = {p: read_count(platform, p) for p in (ANNE, BJORN, CECILIE)}
    with open_events(
        other, made["id"], platform.headers(LEGEVAKT), last_event_id=first.id
    ) as events:
        missed = events.take(len(sent))
        push(here, platform, measurement("m-999", CECILIE, 99))
        [after] = events.take(1)
    assert [e.event for e in missed] == ["update"] * len(sent)
    assert [e.json()["patient"] for e in missed] == [p for p, _ in sent]
    ids = [first.id, *(e.id for e in missed), after.id]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids, key=lambda i: tuple(int(p) for p in str(i).split("-")))
    assert after.json()["latest"]["id"] == "m-999"
    # every delivered event's read is in the municipality's audit log
    for patient in (ANNE, BJORN, CECILIE):
        assert read_count(platform, patient) > reads_before[patient]
