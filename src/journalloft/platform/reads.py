"""The query path's unit of work: one transaction in one tenant's store, through the driver.

- PostgreSQL: psycopg 3's async pool, on the event loop (no worker thread), one pool per server for
  every tenant on it; statements are pipelined, so a lookup (restrictions and data) is one round
  trip and its audit insert another. Each statement commits on its own (autocommit): a read needs
  no transaction around it, and the audit insert is committed when :meth:`ReadSession.insert`
  returns, before anything is sent.
- SQLite (embedded default): the tenant's file through sqlite3 on a worker thread, under
  ``BEGIN IMMEDIATE`` as every other unit of work there.

Statements come from :mod:`journalloft.platform.statements`. A write the store could not make
raises :class:`WriteRefused`; nothing written in a session outlives an error in its block except
on PostgreSQL, where an insert is committed when it returns (the query path's only write is its
audit events, which must stand whatever happens after them).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

import psycopg
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.engine import make_url
from sqlalchemy.sql import ClauseElement
from starlette.concurrency import run_in_threadpool

from journalloft.platform.statements import StatementCompiler
from journalloft.platform.storage import Stores
from journalloft.platform.tenancy import tenant_schema_name

sql_log = logging.getLogger("journalloft.sql")
"""Every statement of the query path at DEBUG (the SQL only, never its parameters)."""

Query = tuple[ClauseElement, Mapping[str, Any]]
Rows = list[tuple[Any, ...]]


class WriteRefused(Exception):
    """The store refused a write of the session (the transaction is rolled back)."""


class ReadSession(Protocol):
    async def fetch(self, *queries: Query) -> list[Rows]:
        """Run the queries together (one round trip where the driver can) and return their rows."""
        ...

    async def insert(
        self, statement: ClauseElement, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """Insert ``rows`` (each with every one of ``columns``); raise :class:`WriteRefused`."""
        ...


class TenantReads(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def session(self, kommunenummer: str) -> Any:
        """``async with reads.session(k) as session``: one transaction in that tenant's store."""
        ...


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://…``) as libpq takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class _PostgresSession:
    def __init__(
        self,
        connection: psycopg.AsyncConnection[Any],
        pipeline: psycopg.AsyncPipeline,
        schema: str,
        compiler: StatementCompiler,
    ) -> None:
        self._connection = connection
        self._pipeline = pipeline
        self._schema = schema
        self._compile = compiler

    async def fetch(self, *queries: Query) -> list[Rows]:
        pending = []
        for statement, values in queries:
            compiled = self._compile(statement)
            text = compiled.text(self._schema)
            sql_log.debug("%s", text)
            cursor = self._connection.cursor()
            await cursor.execute(text, compiled.parameters(values))
            pending.append((cursor, compiled))
        return [compiled.rows(await cursor.fetchall()) for cursor, compiled in pending]

    async def insert(
        self, statement: ClauseElement, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]
    ) -> None:
        compiled = self._compile(statement, columns)
        text = compiled.text(self._schema)
        sql_log.debug("%s", text)
        try:
            async with self._connection.cursor() as cursor:
                await cursor.executemany(text, [compiled.parameters(row) for row in rows])
            await self._pipeline.sync()  # a pipelined error surfaces here, not at commit
        except psycopg.DatabaseError as exc:
            raise WriteRefused(type(exc).__name__) from exc


