"""Beyond one server: municipalities split over two PostgreSQL databases (two databases on one
server stand in for two servers), two ``journalloft serve`` processes sharing nothing but the
databases and Redis, and one database down failing only its own municipalities."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from joserfc.jwk import ECKey
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from journalloft.cli import main
from journalloft.platform.core.settings import get_settings
from support import client_assertion, dpop_proof, free_port, people, tenant_document
from support.platform import REPO, Backend, TestPlatform, provide_backend, start_platform
from support.security import an_hour_ago

AT = an_hour_ago()
NEWS2_QUERY = "/v1/news2/query"
UNAVAILABLE = "its database is unavailable"


@pytest.fixture
def two_databases() -> Iterator[tuple[Backend, str]]:
    """A fresh database for the platform and its first municipalities, another for the rest."""
    for first in provide_backend("postgresql"):
        for second in provide_backend("postgresql"):
            assert second.database_url is not None
            yield first, second.database_url


@contextmanager
def database_down(url: str) -> Iterator[None]:
    """The database refuses every connection and its sessions are ended (the server stays up
    for everyone else); connections are allowed again afterwards."""
    name = make_url(url).database
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
        yield
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin.dispose()


def schemas_of(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {s for s in inspect(connection).get_schema_names() if s.startswith("tenant_")}
    finally:
        engine.dispose()


def measurement(record_id: str, patient: str) -> dict[str, Any]:
    return {"id": record_id, "patient": patient, "updated": AT, "effective": AT, "spo2_scale": 1}


def baerum_granting_bodo() -> dict[str, Any]:
    """Bærum (3201) grants Bodø's legevakt news2 too: one lookup reads both municipalities."""
    return tenant_document(
        "3201",
        extra_consumers=[{"client_id": "bodo-legevakt", "name": "Bodø", "services": ["news2"]}],
    )


@pytest.fixture
def split(two_databases: tuple[Backend, str], tmp_path: Path) -> Iterator[TestPlatform]:
    """The platform with Bodø on the first database and Bærum on the second."""
    first, second = two_databases
    for platform in start_platform(first, tmp_path, tenant_database_urls={"3201": second}):
        platform.onboard(tenant_document("1804"))
        platform.onboard(baerum_granting_bodo())
        yield platform


def _look(platform: TestPlatform, who: list[str], **body: Any) -> Any:
    return platform.client.post(
        NEWS2_QUERY, json={"patients": who, **body}, headers=platform.headers("bodo-legevakt")
    )


def _push(platform: TestPlatform, kommunenummer: str, person: str, record: str) -> Any:
    epj = "bodo-epj" if kommunenummer == "1804" else "baerum-epj"
    return platform.client.post(
        f"/v1/tenants/{kommunenummer}/news2/records",
        json={"records": [measurement(record, person)]},
        headers=platform.headers(epj),
    )


def test_one_database_down_fails_only_the_lookups_of_its_municipalities(
    split: TestPlatform, two_databases: tuple[Backend, str]
) -> None:
    platform = split
    first, second = two_databases
    assert first.database_url is not None
    alice, bob = who = people(2, seed="two-databases")
    assert schemas_of(first.database_url) == {"tenant_1804"}
    assert schemas_of(second) == {"tenant_3201"}
    assert _push(platform, "1804", alice, "m-1").status_code == 200
    assert _push(platform, "3201", bob, "m-1").status_code == 200
    # each write landed in its own municipality's database only
    assert _count(first.database_url, "tenant_1804") == 1
    assert _count(second, "tenant_3201") == 1

    both = _look(platform, who)
    assert both.status_code == 200, both.text
    assert [(r["patient"], r["kommunenummer"]) for r in both.json()["results"]] == [
        (alice, "1804"),
        (bob, "3201"),
    ]
    with database_down(second):
        started = time.monotonic()
        partial = _look(platform, who)
        assert time.monotonic() - started < 15
        assert partial.status_code == 200, partial.text
        assert [(r["patient"], r["kommunenummer"]) for r in partial.json()["results"]] == [
            (alice, "1804")
        ]
        assert partial.json()["refused"] == [{"kommunenummer": "3201", "reason": UNAVAILABLE}]
        named = _look(platform, who, kommuner=["3201"])
        assert named.status_code == 503, named.text
        assert UNAVAILABLE in named.json()["detail"]
        assert "retry-after" in named.headers
        assert _look(platform, who, kommuner=["1804"]).status_code == 200
        # a push to Bærum is 503 (its source sends it again later); Bodø's writes go on
        assert _push(platform, "3201", bob, "m-2").status_code == 503
        assert _push(platform, "1804", alice, "m-2").status_code == 200
    _eventually_both(lambda: _look(platform, who))


