"""The query path's access to tenant stores: reads through the driver, writes group-committed.

- PostgreSQL: psycopg 3's async pool on the event loop (no worker thread), one pool per server
  for every tenant on it. A lookup is one statement, in one round trip. Sessions run in UTC,
  so psycopg reads instants as UTC ``datetime`` values already, and statements are prepared and
  planned once per connection (a generic plan: every query-path statement is an index lookup
  by person), so hundreds of tenants, whose statements differ by their schema, do not cost a
  plan per request.
- SQLite (embedded default): reads on two threads of their own, each with a read-only
  connection per tenant file (in WAL mode a reader never waits for a writer), handed over with
  asyncio's executor rather than the shared worker threads; writes through the file's pooled
  connections on a worker thread, since they wait for the file's write lock.

Statements come from :mod:`journalloft.platform.storage.statements`. Reads need no transaction
around them. Writes (the query path's only writes are its audit events) are group-committed per
store server: a write that finds another in flight waits for it and then goes in the next
transaction together with everything else that arrived meanwhile, for any tenant on that server;
alone, it goes at once. Under load this turns one commit per request into one per batch, and
:meth:`QueryPath.write` still returns only when its rows are committed, or raises
:class:`WriteRefused`.

One caller's rows can never fail another caller's commit: each caller's rows are checked
against the platform's rule for strings and serialised before they join a batch (what fails
there is refused to that caller alone), and a batch of several callers that fails for any other
reason than an unreachable server is written again caller by caller, so that only the caller
whose rows the store refuses is refused.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import psycopg
from psycopg import AsyncConnection, AsyncRawCursor
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy import Insert
from sqlalchemy.engine import make_url
from sqlalchemy.sql import ClauseElement
from starlette.concurrency import run_in_threadpool

from journalloft.platform.core.strings import flaws_in
from journalloft.platform.observability import tracing
from journalloft.platform.observability.metrics import AUDIT_GROUP_SIZE, server_label
from journalloft.platform.storage.engines import Stores, connect_args
from journalloft.platform.storage.statements import (
    ROWS,
    CompiledStatement,
    StatementCompiler,
    insert_from_json,
)

sql_log = logging.getLogger("journalloft.sql")
"""Every statement of the query path at DEBUG (the SQL only, never its parameters)."""

Rows = list[tuple[Any, ...]]
Row = Mapping[str, Any]


class WriteRefused(Exception):
    """The store refused a write; nothing of it was committed."""


class StoreUnavailable(Exception):
    """The tenant's store cannot be reached (its server is down, refuses connections, or no
    connection came within the query path's timeout); nothing was read."""


class _Part:
    """The rows of one tenant for one insert statement, in a batch: as given, and as each
    caller's JSON array (``payloads``, serialised before the caller joined the batch)."""

    __slots__ = ("columns", "kommunenummer", "payloads", "rows", "statement")

    def __init__(self, kommunenummer: str, statement: Insert, columns: Sequence[str]) -> None:
        self.kommunenummer = kommunenummer
        self.statement = statement
        self.columns = columns
        self.rows: list[Row] = []
        self.payloads: list[bytes] = []

    def json(self) -> str:
        """Every caller's rows as one JSON array."""
        if len(self.payloads) == 1:
            return self.payloads[0].decode()
        return "[" + ",".join(p[1:-1].decode() for p in self.payloads) + "]"


class _Member:
    """One caller's rows in a batch, and the future that tells it what became of them."""

    __slots__ = ("columns", "done", "kommunenummer", "payload", "rows", "statement")

    def __init__(
        self,
        kommunenummer: str,
        statement: Insert,
        columns: Sequence[str],
        rows: Sequence[Row],
        payload: bytes,
        done: asyncio.Future[None],
    ) -> None:
        self.kommunenummer = kommunenummer
        self.statement = statement
        self.columns = columns
        self.rows = rows
        self.payload = payload
        self.done = done


def _parts(members: Sequence[_Member]) -> list[_Part]:
    """The members' rows, one part per tenant and statement, in the order they came."""
    parts: dict[tuple[str, int], _Part] = {}
    for member in members:
        key = (member.kommunenummer, id(member.statement))
        part = parts.get(key)
        if part is None:
            part = parts[key] = _Part(member.kommunenummer, member.statement, member.columns)
        part.rows.extend(member.rows)
        part.payloads.append(member.payload)
    return list(parts.values())


UNREACHABLE = (psycopg.OperationalError, PoolTimeout, sqlite3.OperationalError, TimeoutError)
"""Failures of the server, not of any caller's rows: a batch that fails so is not retried."""


