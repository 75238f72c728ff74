"""Statements of the query path: written with SQLAlchemy Core, compiled once, run by the driver.

A legevakt board polls dozens of people every few seconds, so the query path skips SQLAlchemy's
per-execution work (statement construction, cache keys, post-compile rendering), which cost five
times the driver's own time per statement. Each statement is a module-level constant; it is
compiled once per dialect, with a placeholder for the tenant's schema that is replaced by the
tenant's schema name at execution. Values and rows still pass through the same SQLAlchemy type
processors as everywhere else, so a ``UTCDateTime`` reads the same on both paths.

A list of people is one parameter, not an expanding ``IN``: ``= ANY(string_to_array($1, ','))``
on PostgreSQL, ``IN (SELECT value FROM json_each(?))`` on SQLite. The SQL text is then the same for
one person or two hundred, so PostgreSQL can keep it prepared.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    Boolean,
    ColumnElement,
    CompoundSelect,
    Dialect,
    Insert,
    Integer,
    Select,
    String,
    Subquery,
    Table,
    TypeDecorator,
    bindparam,
    cast,
    column,
    func,
    insert,
    null,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ClauseElement, TableClause
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeEngine

from journalloft.platform.core.tenancy import tenant_schema_name
from journalloft.platform.storage.tables import TENANT, UTCDateTime

SCHEMA_MARK = "journalloft_tenant_schema"
"""Rendered where a tenant table's schema goes; replaced by the tenant's schema name."""
PATIENTS = "patients"
"""The bind name of the list of people in every query-path statement."""


class PersonList(TypeDecorator[Sequence[str]]):
    """A list of person identifiers bound as one text value: comma-separated for PostgreSQL
    (split there with ``string_to_array``; identifiers are digits), JSON for SQLite. Text costs
    the driver far less to send than an array, whose every element it would inspect."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Sequence[str] | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "postgresql":
            if any("," in person for person in value):
                raise ValueError("a person identifier cannot contain a comma")
            return ",".join(value)
        return orjson.dumps(list(value)).decode()


