"""The platform through PgBouncer in transaction mode (docs/operations.md recommends a pooler in
front of PostgreSQL): a PgBouncer of the test's own on a free port, in front of a fresh database
of the test server; skipped where PgBouncer is not installed (Debian: ``apt-get install
pgbouncer``), failed with ``JOURNALLOFT_TEST_REQUIRE_SERVICES=1``."""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from support import free_port, people, tenant_document
from support.platform import Backend, TestPlatform, provide_backend, start_platform, unavailable
from support.security import an_hour_ago
from support.servers import wait_for

AT = an_hour_ago()
PEOPLE = people(20, seed="pgbouncer")


@pytest.fixture
def bouncer() -> Iterator[Backend]:
    """A fresh database, reached through PgBouncer in transaction mode."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(binary).exists():
        unavailable("pgbouncer is not installed")
    for backend in provide_backend("postgresql"):
        assert backend.database_url is not None
        server = make_url(backend.database_url)
        port = free_port()
        directory = Path(tempfile.mkdtemp(prefix="journalloft-pgbouncer-"))
        (directory / "users.txt").write_text(f'"{server.username}" ""\n', encoding="utf-8")
        (directory / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={server.host} port={server.port or 5432}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {directory / 'users.txt'}\n"
            "pool_mode = transaction\ndefault_pool_size = 10\nmax_client_conn = 500\n"
            "ignore_startup_parameters = extra_float_digits,options\n",
            encoding="utf-8",
        )
        as_user: dict[str, Any] = {}
        if os.geteuid() == 0:  # PgBouncer refuses to run as root
            owner = pwd.getpwnam("postgres")
            os.chown(directory, owner.pw_uid, owner.pw_gid)
            as_user = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
        process = subprocess.Popen(
            [binary, str(directory / "pgbouncer.ini")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **as_user,
        )
        url = server.set(host="127.0.0.1", port=port)
        libpq = f"postgresql://{server.username}@127.0.0.1:{port}/{server.database}"
        try:
            wait_for("PgBouncer answers", functools.partial(answers, libpq))
            yield Backend(
                "postgresql", url.render_as_string(hide_password=False), backend.redis_url
            )
        finally:
            process.terminate()
            process.wait(timeout=15)
            shutil.rmtree(directory, ignore_errors=True)


def answers(libpq: str) -> bool:
    with psycopg.connect(libpq, connect_timeout=1) as connection:
        connection.execute("SELECT 1")
    return True


@pytest.fixture
def pooled(bouncer: Backend, tmp_path: Path) -> Iterator[TestPlatform]:
    yield from start_platform(bouncer, tmp_path, query_prepared_statements=0)


def test_the_platform_works_through_pgbouncer_in_transaction_mode(pooled: TestPlatform) -> None:
    platform = pooled
    platform.onboard(tenant_document("1804"))
    epj, legevakt = platform.headers("bodo-epj"), platform.headers("bodo-legevakt")
    for batch in range(8):  # more than psycopg's threshold (5) for preparing a statement
        records = [
            {"id": f"b{batch}-{i}", "patient": p, "updated": AT, "effective": AT, "spo2_scale": 1}
            for i, p in enumerate(PEOPLE)
        ]
        answer = platform.client.post(
            "/v1/tenants/1804/news2/records", json={"records": records}, headers=epj
        )
        assert answer.status_code == 200, answer.text
    statuses: list[int] = []

    def look() -> None:
        for _ in range(10):
            answer = platform.client.post(
                "/v1/news2/query", json={"patients": PEOPLE}, headers=legevakt
            )
            statuses.append(answer.status_code)
            assert len(answer.json()["results"]) == len(PEOPLE), answer.text

    threads = [threading.Thread(target=look) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200] * 60
    assert platform.client.get("/readyz").status_code == 200