class QueryPath:
    """Reads and group-committed writes of the query path; see the module docstring."""

    ANSWER_MARGIN_SECONDS = 2.0
    """How much longer than the server's own statement timeout the query path waits for an
    answer before it gives up on its side (see :meth:`_answered`)."""

    def __init__(self, compiler: StatementCompiler, *, answer_seconds: float | None = None) -> None:
        self._compile = compiler
        self._answer_seconds = answer_seconds
        self._queued: dict[str, list[_Member]] = {}
        self._flushing: dict[str, asyncio.Task[None]] = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        """Wait for the writes in flight."""
        while self._flushing:
            await asyncio.gather(*self._flushing.values(), return_exceptions=True)

    async def fetch(
        self, kommunenummer: str, statement: ClauseElement, values: Mapping[str, Any]
    ) -> Rows:
        """Run one statement in this tenant's store; return its rows (a lookup is one statement:
        the service's rows and the restrictions among the people asked together).

        Raises :class:`StoreUnavailable` when the store cannot be reached."""
        compiled = self._compile(statement)
        try:
            with tracing.span("query_path fetch"):
                async with self._answered():
                    return await self._fetch(kommunenummer, compiled, values)
        except (
            psycopg.OperationalError,
            PoolTimeout,
            sqlite3.OperationalError,
            TimeoutError,
        ) as exc:
            sql_log.warning(
                "tenant store unreachable: tenant=%s %s", kommunenummer, type(exc).__name__
            )
            raise StoreUnavailable(type(exc).__name__) from exc

    async def write(
        self,
        kommunenummer: str,
        statement: Insert,
        columns: Sequence[str],
        rows: Sequence[Row],
    ) -> None:
        """Insert ``rows`` (each with every one of ``columns``); return once they are committed.

        Raises :class:`WriteRefused` if they were not committed: at once, without joining a
        batch, for rows that break the platform's rule for strings or cannot be serialised; else
        if the store refused them (never for another caller's rows: see the module docstring).
        """
        if not rows:
            return
        flaws = flaws_in(list(rows))
        if flaws:
            sql_log.warning("a write refused before its group commit: %s", flaws[0].message)
            raise WriteRefused("UnstorableText")
        try:
            payload = orjson.dumps(list(rows), option=orjson.OPT_UTC_Z)
        except orjson.JSONEncodeError as exc:
            sql_log.warning("a write refused before its group commit: %s", type(exc).__name__)
            raise WriteRefused(type(exc).__name__) from exc
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        key = self._commit_group(kommunenummer)
        self._queued.setdefault(key, []).append(
            _Member(kommunenummer, statement, columns, rows, payload, done)
        )
        if key not in self._flushing:
            self._flushing[key] = loop.create_task(self._flush(key))
        await done

    async def _flush(self, key: str) -> None:
        """Write this group's batches until none is waiting (one transaction each)."""
        try:
            while (batch := self._queued.pop(key, None)) is not None:
                AUDIT_GROUP_SIZE.observe(len(batch))
                await self._write_batch(key, batch)
        finally:
            del self._flushing[key]

    async def _write_batch(self, key: str, batch: Sequence[_Member]) -> None:
        """One transaction for the batch; if it fails for anything but an unreachable server
        and holds several callers' rows, each caller's rows again in a transaction of their own."""
        try:
            with tracing.span("audit group commit", **{"journalloft.requests": len(batch)}):
                async with self._answered():
                    await self._write(key, _parts(batch))
        except Exception as exc:
            if len(batch) > 1 and not isinstance(exc, UNREACHABLE):
                sql_log.warning(
                    "a group-committed write of %d callers failed: %s; written one by one",
                    len(batch),
                    type(exc).__name__,
                )
                for member in batch:
                    await self._write_batch(key, [member])
                return
            sql_log.warning("a group-committed write failed: %s", type(exc).__name__)
            for member in batch:  # each learns that its rows were not committed
                if not member.done.done():
                    member.done.set_exception(WriteRefused(type(exc).__name__))
        else:
            for member in batch:
                if not member.done.done():
                    member.done.set_result(None)

    def _answered(self) -> asyncio.Timeout:
        """A bound on waiting for the server, on the client's side. The statement timeout is the
        server's own: a server that is frozen (stopped, its VM or disk stalled) enforces nothing,
        and a lookup on an open connection waited for it without end. After this bound the
        wait is cancelled (psycopg then tries to cancel the statement in the server and, after
        a few seconds more, gives the connection up) and the lookup is a ``503``."""
        return asyncio.timeout(self._answer_seconds)

    def pool_usage(self) -> list[tuple[str, int, int]]:
        """Per server: connections in use, requests waiting for one (none on SQLite)."""
        return []

    def _commit_group(self, kommunenummer: str) -> str:
        """Writes of tenants in the same group may share a transaction (same store)."""
        raise NotImplementedError

    async def _fetch(
        self, kommunenummer: str, compiled: CompiledStatement, values: Mapping[str, Any]
    ) -> Rows:
        raise NotImplementedError

    async def _write(self, group: str, parts: Sequence[_Part]) -> None:
        raise NotImplementedError


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://…``) as libpq takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