class PostgresReads:
    """One async pool per PostgreSQL server, shared by every tenant on it (opened in the app's
    lifespan, on its event loop)."""

    def __init__(self, stores: Stores, *, pool_size: int) -> None:
        assert stores.settings.database_url is not None
        self._stores = stores
        self._pool_size = pool_size
        self._compile = StatementCompiler.for_backend(postgres=True)
        self._pools: dict[str, AsyncConnectionPool] = {}
        self._lock = asyncio.Lock()

    async def _pool(self, url: str) -> AsyncConnectionPool:
        pool = self._pools.get(url)
        if pool is not None:
            return pool
        async with self._lock:
            pool = self._pools.get(url)
            if pool is None:
                pool = AsyncConnectionPool(
                    libpq_url(url),
                    min_size=1,
                    max_size=self._pool_size,
                    kwargs={"autocommit": True},
                    open=False,
                    name="journalloft-reads",
                )
                await pool.open()
                self._pools[url] = pool
            return pool

    async def open(self) -> None:
        await self._pool(self._server_url(None))

    async def close(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.close()

    def _server_url(self, kommunenummer: str | None) -> str:
        settings = self._stores.settings
        own = settings.tenant_database_urls.get(kommunenummer) if kommunenummer else None
        url = own or settings.database_url
        assert url is not None
        return url

    @asynccontextmanager
    async def session(self, kommunenummer: str) -> AsyncIterator[ReadSession]:
        schema = tenant_schema_name(kommunenummer)
        pool = await self._pool(self._server_url(kommunenummer))
        async with pool.connection() as connection, connection.pipeline() as pipeline:
            yield _PostgresSession(connection, pipeline, schema, self._compile)


class _SqliteSession:
    def __init__(self, connection: sqlite3.Connection, compiler: StatementCompiler) -> None:
        self._connection = connection
        self._compile = compiler

    def _fetch(self, queries: Sequence[Query]) -> list[Rows]:
        found = []
        for statement, values in queries:
            compiled = self._compile(statement)
            sql_log.debug("%s", compiled.sql)
            fetched = self._connection.execute(compiled.sql, compiled.parameters(values))
            found.append(compiled.rows(fetched.fetchall()))
        return found

    async def fetch(self, *queries: Query) -> list[Rows]:
        return await run_in_threadpool(self._fetch, queries)

    def _insert(
        self, statement: ClauseElement, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]
    ) -> None:
        compiled = self._compile(statement, columns)
        sql_log.debug("%s", compiled.sql)
        try:
            self._connection.executemany(compiled.sql, [compiled.parameters(row) for row in rows])
        except sqlite3.DatabaseError as exc:
            raise WriteRefused(type(exc).__name__) from exc

    async def insert(
        self, statement: ClauseElement, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]
    ) -> None:
        await run_in_threadpool(self._insert, statement, columns, rows)


class SqliteReads:
    """The tenant's own file, through the same pooled sqlite3 connections as its engine."""

    def __init__(self, stores: Stores) -> None:
        self._stores = stores
        self._compile = StatementCompiler.for_backend(postgres=False)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _begin(self, kommunenummer: str) -> Any:
        pooled = self._stores.tenant_engine(kommunenummer).raw_connection()
        assert pooled.driver_connection is not None
        try:
            # As every unit of work here: take the write lock up front (the audit event is a
            # write), so that two transactions never deadlock upgrading a read lock.
            pooled.driver_connection.execute("BEGIN IMMEDIATE")
        except BaseException:
            pooled.close()
            raise
        return pooled

    @staticmethod
    def _end(pooled: Any, *, commit: bool) -> None:
        try:
            connection = pooled.driver_connection
            if connection.in_transaction:
                connection.execute("COMMIT" if commit else "ROLLBACK")
        finally:
            pooled.close()

    @asynccontextmanager
    async def session(self, kommunenummer: str) -> AsyncIterator[ReadSession]:
        pooled = await run_in_threadpool(self._begin, kommunenummer)
        try:
            yield _SqliteSession(pooled.driver_connection, self._compile)
        except BaseException:
            await run_in_threadpool(self._end, pooled, commit=False)
            raise
        await run_in_threadpool(self._end, pooled, commit=True)


def connect_reads(stores: Stores, *, pool_size: int = 10) -> TenantReads:
    if stores.postgres:
        return PostgresReads(stores, pool_size=pool_size)
    return SqliteReads(stores)
