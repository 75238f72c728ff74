"""The query path's access to tenant stores: reads through the driver, writes group-committed.

- PostgreSQL: psycopg 3's async pool on the event loop (no worker thread), one pool per server
  for every tenant on it.
- SQLite (embedded default): the tenant's file through its pooled sqlite3 connections, on a
  worker thread.

Statements come from :mod:`journalloft.platform.statements`. Reads need no transaction around
them. Writes (the query path's only writes are its audit events) are group-committed per tenant:
a write that finds another in flight waits for it and then goes in the next transaction together
with everything else that arrived meanwhile; alone, it goes at once. Under load this turns one
commit per request into one per batch, and :meth:`TenantReads.write` still returns only when its
rows are committed, or raises :class:`WriteRefused`.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Insert
from sqlalchemy.engine import make_url
from sqlalchemy.sql import ClauseElement
from starlette.concurrency import run_in_threadpool

from journalloft.platform.statements import (
    ROWS,
    CompiledStatement,
    StatementCompiler,
    insert_from_json,
)
from journalloft.platform.storage import Stores
from journalloft.platform.tenancy import tenant_schema_name

sql_log = logging.getLogger("journalloft.sql")
"""Every statement of the query path at DEBUG (the SQL only, never its parameters)."""

Query = tuple[ClauseElement, Mapping[str, Any]]
Rows = list[tuple[Any, ...]]
Row = Mapping[str, Any]


class WriteRefused(Exception):
    """The store refused a write; nothing of it was committed."""


class _Batch:
    __slots__ = ("columns", "rows", "statement", "waiting")

    def __init__(self, statement: Insert, columns: Sequence[str]) -> None:
        self.statement = statement
        self.columns = columns
        self.rows: list[Row] = []
        self.waiting: list[asyncio.Future[None]] = []


class TenantReads:
    """Reads and group-committed writes of the query path; see the module docstring."""

    def __init__(self, compiler: StatementCompiler) -> None:
        self._compile = compiler
        self._queued: dict[tuple[str, int], _Batch] = {}
        self._flushing: dict[tuple[str, int], asyncio.Task[None]] = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        """Wait for the writes in flight."""
        while self._flushing:
            await asyncio.gather(*self._flushing.values(), return_exceptions=True)

    async def fetch(self, kommunenummer: str, *queries: Query) -> list[Rows]:
        """Run the queries in this tenant's store, one after another; return their rows."""
        compiled = [(self._compile(statement), values) for statement, values in queries]
        return await self._fetch(kommunenummer, compiled)

    async def write(
        self,
        kommunenummer: str,
        statement: Insert,
        columns: Sequence[str],
        rows: Sequence[Row],
    ) -> None:
        """Insert ``rows`` (each with every one of ``columns``); return once they are committed.

        Raises :class:`WriteRefused` if the transaction they went in failed.
        """
        if not rows:
            return
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        key = (kommunenummer, id(statement))
        batch = self._queued.get(key)
        if batch is None:
            batch = self._queued[key] = _Batch(statement, columns)
        batch.rows.extend(rows)
        batch.waiting.append(done)
        if key not in self._flushing:
            self._flushing[key] = loop.create_task(self._flush(key))
        await done

    async def _flush(self, key: tuple[str, int]) -> None:
        """Write this key's batches until none is waiting (one transaction each)."""
        kommunenummer, _ = key
        try:
            while (batch := self._queued.pop(key, None)) is not None:
                await self._write_batch(kommunenummer, batch)
        finally:
            del self._flushing[key]

    async def _write_batch(self, kommunenummer: str, batch: _Batch) -> None:
        try:
            await self._write(kommunenummer, batch.statement, batch.columns, batch.rows)
        except Exception as exc:  # every waiter learns that its rows were not committed
            sql_log.warning("a group-committed write failed: %s", type(exc).__name__)
            for done in batch.waiting:
                if not done.done():
                    done.set_exception(WriteRefused(type(exc).__name__))
        else:
            for done in batch.waiting:
                if not done.done():
                    done.set_result(None)

    async def _fetch(
        self, kommunenummer: str, queries: Sequence[tuple[CompiledStatement, Mapping[str, Any]]]
    ) -> list[Rows]:
        raise NotImplementedError

    async def _write(
        self, kommunenummer: str, statement: Insert, columns: Sequence[str], rows: Sequence[Row]
    ) -> None:
        raise NotImplementedError


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://…``) as libpq takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresReads(TenantReads):
    """One async pool per PostgreSQL server, shared by every tenant on it (opened in the app's
    lifespan, on its event loop)."""

    def __init__(self, stores: Stores, *, pool_size: int) -> None:
        super().__init__(StatementCompiler.for_backend(postgres=True))
        assert stores.settings.database_url is not None
        self._stores = stores
        self._pool_size = pool_size
        self._pools: dict[str, AsyncConnectionPool] = {}
        self._lock: asyncio.Lock | None = None
        self._inserts: dict[int, tuple[Insert, CompiledStatement]] = {}

    async def _pool(self, url: str) -> AsyncConnectionPool:
        pool = self._pools.get(url)
        if pool is not None:
            return pool
        if self._lock is None:
            self._lock = asyncio.Lock()
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
        self._lock = asyncio.Lock()
        await self._pool(self._server_url(None))

    async def close(self) -> None:
        await super().close()
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.close()

    def _server_url(self, kommunenummer: str | None) -> str:
        settings = self._stores.settings
        own = settings.tenant_database_urls.get(kommunenummer) if kommunenummer else None
        url = own or settings.database_url
        assert url is not None
        return url

    async def _fetch(
        self, kommunenummer: str, queries: Sequence[tuple[CompiledStatement, Mapping[str, Any]]]
    ) -> list[Rows]:
        schema = tenant_schema_name(kommunenummer)
        pool = await self._pool(self._server_url(kommunenummer))
        found = []
        async with pool.connection() as connection, connection.cursor() as cursor:
            for compiled, values in queries:
                text = compiled.text(schema)
                sql_log.debug("%s", text)
                await cursor.execute(text, compiled.parameters(values))
                found.append(compiled.rows(await cursor.fetchall()))
        return found

    def _many(self, statement: Insert, columns: Sequence[str]) -> CompiledStatement:
        many = self._inserts.get(id(statement))
        if many is None or many[0] is not statement:
            many = self._inserts[id(statement)] = (
                statement,
                self._compile(insert_from_json(statement.table, columns)),
            )
        return many[1]

    async def _write(
        self, kommunenummer: str, statement: Insert, columns: Sequence[str], rows: Sequence[Row]
    ) -> None:
        # One statement whatever the batch size: atomic under autocommit, one round trip.
        many = self._many(statement, columns)
        text = many.text(tenant_schema_name(kommunenummer))
        sql_log.debug("%s", text)
        batch = orjson.dumps(rows, option=orjson.OPT_UTC_Z).decode()
        pool = await self._pool(self._server_url(kommunenummer))
        async with pool.connection() as connection:
            await connection.execute(text, many.parameters({ROWS: batch}))


