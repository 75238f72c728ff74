"""The plugin protocol every sharing service implements, and the context it is called with.

A sharing service is one package exporting one ``spec``, declared as an entry point (see
:mod:`journalloft.platform.plugins.registry`); it imports from the platform only through
:mod:`journalloft.plugin`. The platform owns HTTP,
tokens, grants, person identifiers, audit, the unit of work and idempotent storage of records; the
service owns its schema, its rules and its query.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from sqlalchemy import Connection, Select, Table

from journalloft.platform.core.errors import FieldError

T = TypeVar("T")


class RecordRejected(Exception):
    """A record breaks a rule beyond its schema; pointers are relative to the record."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.pointer}: {e.message}" for e in errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class IngestContext:
    kommunenummer: str
    source: str
    now: datetime
    settings: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class QueryContext:
    kommunenummer: str
    now: datetime
    settings: Mapping[str, Any]
    options: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Lookup:
    statement: Select[Any]
    parameters: Mapping[str, Any]
    """Values of the statement's binds besides ``patients``."""


@dataclass(frozen=True, slots=True)
class PurgeContext:
    kommunenummer: str
    now: datetime
    settings: Mapping[str, Any]


class SharingService(Protocol):
    """What a sharing service gives the platform."""

    name: str
    """As in URLs and scopes: ``news2`` → ``/v1/news2/query``, ``news2:read``."""
    title: str
    version: str
    record_schema: str
    """``$id`` of the JSON Schema of one ingested record."""
    query_schema: str
    """``$id`` of the JSON Schema of the query body (patients, kommuner, the service's options)."""
    result_schema: str
    """``$id`` of the JSON Schema of one query result entry."""
    settings_schema: str | None
    """``$id`` of the JSON Schema of the service's settings in a tenant file, if it has any."""
    table: Table
    """The records table (a :class:`~journalloft.platform.storage.tables.SharedRecord`)."""
    migrations: Path
    """Folder of the service's Alembic revisions (its own branch in every tenant store)."""
    schema_folder: Path | None
    """Folder of the service's JSON Schemas when its package ships them; None when they are in
    the platform's ``schemas/`` folder (``schemas/<package>/<version>/``)."""

    def prepare(self, record: Mapping[str, Any], *, context: IngestContext) -> dict[str, Any]:
        """Apply the rules beyond the schema; return the row's service columns.

        Raise :class:`RecordRejected` with every violation found.
        """
        ...

    def lookup(self, *, context: QueryContext) -> Lookup:
        """The one statement that reads what the query needs, and its parameters.

        The statement is a module-level constant (it is compiled once), filters the people with
        :func:`~journalloft.platform.storage.statements.among_people` and selects plain columns; the
        platform binds the people, runs it in the tenant's store and hands the rows to
        :meth:`results`.
        """
        ...

    def results(
        self, rows: Sequence[tuple[Any, ...]], *, context: QueryContext
    ) -> dict[str, dict[str, Any]]:
        """The result fields per person that has data, from the rows of :meth:`lookup`."""
        ...

    def demo_records(
        self, *, rng: random.Random, patients: Sequence[str], now: datetime
    ) -> list[dict[str, Any]]:
        """Synthetic records, as a journal system would send them, for ``journalloft demo``."""
        ...


@runtime_checkable
class Purgeable(Protocol):
    """A service whose records expire (retention)."""

    def purge(self, connection: Connection, *, context: PurgeContext) -> int:
        """Delete what is past its retention; return how many records went."""
        ...


def parts_of(service: SharingService, face: str) -> tuple[object, ...]:
    """What ``service`` brings to the face named ``face``: its spec's ``face_parts[face]``
    (FHIR resource providers, a board part), or nothing. The platform reads no part itself:
    each face takes its own and checks it against its own protocol."""
    parts: Mapping[str, Sequence[object]] = getattr(service, "face_parts", None) or {}
    return tuple(parts.get(face, ()))


def window_setting(settings: Mapping[str, Any], name: str, *, default: int, most: int) -> int:
    """A service's whole-number window setting ``name`` from a tenant's settings (``default``
    when absent), 0 to ``most``: the one reading of every such setting.

    Raises ValueError for a value the service's settings schema refuses (a broken tenant file).
    """
    value = settings.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not 0 <= value <= most:
        raise ValueError(f"{name} must be 0–{most}, got {value}")
    return value


def summarise_by_person(
    items: Iterable[tuple[str, T]],
    *,
    listed_as: str,
    order: Callable[[T], Any],
    active: Callable[[T], bool],
    shown: Callable[[T], Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """A lookup's entries from ``(person, item)`` pairs: each person's items in ``order`` under
    ``listed_as`` (each as ``shown`` gives it, else as it is), after ``active_count``, how many
    of them are ``active``. A person with no item is absent."""
    grouped: dict[str, list[T]] = {}
    for person, item in items:
        grouped.setdefault(person, []).append(item)
    show = shown if shown is not None else _as_it_is
    return {
        person: {
            "active_count": sum(1 for item in found if active(item)),
            listed_as: [show(item) for item in sorted(found, key=order)],
        }
        for person, found in grouped.items()
    }


def _as_it_is(item: Any) -> Any:
    return item
