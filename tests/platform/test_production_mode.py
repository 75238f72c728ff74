"""The production-like mode under traffic: ``journalloft serve --workers 2`` on PostgreSQL and
Redis (a fresh database of the test server, the suite's Redis database), with clients sending
all the while."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, inspect, text

from journalloft.platform.core.tenancy import tenant_schema_name
from support import people, tenant_document
from support.fhir import FNR
from support.platform import Backend, provide_backend
from support.security import an_hour_ago
from support.servers import ServedPlatform, served, wait_for

AT = an_hour_ago()
(PERSON,) = people(1, seed="production-mode")
SERVICE = "kommunale-tjenester"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def postgres_backend() -> Iterator[Backend]:
    yield from provide_backend("postgresql")


def record(record_id: str) -> dict[str, Any]:
    return {
        "id": record_id,
        "patient": PERSON,
        "updated": AT,
        "service_code": "015",
        "description": "Hjemmesykepleie",
        "unit": {"name": "Hjemmetjenesten", "phone": "+47 75 55 00 00"},
        "start": "2026-01-05",
        "temporary_cessation": False,
    }


def narvik(path: Path) -> Path:
    """1806, which Bodø's journal system writes to and Bodø's legevakt reads: an inter-municipal
    legevakt's neighbour."""
    document = tenant_document("1806", policy={"rate_limit_per_minute": 1_000_000})
    services = list(document["services"])
    document["sources"].append({"client_id": "bodo-epj", "name": "EPJ", "services": services})
    document["consumers"].append(
        {"client_id": "bodo-legevakt", "name": "Legevakt", "services": services}
    )
    file = path / "narvik.yaml"
    file.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return file


class Traffic:
    """Clients that send the same few requests in a loop, each on its own thread, and keep
    every answer's status by request."""

    def __init__(self, url: str, requests: dict[str, Callable[[httpx.Client], httpx.Response]]):
        self.url = url
        self.requests = requests
        self.statuses: dict[str, list[int]] = {name: [] for name in requests}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(name,), daemon=True) for name in requests
        ]

    def _run(self, name: str) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self._stop.is_set():
                answer = self.requests[name](client)
                self.statuses[name].append(answer.status_code)
                if answer.status_code >= 500:
                    self.errors.append(f"{name}: {answer.status_code} {answer.text[:300]}")

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


