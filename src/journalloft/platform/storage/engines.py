"""Stores: the platform's own, and one logically separated store per tenant.

- PostgreSQL: one schema per tenant (``tenant_1804``). A tenant's engine is the shared engine with a
  ``schema_translate_map``, so every tenant on one server shares one connection pool.
- SQLite (embedded default): one database file per tenant under the data directory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg.abc import PQGen
from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.schema import CreateSchema, DropSchema

from journalloft.platform.core.settings import Settings
from journalloft.platform.core.tenancy import tenant_schema_name
from journalloft.platform.observability.metrics import server_label
from journalloft.platform.storage.tables import TENANT

RV = TypeVar("RV")


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever driver the URL names."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() != "psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_engine(path: Path) -> Engine:
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        f"sqlite:///{path}",
        connect_args={"timeout": 30, "check_same_thread": False},
        hide_parameters=True,  # an error's text must never quote a client's values
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Every request may write (an audit event at least): take the write lock up front so that
        # two transactions never deadlock upgrading a read lock.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def connect_args(settings: Settings) -> dict[str, Any]:
    """libpq's options of every PostgreSQL connection: a connection that cannot be made within
    the connect timeout fails, and a statement that runs (or waits for a lock) longer than the
    statement timeout is cancelled; either way the request gets a 503, and no worker hangs."""
    statement_ms = round(settings.database_statement_timeout_seconds * 1000)
    return {
        "connect_timeout": max(1, round(settings.database_connect_timeout_seconds)),
        "options": f"-c statement_timeout={statement_ms}",
    }


ANSWER_MARGIN_SECONDS = 2.0
"""How much longer than the server's own statement timeout a client waits for any answer from
PostgreSQL before it gives up on its side (the blocking connections here and the query path)."""


def answer_seconds(settings: Settings) -> float:
    """The longest a connection waits for an answer from PostgreSQL, on the client's side."""
    return settings.database_statement_timeout_seconds + ANSWER_MARGIN_SECONDS


class BoundedConnection(psycopg.Connection[Any]):
    """A blocking psycopg connection that waits for each answer at most ``answer_seconds``.

    The statement timeout is the server's own: a frozen server (stopped, its VM or disk
    stalled) enforces nothing, and a statement, a commit or a pool's ping on an open
    connection waited for it without end, holding a worker thread, and with it an ingest, a
    token request, a reload of the municipalities or ``/readyz``. Every wait of a blocking
    connection goes through :meth:`wait`; past the bound the connection is closed (its state
    mid-protocol is unknown), so the pool discards it, and the caller gets
    :class:`psycopg.OperationalError`: a ``503`` with ``Retry-After``, as for a server that is
    down. A unit of work that was committing may have been committed: writes are idempotent,
    and the client sends it again."""

    answer_seconds: float | None = None

    def wait(self, gen: PQGen[RV], interval: float = 0.1, timeout: float | None = None) -> RV:
        bound = timeout if timeout is not None else self.answer_seconds
        started = time.monotonic()
        try:
            return super().wait(gen, interval, bound)
        except psycopg.OperationalError:
            if bound is None or time.monotonic() - started < bound:
                raise  # the server answered with an error, or the connection broke
        self.close()
        raise psycopg.OperationalError(
            f"PostgreSQL did not answer within {bound:g} s; the connection was closed"
        )


def _bound_answers(engine: Engine, seconds: float) -> None:
    """Every connection ``engine`` makes is a :class:`BoundedConnection` waiting ``seconds``."""

    @event.listens_for(engine, "do_connect")
    def _connect(
        _dialect: Any, _record: Any, cargs: tuple[Any, ...], cparams: dict[str, Any]
    ) -> BoundedConnection:
        connection = BoundedConnection.connect(*cargs, **cparams)
        connection.answer_seconds = seconds
        return connection


def _checked_out(engine: Engine) -> int:
    checkedout = getattr(engine.pool, "checkedout", None)
    return int(checkedout()) if callable(checkedout) else 0


