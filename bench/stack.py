"""Stores, tenants, clients and server processes for the benchmarks.

Every process started here is started in its own session and stopped by its own process group
id; nothing else is touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import yaml
from joserfc.jwk import ECKey, import_key

from journalloft.client import token_form
from journalloft.platform.core.settings import Settings
from journalloft.platform.operations.demo import ensure_demo_clients
from journalloft.platform.operations.onboarding import onboard
from journalloft.platform.runtime import build_runtime
from journalloft.platform.storage.migrations import migrate_platform, migrate_tenant

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
"""The bench's Redis database (the live phase empties it); ``BENCH_REDIS_URL`` gives another.
Database 12: the test suites' engineers use 1-9 and 14-15."""
DATABASE_PREFIX = os.environ.get("BENCH_DATABASE_PREFIX", "journalloft_bench")
"""The bench's PostgreSQL databases are ``<prefix>_<scale>_<tenants>`` (and ``_live_``, ``_soak``);
``BENCH_DATABASE_PREFIX`` keeps two checkouts' datasets on one cluster apart."""
SERVER_SRC = Path(os.environ.get("BENCH_SERVER_SRC") or ROOT / "src")
"""The sources the servers under test run (``PYTHONPATH``): this checkout's ``src`` unless
``--compare`` points a run at another revision's tree. The bench itself (onboarding, data) always
runs this checkout's."""

PORT_OFFSET = int(os.environ.get("BENCH_PORT_OFFSET") or 0)
"""Added to every port the bench's servers listen on (8301-8315): two checkouts' runs apart."""


def port(base: int) -> int:
    return base + PORT_OFFSET


def database_name(suffix: str) -> str:
    return f"{DATABASE_PREFIX}_{suffix}"


def pg_url(database: str, *, driver: bool = True) -> str:
    scheme = "postgresql+psycopg" if driver else "postgresql"
    return f"{scheme}://postgres@127.0.0.1:5432/{database}"


def prewarm(database: str) -> tuple[int, float]:
    """Analyze what autovacuum would, then read every table and index of the tenants' schemas
    into PostgreSQL's buffers (pg_prewarm), so that each point measures the same warm cache, not
    the disk, with plans from current statistics; (relations, MiB).

    Analyzing here matters where autovacuum is off (this machine's PostgreSQL is configured so):
    a table loaded in bulk otherwise keeps the planner's idea of it from when it was empty."""
    with psycopg.connect(pg_url(database, driver=False), autocommit=True) as conn:
        stale = conn.execute(
            "SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables "
            "WHERE n_mod_since_analyze > 50 + 0.1 * n_live_tup"
        ).fetchall()
        for (table,) in stale:
            conn.execute(f"ANALYZE {table}")
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        rows = conn.execute(
            "SELECT c.oid::regclass::text, pg_relation_size(c.oid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname LIKE 'tenant\\_%' AND c.relkind IN ('r', 'i')"
        ).fetchall()
        for name, _ in rows:
            conn.execute("SELECT pg_prewarm(%s)", (name,))
    return len(rows), sum(size for _, size in rows) / 2**20


def shared_buffers() -> str:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        row = conn.execute("SHOW shared_buffers").fetchone()
    return str(row[0]) if row else "?"


def database_exists(name: str) -> bool:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        return (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            is not None
        )


def recreate_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