def _eventually_both(look: Any) -> None:
    """Once the database is back, its lookups answer again (the pools reconnect)."""
    deadline = time.monotonic() + 20
    while True:
        answer = look()
        if answer.status_code == 200 and "refused" not in answer.json():
            assert {r["kommunenummer"] for r in answer.json()["results"]} == {"1804", "3201"}
            return
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.2)


def _count(url: str, schema: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            count: int = connection.execute(
                text(f"SELECT count(*) FROM {schema}.news2_measurement")
            ).scalar_one()
            return count
    finally:
        engine.dispose()


@contextmanager
def serving(env: dict[str, str], port: int, log: Path) -> Iterator[str]:
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "journalloft.cli", "serve", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            for _ in range(200):
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert server.poll() is None, log.read_text()
                time.sleep(0.1)
            else:
                pytest.fail(f"the server on {port} did not start: {log.read_text()}")
            yield base
        finally:
            server.terminate()
            server.wait(timeout=15)


def test_two_serve_processes_share_limits_replay_caches_and_both_databases(
    two_databases: tuple[Backend, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = two_databases
    assert first.database_url is not None
    assert first.redis_url is not None
    ports = (free_port(), free_port())
    public = f"http://127.0.0.1:{ports[0]}"  # behind a load balancer both have one public URL
    settings = {
        "JOURNALLOFT_ENVIRONMENT": "test",
        "JOURNALLOFT_HOME": str(REPO),
        "JOURNALLOFT_DATA_DIR": str(tmp_path / "var"),
        "JOURNALLOFT_DATABASE_URL": first.database_url,
        "JOURNALLOFT_TENANT_DATABASE_URLS": json.dumps({"3201": second}),
        "JOURNALLOFT_REDIS_URL": first.redis_url,
        "JOURNALLOFT_PUBLIC_URL": public,
        "JOURNALLOFT_TENANT_CACHE_SECONDS": "0",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()

    # onboarding onto the second database, and migrating, from the command line
    clients = ("bodo-epj", "bodo-legevakt", "baerum-epj")
    keys = {client: ECKey.generate_key("P-256", auto_kid=True) for client in clients}
    files = []
    for document in (
        tenant_document("1804", policy={"rate_limit_per_minute": 6}),
        baerum_granting_bodo(),
    ):
        for role in ("sources", "consumers"):
            for grant in document[role]:
                owned = grant["client_id"].startswith(
                    "bodo" if document["kommunenummer"] == "1804" else "baerum"
                )
                if grant["client_id"] in keys and owned:
                    grant["jwks"] = {"keys": [keys[grant["client_id"]].as_dict(private=False)]}
        path = tmp_path / f"{document['kommunenummer']}.yaml"
        path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
        files.append(str(path))
    try:
        assert main(["tenants", "onboard", *files]) == 0
        assert main(["migrate"]) == 0
    finally:
        get_settings.cache_clear()
    assert schemas_of(first.database_url) == {"tenant_1804"}
    assert schemas_of(second) == {"tenant_3201"}

    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNALLOFT_")}
    env.update(settings)
    alice, bob = people(2, seed="two-processes")
    with (
        serving(env, ports[0], tmp_path / "one.log") as one,
        serving(env, ports[1], tmp_path / "two.log") as two,
    ):

        def token(base: str, client: str, assertion: str | None = None) -> httpx.Response:
            form = {
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion
                or client_assertion(client, keys[client], audience=public),
            }
            return httpx.post(f"{base}/oauth/token", data=form, timeout=10)

        # a client assertion used at one process is refused at the other
        assertion = client_assertion("bodo-epj", keys["bodo-epj"], audience=public)
        assert token(one, "bodo-epj", assertion).status_code == 200
        replayed = token(two, "bodo-epj", assertion)
        assert replayed.status_code == 401, replayed.text
        assert "used before" in replayed.json()["detail"]

        bearer = {c: token(one, c).json()["access_token"] for c in ("bodo-epj", "baerum-epj")}
        for kommunenummer, client, person in (
            ("3201", "baerum-epj", bob),
            ("1804", "bodo-epj", alice),
        ):
            pushed = httpx.post(
                f"{two}/v1/tenants/{kommunenummer}/news2/records",
                json={"records": [measurement(f"m-{kommunenummer}", person)]},
                headers={"Authorization": f"Bearer {bearer[client]}"},
                timeout=10,
            )
            assert pushed.status_code == 200, pushed.text
        assert _count(first.database_url, "tenant_1804") == 1
        assert _count(second, "tenant_3201") == 1

        # a DPoP proof used at one process is refused at the other
        dpop_key = ECKey.generate_key("P-256")
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": client_assertion(
                "bodo-legevakt", keys["bodo-legevakt"], audience=public
            ),
        }
        bound = httpx.post(
            f"{two}/oauth/token",
            data=form,
            headers={"DPoP": dpop_proof(dpop_key, method="POST", url=f"{public}/oauth/token")},
            timeout=10,
        )
        assert bound.status_code == 200, bound.text
        access = bound.json()["access_token"]
        proof = dpop_proof(dpop_key, method="POST", url=public + NEWS2_QUERY, access_token=access)
        headers = {"Authorization": f"DPoP {access}", "DPoP": proof}
        body = {"patients": [alice, bob]}
        found = httpx.post(f"{one}{NEWS2_QUERY}", json=body, headers=headers, timeout=10)
        assert found.status_code == 200, found.text
        # a lookup across municipalities on both databases answers from both
        assert [(r["patient"], r["kommunenummer"]) for r in found.json()["results"]] == [
            (alice, "1804"),
            (bob, "3201"),
        ]
        again = httpx.post(f"{two}{NEWS2_QUERY}", json=body, headers=headers, timeout=10)
        assert again.status_code == 401, again.text
        assert "used before" in again.json()["detail"]

        # Bærum's database down: both processes answer from Bodø's and name Bærum as refused
        reader = {"Authorization": f"Bearer {token(one, 'bodo-legevakt').json()['access_token']}"}
        with database_down(second):
            for base in (one, two):
                partial = httpx.post(f"{base}{NEWS2_QUERY}", json=body, headers=reader, timeout=30)
                assert partial.status_code == 200, partial.text
                assert [r["kommunenummer"] for r in partial.json()["results"]] == ["1804"]
                assert partial.json()["refused"] == [
                    {"kommunenummer": "3201", "reason": UNAVAILABLE}
                ]
        _eventually_both(
            lambda: httpx.post(f"{two}{NEWS2_QUERY}", json=body, headers=reader, timeout=30)
        )

        # Bodø's limit of 6 requests a minute per client holds across both processes
        if time.time() % 60 > 50:  # one minute's window for the whole count
            time.sleep(61 - time.time() % 60)
        statuses = [
            httpx.post(
                f"{(one, two)[i % 2]}/v1/tenants/1804/news2/records",
                json={"records": [measurement(f"r-{uuid.uuid4().hex[:8]}", alice)]},
                headers={"Authorization": f"Bearer {bearer['bodo-epj']}"},
                timeout=10,
            ).status_code
            for i in range(10)
        ]
    # the push above was one request of this minute too (unless the window turned meanwhile)
    assert statuses.count(200) in (5, 6), statuses
    assert statuses[-4:] == [429] * 4, statuses