SESSION_OPTIONS = "-c TimeZone=UTC -c plan_cache_mode=force_generic_plan"
"""Every query-path session: instants arrive in UTC; a prepared statement is planned once."""


class PostgresQueryPath(QueryPath):
    """One async pool per PostgreSQL server, shared by every tenant on it (opened in the app's
    lifespan, on its event loop).

    Each connection prepares a statement text the first time it runs it and keeps up to
    ``prepared_statements`` of them (least recently used go first). Every tenant's statements
    are texts of their own, so that is what lets hundreds of tenants run prepared: about five
    query-path statements a tenant. PostgreSQL holds a prepared statement in the connection's
    backend, some 40 kB each.
    """

    def __init__(
        self,
        stores: Stores,
        *,
        pool_size: int,
        prepared_statements: int,
        timeout: float = 5.0,
    ) -> None:
        super().__init__(
            StatementCompiler.for_backend(postgres=True),
            answer_seconds=stores.settings.database_statement_timeout_seconds
            + self.ANSWER_MARGIN_SECONDS,
        )
        assert stores.settings.database_url is not None
        self._stores = stores
        self._timeout = timeout
        self._pool_size = pool_size
        self._prepared_statements = prepared_statements
        self._pools: dict[str, AsyncConnectionPool] = {}
        self._lock: asyncio.Lock | None = None
        self._inserts: dict[int, tuple[Insert, CompiledStatement]] = {}

    async def _configure(self, connection: AsyncConnection[Any]) -> None:
        connection.prepared_max = self._prepared_statements

    async def _pool(self, url: str) -> AsyncConnectionPool:
        pool = self._pools.get(url)
        if pool is not None:
            return pool
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            pool = self._pools.get(url)
            if pool is None:
                settings = self._stores.settings
                timeouts = connect_args(settings)
                pool = AsyncConnectionPool(
                    libpq_url(url),
                    min_size=1,
                    max_size=self._pool_size,
                    timeout=self._timeout,  # a server that is down fails its lookups in time
                    reconnect_timeout=24 * 3600,  # keep trying while the server is away
                    kwargs={
                        "autocommit": True,
                        "cursor_factory": AsyncRawCursor,  # statements come with $1 placeholders
                        "connect_timeout": timeouts["connect_timeout"],
                        "options": f"{SESSION_OPTIONS} {timeouts['options']}",
                        # 0: prepare on first use; None: never (behind a pooler that cannot)
                        "prepare_threshold": 0 if self._prepared_statements else None,
                    },
                    configure=self._configure,
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

    def _commit_group(self, kommunenummer: str) -> str:
        return self._server_url(kommunenummer)

    def pool_usage(self) -> list[tuple[str, int, int]]:
        usage = []
        for url, pool in list(self._pools.items()):
            stats = pool.get_stats()
            in_use = stats.get("pool_size", 0) - stats.get("pool_available", 0)
            usage.append((server_label(url), in_use, stats.get("requests_waiting", 0)))
        return usage

    async def _fetch(
        self, kommunenummer: str, compiled: CompiledStatement, values: Mapping[str, Any]
    ) -> Rows:
        pool = await self._pool(self._server_url(kommunenummer))
        async with pool.connection() as connection:
            text = compiled.text_for(kommunenummer)
            sql_log.debug("%s", text)
            cursor = connection.cursor(binary=True)  # no text to parse back
            await cursor.execute(text, compiled.parameters(values))
            return compiled.rows(await cursor.fetchall())

    def _many(self, statement: Insert, columns: Sequence[str]) -> CompiledStatement:
        many = self._inserts.get(id(statement))
        if many is None or many[0] is not statement:
            many = self._inserts[id(statement)] = (
                statement,
                self._compile(insert_from_json(statement.table, columns)),
            )
        return many[1]

    async def _write(self, group: str, parts: Sequence[_Part]) -> None:
        # One statement per tenant and table whatever the number of rows: alone, it is atomic
        # under autocommit; several go in one transaction, in one round trip.
        statements = []
        for part in parts:
            many = self._many(part.statement, part.columns)
            text = many.text_for(part.kommunenummer)
            sql_log.debug("%s", text)
            statements.append((text, many.parameters({ROWS: part.json()})))
        pool = await self._pool(group)
        async with pool.connection() as connection:
            if len(statements) == 1:
                await connection.execute(*statements[0])
                return
            async with connection.pipeline(), connection.transaction():
                for text, parameters in statements:
                    await connection.execute(text, parameters)


class SqliteQueryPath(QueryPath):
    """Each tenant's own file. Reads run on :data:`READ_THREADS` threads of their own, each
    with a read-only connection per file (:data:`READERS` kept open, least recently used closed
    first); writes go through the engine's pooled connections on the shared worker threads.

    Reads stay off the event loop: a file the operating system has evicted from its cache is
    read from disk, and that must stall one lookup, not every request of the process.
    """

    READ_THREADS = 2
    READERS = 64

    def __init__(self, stores: Stores) -> None:
        super().__init__(StatementCompiler.for_backend(postgres=False))
        self._stores = stores
        self._threads: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        """Every thread's connections, to close at shutdown (a finished thread's locals are not
        reliably freed at once: sqlite3 connections wait for the cyclic collector)."""
        self._opened_lock = threading.Lock()

    def _driver(self, kommunenummer: str) -> tuple[Any, sqlite3.Connection]:
        pooled = self._stores.tenant_engine(kommunenummer).raw_connection()
        connection = pooled.driver_connection
        assert isinstance(connection, sqlite3.Connection)
        return pooled, connection

    def _reader(self, kommunenummer: str) -> sqlite3.Connection:
        """This thread's read connection to the tenant's file."""
        readers: OrderedDict[str, sqlite3.Connection] | None = getattr(self._local, "readers", None)
        if readers is None:
            readers = self._local.readers = OrderedDict()
        reader = readers.pop(kommunenummer, None)
        if reader is None:
            # mode=rw: a missing file is an error here, never a new empty store
            uri = self._stores.sqlite_path(kommunenummer).resolve().as_uri() + "?mode=rw"
            reader = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            reader.execute("PRAGMA query_only = ON")
            with self._opened_lock:
                self._opened.append(reader)
        readers[kommunenummer] = reader
        while len(readers) > self.READERS:
            _, oldest = readers.popitem(last=False)
            with self._opened_lock:
                self._opened.remove(oldest)
            oldest.close()
        return reader

    def _fetch_now(
        self, kommunenummer: str, compiled: CompiledStatement, values: Mapping[str, Any]
    ) -> Rows:
        reader = self._reader(kommunenummer)
        sql_log.debug("%s", compiled.sql)
        cursor = reader.execute(compiled.sql, compiled.parameters(values))
        return compiled.rows(cursor.fetchall())

    async def _fetch(
        self, kommunenummer: str, compiled: CompiledStatement, values: Mapping[str, Any]
    ) -> Rows:
        if self._threads is None:
            self._threads = ThreadPoolExecutor(self.READ_THREADS, thread_name_prefix="sqlite-reads")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._threads, self._fetch_now, kommunenummer, compiled, values
        )

    async def close(self) -> None:
        await super().close()
        threads, self._threads = self._threads, None
        if threads is not None:
            threads.shutdown(wait=True)
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for reader in opened:
            reader.close()

    def _commit_group(self, kommunenummer: str) -> str:
        return kommunenummer  # every tenant has a file of its own

    def _write_now(self, kommunenummer: str, parts: Sequence[_Part]) -> None:
        pooled, connection = self._driver(kommunenummer)
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                for part in parts:
                    compiled = self._compile(part.statement, part.columns)
                    sql_log.debug("%s", compiled.sql)
                    connection.executemany(
                        compiled.sql, [compiled.parameters(row) for row in part.rows]
                    )
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        finally:
            pooled.close()

    async def _write(self, group: str, parts: Sequence[_Part]) -> None:
        await run_in_threadpool(self._write_now, group, parts)


def connect_query_path(stores: Stores, *, pool_size: int | None = None) -> QueryPath:
    """The query path of these stores, as their settings say (``pool_size`` overrides)."""
    settings = stores.settings
    if stores.postgres:
        return PostgresQueryPath(
            stores,
            pool_size=pool_size or settings.query_pool_size,
            prepared_statements=settings.query_prepared_statements,
            timeout=settings.query_timeout_seconds,
        )
    return SqliteQueryPath(stores)