def test_offboarding_under_traffic_gives_no_server_error(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    """While clients look 1806 up (by name and not), push to it and search it through FHIR,
    ``tenants offboard 1806 --yes`` removes it: every process stops counting it before its store
    goes away, and a request that still reaches the vanished store is answered as for a
    municipality that is not onboarded. Before, each worker still counted 1806 for a few
    seconds, and those requests were 500 (``UndefinedTable``)."""
    platform = ServedPlatform(
        tmp_path,
        database_url=postgres_backend.database_url,
        redis_url=postgres_backend.redis_url,
        workers=2,
        settings={"JOURNALLOFT_TENANT_CACHE_SECONDS": "2"},
    )
    with served(platform) as running:
        running.command("tenants", "onboard", str(narvik(tmp_path)))
        epj, legevakt = running.headers("bodo-epj"), running.headers("bodo-legevakt")
        named = {"patients": [PERSON], "kommuner": ["1806"]}

        def pushed(client: httpx.Client) -> httpx.Response:
            return client.post(
                f"/v1/tenants/1806/{SERVICE}/records", json={"records": [record("r1")]}, headers=epj
            )

        def looked_up(client: httpx.Client) -> httpx.Response:
            return client.post(
                f"/v1/{SERVICE}/query", json={"patients": [PERSON]}, headers=legevakt
            )

        def looked_up_by_name(client: httpx.Client) -> httpx.Response:
            return client.post(f"/v1/{SERVICE}/query", json=named, headers=legevakt)

        def searched(client: httpx.Client) -> httpx.Response:
            return client.post(
                "/fhir/1806/EpisodeOfCare/_search",
                data={"patient:identifier": f"{FNR}|{PERSON}"},
                headers={**legevakt, **FORM},
            )

        with httpx.Client(base_url=running.url, timeout=30) as client:
            wait_for("1806 served by every worker", lambda: all_found(client, looked_up_by_name))
            assert pushed(client).status_code == 200
        requests: dict[str, Callable[[httpx.Client], httpx.Response]] = {
            "push": pushed,
            "lookup": looked_up,
            "lookup 1806": looked_up_by_name,
            "search 1806": searched,
        }
        with Traffic(running.url, requests) as traffic:
            wait_for("traffic", lambda: all(len(s) > 5 for s in traffic.statuses.values()))
            said = running.command("tenants", "offboard", "1806", "--yes")
            assert "offboarded 1806" in said
            seen = {name: len(s) for name, s in traffic.statuses.items()}
            wait_for(  # and some more after the store is gone
                "traffic after",
                lambda: all(len(traffic.statuses[n]) > seen[n] + 10 for n in seen),
            )
        assert not traffic.errors, traffic.errors[:10]
        for name in ("push", "lookup 1806", "search 1806"):
            assert traffic.statuses[name][-1] == 404, (name, traffic.statuses[name][-20:])
            assert set(traffic.statuses[name]) <= {200, 404}, (name, set(traffic.statuses[name]))
        assert set(traffic.statuses["lookup"]) == {200}


def all_found(
    client: httpx.Client, call: Callable[[httpx.Client], httpx.Response], tries: int = 6
) -> bool:
    """``call`` answers 200 several times running (reaching each worker)."""
    return all(call(client).status_code == 200 for _ in range(tries))


def test_the_subscription_limit_holds_across_workers(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    """A client that makes subscriptions from many connections at once, spread over two
    workers, gets exactly ``SUBSCRIPTIONS_PER_CLIENT`` of them; every other is ``409``."""
    limit = 4
    platform = ServedPlatform(
        tmp_path,
        database_url=postgres_backend.database_url,
        redis_url=postgres_backend.redis_url,
        workers=2,
        settings={"JOURNALLOFT_SUBSCRIPTIONS_PER_CLIENT": str(limit)},
    )
    with served(platform) as running:
        legevakt = running.headers("bodo-legevakt")
        attempts = 24
        start = threading.Barrier(attempts)
        statuses: list[int] = []

        def subscribe(n: int) -> None:
            with httpx.Client(base_url=running.url, timeout=30) as client:
                start.wait(timeout=30)
                answer = client.post(
                    "/v1/news2/subscriptions",
                    json={"patients": people(1, seed=f"subscriber-{n}"), "kommuner": ["1804"]},
                    headers=legevakt,
                )
                statuses.append(answer.status_code)

        threads = [threading.Thread(target=subscribe, args=(n,)) for n in range(attempts)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(statuses) == [201] * limit + [409] * (attempts - limit), statuses


@pytest.fixture
def second_database() -> Iterator[str]:
    for backend in provide_backend("postgresql"):
        assert backend.database_url is not None
        yield backend.database_url


def test_two_databases_under_concurrent_traffic(
    postgres_backend: Backend, second_database: str, tmp_path: Path
) -> None:
    """1806's store on a second database (``TENANT_DATABASE_URLS``): pushes to both
    municipalities and lookups that ask both, from several clients at once over two workers,
    all answered, each write in its own database only."""
    platform = ServedPlatform(
        tmp_path,
        database_url=postgres_backend.database_url,
        redis_url=postgres_backend.redis_url,
        workers=2,
        settings={"JOURNALLOFT_TENANT_DATABASE_URLS": json.dumps({"1806": second_database})},
    )
    with served(platform) as running:
        running.command("tenants", "onboard", str(narvik(tmp_path)))
        epj, legevakt = running.headers("bodo-epj"), running.headers("bodo-legevakt")
        numbers = itertools.count()

        def pushed_to(kommunenummer: str) -> Callable[[httpx.Client], httpx.Response]:
            def push(client: httpx.Client) -> httpx.Response:
                records = [record(f"{kommunenummer}-{next(numbers)}")]
                return client.post(
                    f"/v1/tenants/{kommunenummer}/{SERVICE}/records",
                    json={"records": records},
                    headers=epj,
                )

            return push

        def looked_up(client: httpx.Client) -> httpx.Response:
            return client.post(
                f"/v1/{SERVICE}/query", json={"patients": [PERSON]}, headers=legevakt
            )

        requests = {
            "push 1804": pushed_to("1804"),
            "push 1806": pushed_to("1806"),
            "lookup": looked_up,
            "lookup again": looked_up,
        }
        with Traffic(running.url, requests) as traffic:
            wait_for("traffic", lambda: all(len(s) > 30 for s in traffic.statuses.values()))
        assert not traffic.errors, traffic.errors[:10]
        for name, statuses in traffic.statuses.items():
            assert set(statuses) == {200}, (name, set(statuses))
        with httpx.Client(base_url=running.url, timeout=30) as client:
            found = looked_up(client).json()
        assert {r["kommunenummer"] for r in found["results"]} == {"1804", "1806"}
    assert stored(postgres_backend.database_url, "1806") is None
    assert stored(second_database, "1804") is None
    for url, kommunenummer in ((postgres_backend.database_url, "1804"), (second_database, "1806")):
        ids = stored(url, kommunenummer)
        assert ids is not None
        pushed = traffic.statuses[f"push {kommunenummer}"]
        assert len([i for i in ids if i.startswith(kommunenummer)]) == len(pushed)


def stored(url: str | None, kommunenummer: str) -> list[str] | None:
    """The record ids in a municipality's store on the database at ``url``; None if the database
    has no store of it."""
    assert url is not None
    engine = create_engine(url)
    schema = tenant_schema_name(kommunenummer)
    try:
        with engine.connect() as connection:
            if schema not in inspect(connection).get_schema_names():
                return None
            rows = connection.execute(text(f"SELECT record_id FROM {schema}.kommunal_tjeneste"))
            return [row[0] for row in rows]
    finally:
        engine.dispose()