class SqliteReads(TenantReads):
    """The tenant's own file, through the same pooled sqlite3 connections as its engine."""

    def __init__(self, stores: Stores) -> None:
        super().__init__(StatementCompiler.for_backend(postgres=False))
        self._stores = stores

    def _driver(self, kommunenummer: str) -> tuple[Any, sqlite3.Connection]:
        pooled = self._stores.tenant_engine(kommunenummer).raw_connection()
        connection = pooled.driver_connection
        assert isinstance(connection, sqlite3.Connection)
        return pooled, connection

    def _fetch_now(
        self, kommunenummer: str, queries: Sequence[tuple[CompiledStatement, Mapping[str, Any]]]
    ) -> list[Rows]:
        pooled, connection = self._driver(kommunenummer)
        try:
            found = []
            for compiled, values in queries:
                sql_log.debug("%s", compiled.sql)
                cursor = connection.execute(compiled.sql, compiled.parameters(values))
                found.append(compiled.rows(cursor.fetchall()))
            return found
        finally:
            pooled.close()

    async def _fetch(
        self, kommunenummer: str, queries: Sequence[tuple[CompiledStatement, Mapping[str, Any]]]
    ) -> list[Rows]:
        return await run_in_threadpool(self._fetch_now, kommunenummer, queries)

    def _write_now(
        self, kommunenummer: str, statement: Insert, columns: Sequence[str], rows: Sequence[Row]
    ) -> None:
        compiled = self._compile(statement, columns)
        pooled, connection = self._driver(kommunenummer)
        try:
            sql_log.debug("%s", compiled.sql)
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.executemany(compiled.sql, [compiled.parameters(row) for row in rows])
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        finally:
            pooled.close()

    async def _write(
        self, kommunenummer: str, statement: Insert, columns: Sequence[str], rows: Sequence[Row]
    ) -> None:
        await run_in_threadpool(self._write_now, kommunenummer, statement, columns, rows)


def connect_reads(stores: Stores, *, pool_size: int = 10) -> TenantReads:
    if stores.postgres:
        return PostgresReads(stores, pool_size=pool_size)
    return SqliteReads(stores)