class _AmongPeople(ColumnElement[bool]):
    """``column`` is one of the people bound as :data:`PATIENTS`."""

    inherit_cache = True
    type = Boolean()
    # A comparison: SQLite must not get "… = 1" appended, which would keep it off the index.
    _is_implicitly_boolean = True
    _traverse_internals = [  # noqa: RUF012 (declared so by SQLAlchemy)
        ("column", InternalTraversal.dp_clauseelement),
        ("people", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: ColumnElement[str]) -> None:
        self.column = column
        self.people = bindparam(PATIENTS, type_=PersonList())


@compiles(_AmongPeople, "postgresql")
def _among_people_postgresql(element: _AmongPeople, compiler: SQLCompiler, **kw: Any) -> str:
    people = compiler.process(element.people, **kw)
    return f"{compiler.process(element.column, **kw)} = ANY(string_to_array({people}, ','))"


@compiles(_AmongPeople)
def _among_people_sqlite(element: _AmongPeople, compiler: SQLCompiler, **kw: Any) -> str:
    people = compiler.process(element.people, **kw)
    column = compiler.process(element.column, **kw)
    return f"{column} IN (SELECT value FROM json_each({people}))"  # noqa: S608 (both are compiled)


def among_people(column: ColumnElement[str]) -> ColumnElement[bool]:
    """A filter on the people of the request, bound by name as ``patients``."""
    return _AmongPeople(column)


def insert_from_json(table: TableClause, columns: Sequence[str]) -> Insert:
    """PostgreSQL: insert any number of rows, given as one JSON array bound as ``rows``, in one
    statement (so one round trip and one commit, and the same prepared SQL for any count)."""
    records = (
        func.jsonb_to_recordset(cast(bindparam(ROWS, type_=String), JSONB))
        .table_valued(*(column(name, table.c[name].type) for name in columns))
        .render_derived(name="rows", with_types=True)
    )
    return insert(table).from_select(list(columns), select(*(records.c[n] for n in columns)))


ROWS = "rows"
"""The bind name of the JSON array of :func:`insert_from_json`."""

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class CompiledStatement:
    """One statement compiled for one dialect; the tenant's schema is still a placeholder."""

    sql: str
    positions: tuple[str, ...] | None
    """Bind names in order for positional placeholders (both dialects here); None for named."""
    defaults: Mapping[str, Any]
    binds: Mapping[str, Processor]
    results: tuple[Processor, ...]

    def text_for(self, kommunenummer: str) -> str:
        """The SQL for one tenant's PostgreSQL schema.

        The one place outside ``schema_translate_map`` where a tenant's tables are selected (see
        :mod:`.tables`): the schema's name is written into the SQL text, so that the text is
        compiled once and kept prepared per tenant. It is safe only because the name comes from
        :func:`~journalloft.platform.core.tenancy.tenant_schema_name`, which refuses anything but
        four digits; this method takes a kommunenummer, never a schema name, so it cannot be handed
        anything else."""
        return self.sql.replace(f"{SCHEMA_MARK}.", f"{tenant_schema_name(kommunenummer)}.")

    def parameters(self, values: Mapping[str, Any]) -> Any:
        """The driver's parameters for ``values`` (the statement's defaults fill the rest)."""
        merged = {**self.defaults, **values}
        for name, process in self.binds.items():
            if process is not None and name in merged:
                merged[name] = process(merged[name])
        if self.positions is None:
            return merged
        return tuple(merged[name] for name in self.positions)

    def rows(self, fetched: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """Driver rows with each column's result processor applied."""
        processors = self.results
        if not any(processors):
            return list(fetched)  # type: ignore[arg-type]  # both drivers fetch tuples
        return [
            tuple(
                value if process is None else process(value)
                for value, process in zip(row, processors, strict=True)
            )
            for row in fetched
        ]


def _result_processor(type_: TypeEngine[Any], dialect: Dialect) -> Processor:
    if dialect.name == "postgresql" and (
        not isinstance(type_, TypeDecorator) or isinstance(type_, UTCDateTime)
    ):
        # psycopg returns a Python value of every PostgreSQL type itself, and the query path's
        # sessions run in UTC (reads.SESSION_OPTIONS), so an instant comes as UTCDateTime makes it
        return None
    return type_.dialect_impl(dialect).result_processor(dialect, None)


class StatementCompiler:
    """Compiles statements for one dialect, once each (statements are module-level constants)."""

    MAX_STATEMENTS = 256

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._compiled: dict[int, tuple[ClauseElement, CompiledStatement]] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_backend(cls, *, postgres: bool) -> StatementCompiler:
        if postgres:
            # PostgreSQL's own $1 placeholders, which psycopg's raw cursors send as they are:
            # its %(name)s ones are converted per statement text through a cache of 128 texts,
            # and every tenant's statements are texts of their own
            dialect = postgresql.psycopg.dialect(paramstyle="numeric_dollar")  # type: ignore[no-untyped-call]
            return cls(dialect)
        return cls(sqlite.pysqlite.dialect())

    def __call__(
        self, statement: ClauseElement, column_keys: Sequence[str] | None = None
    ) -> CompiledStatement:
        known = self._compiled.get(id(statement))
        if known is not None and known[0] is statement:
            return known[1]
        compiled = self._compile(statement, column_keys)
        with self._lock:
            if len(self._compiled) >= self.MAX_STATEMENTS:
                # Statements are meant to be constants: a caller building one per request would
                # otherwise grow this without bound.
                self._compiled.clear()
            self._compiled[id(statement)] = (statement, compiled)
        return compiled

    def _compile(
        self, statement: ClauseElement, column_keys: Sequence[str] | None
    ) -> CompiledStatement:
        dialect = self.dialect
        # SQLite: every tenant has its own file, whose tables live in its ``main`` schema.
        schema = SCHEMA_MARK if dialect.name == "postgresql" else "main"
        compiled = statement.compile(
            dialect=dialect,
            schema_translate_map={TENANT: schema},
            render_schema_translate=True,
            column_keys=list(column_keys) if column_keys is not None else None,
        )
        assert isinstance(compiled, SQLCompiler)
        binds = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for bind, name in compiled.bind_names.items()
        }
        defaults = {
            name: bind.value
            for bind, name in compiled.bind_names.items()
            if bind.value is not None and not bind.required
        }
        results = tuple(
            _result_processor(column.type, dialect)
            for column in getattr(statement, "selected_columns", ())
        )
        positions = tuple(compiled.positiontup or ()) if compiled.positional else None
        return CompiledStatement(
            sql=compiled.string,
            positions=positions,
            defaults=defaults,
            binds=binds,
            results=results,
        )


RANK = "journalloft_rank"
AVAILABLE = "journalloft_available"
PER_PERSON = "journalloft_per_person"
PER_ANSWER = "journalloft_per_answer"
_marked_lock = threading.Lock()


def _ranked(statement: Select[Any], table: Table) -> tuple[Subquery, list[str]]:
    """``statement``'s rows, each with its rank in the person's rows and the person's count."""
    order = tuple(statement._order_by_clauses) or (table.c.updated.desc(),)
    inner = (
        statement.order_by(None)
        .add_columns(
            func.row_number()
            .over(
                partition_by=table.c.patient, order_by=(*order, table.c.source, table.c.record_id)
            )
            .label(RANK),
            func.count().over(partition_by=table.c.patient).label(AVAILABLE),
        )
        .subquery()
    )
    return inner, [column.name for column in statement.selected_columns]


MARKED = "journalloft_marked"
_marked: dict[int, tuple[Select[Any], Select[Any], CompoundSelect[Any]]] = {}


def bounded_lookup_marking(
    statement: Select[Any], table: Table, marked: Select[Any]
) -> CompoundSelect[Any]:
    """A service's lookup ``statement`` (rows of ``table``, each with its ``patient``), bounded,
    and ``marked`` (one column: people among those asked, e.g. the restricted ones), in one
    statement: a lookup is one statement and one round trip.

    Bounded: each person's first :data:`PER_PERSON` rows in the statement's own order (else the
    most recently updated), and at most :data:`PER_ANSWER` rows in all, taken rank by rank (every
    person's first row, then every person's second, ...) so that the people asked share the
    bound. Each such row has three more columns last: how many rows the person has in all (so
    that the caller can tell who was cut short), its rank, and NULL. Then one row per person
    ``marked`` gives, whose last column is that person and every other column NULL. Built once
    per pair of statements."""
    known = _marked.get(id(statement))
    if known is not None and known[0] is statement and known[1] is marked:
        return known[2]
    inner, names = _ranked(statement, table)
    limited = (
        select(*(inner.c[name] for name in names), inner.c[AVAILABLE], inner.c[RANK])
        .where(inner.c[RANK] <= bindparam(PER_PERSON, type_=Integer))
        .order_by(inner.c[RANK], inner.c.patient)
        .limit(bindparam(PER_ANSWER, type_=Integer))
        .subquery()
    )
    [person] = marked.selected_columns
    rows = select(*limited.c, null().label(MARKED))
    marks = marked.with_only_columns(
        *(null().label(column.name) for column in limited.c),
        person.label(MARKED),
    )
    combined: CompoundSelect[Any] = union_all(rows, marks).order_by(  # type: ignore[assignment]
        column(RANK).asc().nulls_last(), column("patient").asc().nulls_last()
    )
    with _marked_lock:
        _marked[id(statement)] = (statement, marked, combined)
    return combined
