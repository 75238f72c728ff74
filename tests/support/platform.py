"""The test platform: the real app, in process, on SQLite and (when configured) on PostgreSQL and
Redis. ``JOURNALLOFT_TEST_DATABASE_URL`` and ``JOURNALLOFT_TEST_REDIS_URL`` turn on the
second backend; with ``JOURNALLOFT_TEST_REQUIRE_SERVICES=1`` (CI) a missing or unreachable one
fails the run instead of skipping."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2
import pytest
import redis
import yaml
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from journalloft.app import create_app
from journalloft.platform.auth.clients import add_key
from journalloft.platform.core.settings import Settings
from journalloft.platform.core.tenancy import Tenant
from journalloft.platform.operations.onboarding import onboard
from journalloft.platform.runtime import Runtime, build_runtime
from journalloft.platform.storage.engines import normalise_database_url
from journalloft.platform.storage.migrations import migrate_platform
from support import token_form

REPO = Path(__file__).resolve().parents[2]


DATABASE_URL = os.environ.get("JOURNALLOFT_TEST_DATABASE_URL")


def _per_worker(url: str | None) -> str | None:
    """The Redis database of this test process. The suite runs in parallel processes
    (pytest-xdist's workers ``gw0``, ``gw1``, ...), and each empties its database before every
    test: ``gw0`` uses the database the URL names, worker N the one N below it (modulo 16)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker.removeprefix("gw") or 0)
    if not url or index == 0:
        return url
    parts = urlsplit(url)
    database = (int(parts.path.strip("/") or 0) - index) % 16
    return urlunsplit(parts._replace(path=f"/{database}"))


REDIS_URL = _per_worker(os.environ.get("JOURNALLOFT_TEST_REDIS_URL"))


REQUIRED = os.environ.get("JOURNALLOFT_TEST_REQUIRE_SERVICES") == "1"


def unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason} (JOURNALLOFT_TEST_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@dataclass
class Backend:
    name: str
    database_url: str | None
    redis_url: str | None


BACKENDS = ["sqlite", pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.redis])]


def provide_backend(kind: str) -> Iterator[Backend]:
    if kind == "sqlite":
        yield Backend("sqlite", None, None)
        return
    if not DATABASE_URL or not REDIS_URL:
        unavailable("JOURNALLOFT_TEST_DATABASE_URL and JOURNALLOFT_TEST_REDIS_URL are not set")
    assert DATABASE_URL
    assert REDIS_URL
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).flushdb()
    except redis.RedisError as exc:
        unavailable(f"Redis at JOURNALLOFT_TEST_REDIS_URL is unreachable: {exc}")
    server = make_url(normalise_database_url(DATABASE_URL))
    name = f"journalloft_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        admin.dispose()
        unavailable(f"PostgreSQL at JOURNALLOFT_TEST_DATABASE_URL is unusable: {exc}")
    try:
        yield Backend(
            "postgresql", server.set(database=name).render_as_string(hide_password=False), REDIS_URL
        )
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def make_settings(backend: Backend, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "home": REPO,
        "data_dir": data_dir,
        "database_url": backend.database_url,
        "redis_url": backend.redis_url,
        "public_url": "http://testserver",
        "purge_interval_seconds": 0,
        "audit_seal_interval_seconds": 0,
        "tenant_cache_seconds": 0,
    }
    values.update(overrides)
    return Settings(**values)


def onboard_with_keys(
    runtime: Runtime, tmp: Path, keys: dict[str, ECKey], document: dict[str, Any]
) -> Tenant:
    """Onboard the tenant ``document`` and register a key (in ``keys``) for each of its clients."""
    path = tmp / f"tenant-{document['kommunenummer']}-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    report = onboard(
        path, stores=runtime.stores, schemas=runtime.schemas, services=runtime.services
    )
    with runtime.stores.platform_engine.begin() as connection:
        for grant in report.tenant.clients():
            key = keys.setdefault(grant.client_id, ECKey.generate_key("P-256", auto_kid=True))
            add_key(connection, client_id=grant.client_id, jwk=key.as_dict(private=False))
    runtime.tenants.reload()
    return report.tenant


@dataclass
class TestRuntime:
    """The platform's runtime without its app, for tests that call operations directly: quick to
    start (mutation testing starts it once per mutant)."""

    __test__ = False

    runtime: Runtime
    tmp: Path
    keys: dict[str, ECKey] = field(default_factory=dict)

    def onboard(self, document: dict[str, Any]) -> Tenant:
        return onboard_with_keys(self.runtime, self.tmp, self.keys, document)

    def key(self, client_id: str) -> ECKey:
        return self.keys[client_id]


def start_runtime(backend: Backend, tmp: Path, **settings: Any) -> Iterator[TestRuntime]:
    runtime = build_runtime(make_settings(backend, tmp / "var", **settings))
    try:
        migrate_platform(runtime.stores)
        yield TestRuntime(runtime=runtime, tmp=tmp)
    finally:
        runtime.close()


@dataclass
class TestPlatform:
    """The app in process, with helpers to onboard tenants and act as their clients."""

    __test__ = False

    client: httpx2.Client
    """The app's client: in process (``TestClient``), or over loopback to a served app."""
    runtime: Runtime
    tmp: Path
    keys: dict[str, ECKey] = field(default_factory=dict)
    _tokens: dict[tuple[str, str | None], str] = field(default_factory=dict)

    def onboard(self, document: dict[str, Any]) -> Tenant:
        tenant = onboard_with_keys(self.runtime, self.tmp, self.keys, document)
        self._tokens.clear()
        return tenant

    def key(self, client_id: str) -> ECKey:
        return self.keys[client_id]

    def token(self, client_id: str, scope: str | None = None) -> str:
        """A bearer access token from the built-in issuer, as the client would get it."""
        cached = self._tokens.get((client_id, scope))
        if cached:
            return cached
        response = self.client.post(
            "/oauth/token",
            data=token_form(
                client_id,
                self.keys[client_id],
                audience=self.runtime.settings.issuer_url,
                scope=scope,
            ),
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        self._tokens[(client_id, scope)] = token
        return token

    def headers(self, client_id: str, scope: str | None = None, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(client_id, scope)}", **extra}

    def set_now(self, now: datetime) -> None:
        """Fix the platform's clock (what 'today' and 'now' mean for rules and queries)."""
        self.runtime.clock = lambda: now


def start_platform(backend: Backend, tmp: Path, **settings: Any) -> Iterator[TestPlatform]:
    config = make_settings(backend, tmp / "var", **settings)
    runtime = build_runtime(config)
    migrate_platform(runtime.stores)
    app = create_app(config, runtime=runtime)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield TestPlatform(client=client, runtime=runtime, tmp=tmp)
    finally:
        runtime.close()
    # a part that did not stop is a bug (a server would hang on SIGTERM), with its stacks
    assert not runtime.stuck_on_stop, "\n".join(runtime.stuck_on_stop)