class Stores:
    """Engines for the platform store and every tenant store, created once per process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._server_engines: dict[str, Engine] = {}
        self._tenant_engines: dict[str, Engine] = {}
        if settings.database_url is None:
            self.postgres = False
            self.platform_engine = _sqlite_engine(settings.data_path / "platform.sqlite3")
        else:
            self.postgres = True
            self.platform_engine = self._server(settings.database_url)

    def _server(self, url: str) -> Engine:
        url = normalise_database_url(url)
        with self._lock:
            engine = self._server_engines.get(url)
            if engine is None:
                engine = create_engine(
                    url,
                    pool_size=10,
                    max_overflow=20,
                    pool_pre_ping=True,
                    pool_recycle=1800,
                    pool_timeout=self.settings.database_statement_timeout_seconds,
                    connect_args=connect_args(self.settings),
                    hide_parameters=True,  # an error's text must never quote a client's values
                )
                _bound_answers(engine, answer_seconds(self.settings))
                self._server_engines[url] = engine
            return engine

    def sqlite_path(self, kommunenummer: str) -> Path:
        tenant_schema_name(kommunenummer)
        return self.settings.data_path / "tenants" / f"{kommunenummer}.sqlite3"

    def tenant_engine(self, kommunenummer: str) -> Engine:
        """The engine that reaches exactly this tenant's store."""
        engine = self._tenant_engines.get(kommunenummer)
        if engine is not None:
            return engine
        schema = tenant_schema_name(kommunenummer)
        if self.postgres:
            url = self.settings.tenant_database_urls.get(kommunenummer)
            server = self._server(url) if url else self.platform_engine
            engine = server.execution_options(schema_translate_map={TENANT: schema})
        else:
            engine = _sqlite_engine(self.sqlite_path(kommunenummer)).execution_options(
                schema_translate_map={TENANT: None}
            )
        with self._lock:
            return self._tenant_engines.setdefault(kommunenummer, engine)

    @contextmanager
    def tenant_transaction(self, kommunenummer: str) -> Iterator[Connection]:
        """One unit of work in a tenant store: commits on success, rolls back on any error."""
        with self.tenant_engine(kommunenummer).begin() as connection:
            yield connection

    def tenant_store_exists(self, kommunenummer: str) -> bool:
        if not self.postgres:
            return self.sqlite_path(kommunenummer).exists()
        schema = tenant_schema_name(kommunenummer)
        with self.tenant_engine(kommunenummer).connect() as connection:
            return schema in inspect(connection).get_schema_names()

    def create_tenant_store(self, kommunenummer: str) -> None:
        if not self.postgres:
            self.sqlite_path(kommunenummer).parent.mkdir(parents=True, exist_ok=True)
            return
        with self.tenant_engine(kommunenummer).begin() as connection:
            connection.execute(CreateSchema(tenant_schema_name(kommunenummer), if_not_exists=True))

    def drop_tenant_store(self, kommunenummer: str) -> None:
        """Remove a tenant's store and everything in it."""
        engine = self._tenant_engines.pop(kommunenummer, None)
        if not self.postgres:
            if engine is not None:
                engine.dispose()
            path = self.sqlite_path(kommunenummer)
            for suffix in ("", "-wal", "-shm"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)
            return
        target = engine or self.tenant_engine(kommunenummer)
        with target.begin() as connection:
            connection.execute(
                DropSchema(tenant_schema_name(kommunenummer), cascade=True, if_exists=True)
            )
        self._tenant_engines.pop(kommunenummer, None)

    def pool_usage(self) -> list[tuple[str, int]]:
        """Connections checked out of the transaction pools: per PostgreSQL server, or all the
        SQLite files together as ``sqlite``."""
        if self.postgres:
            with self._lock:
                servers = list(self._server_engines.items())
            return [(server_label(url), _checked_out(engine)) for url, engine in servers]
        engines = [self.platform_engine, *self._tenant_engines.values()]
        return [("sqlite", sum(_checked_out(engine) for engine in engines))]

    def dispose(self) -> None:
        for engine in self._tenant_engines.values():
            engine.dispose()
        for engine in self._server_engines.values():
            engine.dispose()
        self.platform_engine.dispose()
