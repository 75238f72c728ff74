"""Real servers the fault tests may stop, kill and start again: their own PostgreSQL and Redis on
free loopback ports (never the shared ones), and the platform as ``journalloft serve`` runs it.

Every wait here has a timeout. With ``JOURNALLOFT_TEST_REQUIRE_SERVICES=1`` a server that cannot
start fails the test (:func:`~support.platform.unavailable`), else it is skipped.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import redis
from joserfc.jwk import ECKey, import_key

from support import free_port, token_form
from support.platform import REPO, Backend, unavailable

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], *, timeout: float = 30.0) -> T:
    """``probe()`` until it returns something; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            found = probe()
            if found is not None and found is not False:
                return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes], sig: int, *, timeout: float = 15.0) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


class RedisServer:
    """``redis-server`` on a free loopback port, without persistence."""

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            unavailable("redis-server is not installed")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--daemonize", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=1, socket_timeout=1)
        try:
            wait_for("redis-server answers", client.ping, timeout=10)
        except AssertionError as exc:
            self.stop()
            unavailable(f"redis-server did not start: {exc}")
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process, signal.SIGKILL)
            self.process = None


class PostgresServer:
    """A PostgreSQL cluster of its own in a temporary directory, on a free loopback port (as the
    ``postgres`` user when the tests run as root: initdb and postgres refuse root)."""

    def __init__(self) -> None:
        if not (POSTGRES_BIN / "initdb").exists():
            unavailable(f"PostgreSQL's binaries are not in {POSTGRES_BIN}")
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self.directory = Path(tempfile.mkdtemp(prefix="journalloft-pg-"))
        self.data = self.directory / "data"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = self.directory / "server.log"
        """The server's log (its stderr), with PostgreSQL's default log settings."""
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
            self._as = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
        done = subprocess.run(
            [
                str(POSTGRES_BIN / "initdb"),
                *("-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync"),
            ],
            capture_output=True,
            timeout=60,
            check=False,
            **self._as,
        )
        if done.returncode != 0:
            unavailable(f"initdb failed: {done.stderr.decode(errors='replace')[-300:]}")

    def start(self) -> None:
        with self.log.open("ab") as log:  # the server writes on; this process needs no handle
            self.process = subprocess.Popen(
                [
                    str(POSTGRES_BIN / "postgres"),
                    *("-D", str(self.data), "-p", str(self.port), "-k", str(self.directory)),
                    *("-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"),
                    *("-c", "max_connections=100", "-c", "shared_buffers=32MB"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
                **self._as,
            )
        try:
            wait_for("PostgreSQL accepts connections", self._connects, timeout=30)
        except AssertionError as exc:
            self.stop()
            unavailable(f"PostgreSQL did not start: {exc}")

    def _connects(self) -> bool:
        with psycopg.connect(self.libpq(), connect_timeout=1) as connection:
            connection.execute("SELECT 1")
        return True

    def libpq(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def freeze(self, frozen: bool) -> None:
        """Stop (``SIGSTOP``) or continue (``SIGCONT``) the server and every backend: a server
        that keeps its connections open and answers nothing, as a stalled VM or disk does."""
        assert self.process is not None
        sig = signal.SIGSTOP if frozen else signal.SIGCONT
        children = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        for pid in [self.process.pid, *map(int, children)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def stop(self) -> None:
        """Immediate shutdown (SIGQUIT): every session is dropped, as when the server dies."""
        if self.process is not None:
            _stop(self.process, signal.SIGQUIT)
            self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def own_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def with_redis(backend: Backend, server: RedisServer) -> Backend:
    """``backend``'s store with ``server`` as its Redis, emptied first (a test's own Redis, which
    it may stop and start)."""
    redis.Redis.from_url(server.url).flushall()
    return replace(backend, redis_url=server.url)


def own_postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.remove()


@dataclass
class ServedPlatform:
    """``journalloft serve`` in a process group of its own, with the pilot tenants and their
    demo clients, on a free port."""

    data_dir: Path
    database_url: str | None = None
    redis_url: str | None = None
    workers: int = 1
    settings: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)
    _keys: dict[str, ECKey] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNALLOFT_")}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env.update(
            JOURNALLOFT_HOME=str(REPO),
            JOURNALLOFT_DATA_DIR=str(self.data_dir),
            JOURNALLOFT_PORT=str(self.port),
            JOURNALLOFT_PURGE_INTERVAL_SECONDS="0",
            JOURNALLOFT_TENANT_CACHE_SECONDS="0",
        )
        if self.database_url:
            env["JOURNALLOFT_DATABASE_URL"] = self.database_url
        if self.redis_url:
            env["JOURNALLOFT_REDIS_URL"] = self.redis_url
        env.update(self.settings)
        return env

    def command(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "journalloft.cli", *args],
            env=self.env(),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
        return done.stdout.decode()

    def python(self, code: str, *, timeout: float = 120) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=self.env(),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
        return done.stdout.decode()

    def prepare(self) -> None:
        """Onboard the pilots and give their clients (and an admin) keys."""
        tenants = [str(p) for p in sorted(REPO.glob("tenants/*.yaml"))]
        self.python(  # one process for both commands: each start costs seconds of imports
            "from journalloft.cli import main\n"
            f"assert main(['tenants', 'onboard', *{tenants!r}]) == 0\n"
            "assert main(['demo', '--people', '1']) == 0\n"
        )
        clients = json.loads((self.data_dir / "demo-clients.json").read_text("utf-8"))
        for client in clients:
            key = import_key(client["private_jwk"])
            assert isinstance(key, ECKey)
            self._keys[client["client_id"]] = key

    def start(self, *, timeout: float = 60) -> None:
        log = self.data_dir / f"serve-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "journalloft.cli", "serve"),
                    *("--port", str(self.port), "--workers", str(self.workers)),
                ],
                env=self.env(),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill -9 reaches every worker
            )
        wait_for(
            "the platform serves",
            lambda: httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200,
            timeout=timeout,
        )

    def kill(self) -> None:
        """``kill -9`` of the server and its workers, mid-whatever."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None

    def log_text(self) -> str:
        return "".join(p.read_text("utf-8", errors="replace") for p in self.logs if p.exists())

    def token(self, client_id: str, scope: str | None = None) -> str:
        response = httpx.post(
            f"{self.url}/oauth/token",
            data=token_form(client_id, self._keys[client_id], audience=self.url, scope=scope),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def headers(self, client_id: str, scope: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(client_id, scope)}"}


@contextlib.contextmanager
def served(platform: ServedPlatform) -> Iterator[ServedPlatform]:
    platform.prepare()
    platform.start()
    try:
        yield platform
    finally:
        platform.stop()