@dataclass
class Stack:
    """One dataset: a store (a PostgreSQL database or a SQLite data directory) and its tenants."""

    name: str
    data_dir: Path
    database: str | None
    documents: list[dict[str, Any]] = field(default_factory=list)

    @property
    def database_url(self) -> str | None:
        return pg_url(self.database) if self.database else None

    @property
    def kind(self) -> str:
        return "postgresql" if self.database else "sqlite"

    def env(self, port: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNALLOFT_")}
        env.update(
            PYTHONPATH=f"{SERVER_SRC}{os.pathsep}{ROOT}",
            JOURNALLOFT_ENVIRONMENT="test",
            JOURNALLOFT_DATA_DIR=str(self.data_dir),
            JOURNALLOFT_PORT=str(port),
            JOURNALLOFT_PUBLIC_URL=f"http://127.0.0.1:{port}",
            JOURNALLOFT_ACCESS_TOKEN_LIFETIME_SECONDS="3600",
        )
        if self.database:
            env["JOURNALLOFT_DATABASE_URL"] = pg_url(self.database)
            env["JOURNALLOFT_REDIS_URL"] = REDIS_URL
        return env

    def settings(self, port: int) -> Settings:
        return Settings(
            environment="test",
            data_dir=self.data_dir,
            database_url=self.database_url,
            redis_url=REDIS_URL if self.database else None,
            port=port,
            public_url=f"http://127.0.0.1:{port}",
        )

    @property
    def clients_file(self) -> Path:
        return self.data_dir / "bench-clients.json"

    @property
    def meta_file(self) -> Path:
        return self.data_dir / "bench-dataset.json"

    def read_meta(self) -> dict[str, Any] | None:
        if not self.meta_file.exists():
            return None
        if self.database and not database_exists(self.database):
            return None
        meta: dict[str, Any] = json.loads(self.meta_file.read_text("utf-8"))
        return meta

    def write_meta(self, meta: dict[str, Any]) -> None:
        self.meta_file.write_text(json.dumps(meta, indent=1), "utf-8")

    def reset(self) -> None:
        """Empty store, no tenants."""
        if self.database:
            recreate_database(self.database)
        if self.data_dir.exists():
            for path in sorted(self.data_dir.rglob("*"), reverse=True):
                path.unlink() if path.is_file() else path.rmdir()
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def onboard(self, documents: Sequence[dict[str, Any]], port: int) -> float:
        """Onboard every tenant (validate, create + migrate its store, register its clients)
        and give every client a key; return the seconds it took."""
        started = time.perf_counter()
        settings = self.settings(port)
        runtime = build_runtime(settings)
        try:
            migrate_platform(runtime.stores)
            folder = self.data_dir / "tenant-files"
            folder.mkdir(parents=True, exist_ok=True)
            for document in documents:
                path = folder / f"{document['kommunenummer']}.yaml"
                path.write_text(yaml.safe_dump(document, allow_unicode=True), "utf-8")
                onboard(
                    path, stores=runtime.stores, schemas=runtime.schemas, services=runtime.services
                )
            runtime.tenants.reload()
            ensure_demo_clients(runtime, self.clients_file)
        finally:
            runtime.close()
        self.documents = list(documents)
        return time.perf_counter() - started

    def migrate(self, port: int) -> None:
        """Bring a kept store to the code's newest revisions (cheap when it is current)."""
        runtime = build_runtime(self.settings(port))
        try:
            migrate_platform(runtime.stores)
            for tenant in runtime.tenants.all():
                migrate_tenant(runtime.stores, tenant.kommunenummer, runtime.services.values())
        finally:
            runtime.close()

    def private_keys(self) -> dict[str, dict[str, Any]]:
        return {
            c["client_id"]: c["private_jwk"]
            for c in json.loads(self.clients_file.read_text("utf-8"))
        }


def get_tokens(
    base: str, keys: dict[str, dict[str, Any]], client_ids: Sequence[str]
) -> dict[str, str]:
    """Real access tokens from the running server's built-in issuer (private_key_jwt)."""
    tokens = {}
    with httpx.Client(base_url=base, timeout=30) as client:
        issuer = client.get("/.well-known/oauth-authorization-server").json()["issuer"]
        for client_id in client_ids:
            key = import_key(keys[client_id])
            assert isinstance(key, ECKey)
            response = client.post("/oauth/token", data=token_form(client_id, key, audience=issuer))
            response.raise_for_status()
            tokens[client_id] = response.json()["access_token"]
    return tokens


# -- processes -----------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(p) for p in (task / "children").read_text().split()]
    return found


def process_tree(pid: int) -> list[int]:
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending += _children(current)
    return tree


def _status_kib(pid: int, field_name: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


RUNNING: set[Server] = set()


def stop_all(signum: int = 0, _frame: object = None) -> None:
    """Stop every server this run started (also on SIGTERM/SIGINT), then exit if signalled."""
    for server in list(RUNNING):
        server.stop()
    if signum:
        os._exit(128 + signum)


class Server:
    """A server process (tree) on a loopback port, stopped by its own process group."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str],
        port: int,
        log: Path,
        database: str | None = None,
    ):
        self.database = database
        self.name = name
        self.argv = argv
        self.env = env
        self.port = port
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_path: str = "/healthz", timeout: float = 120.0) -> Server:
        with socket.socket() as probe:  # another's server there would answer for this one
            if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                raise RuntimeError(
                    f"port {self.port} is in use (another bench run?); BENCH_PORT_OFFSET moves "
                    "this run's ports"
                )
        self.log.parent.mkdir(parents=True, exist_ok=True)
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        handle.close()
        RUNNING.add(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early; see {self.log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base + ready_path, timeout=2).status_code < 500:
                    # every worker up: a few more answers from the shared socket
                    for _ in range(20):
                        httpx.get(self.base + ready_path, timeout=2)
                    return self
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer on {self.base}{ready_path}; see {self.log}")

    def workers(self) -> list[int]:
        return process_tree(self.process.pid) if self.process else []

    def peak_rss_mib(self) -> tuple[float, float]:
        """(largest peak RSS of one process, sum of peak RSS over the process tree) in MiB."""
        peaks = [_status_kib(pid, "VmHWM") for pid in self.workers()]
        return (max(peaks, default=0) / 1024, sum(peaks) / 1024)

    def stop(self) -> None:
        RUNNING.discard(self)
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def __enter__(self) -> Server:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def journalloft_server(stack: Stack, *, port: int, workers: int, log: Path) -> Server:
    argv = [str(BIN / "journalloft"), "serve", "--port", str(port), "--workers", str(workers)]
    return Server(
        f"journalloft ({stack.kind})",
        argv,
        env=stack.env(port),
        port=port,
        log=log,
        database=stack.database,
    )


def uvicorn_server(
    name: str,
    factory: str,
    *,
    port: int,
    workers: int,
    env: dict[str, str],
    log: Path,
    database: str | None = None,
) -> Server:
    argv = [
        str(BIN / "uvicorn"),
        factory,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    return Server(name, argv, env={**os.environ, **env}, port=port, log=log, database=database)


@contextlib.contextmanager
def running(server: Server, ready_path: str = "/healthz") -> Iterator[Server]:
    server.start(ready_path)
    try:
        yield server
    finally:
        server.stop()
