"""Idempotent storage of shared records, the same for every service.

Records are keyed by (source client, the source's own ``id``). The same content again changes
nothing; a newer ``updated`` replaces; an older ``updated`` is ignored (stale). A record with the
same ``updated`` but other content replaces the stored one: the source has said something new and
losing it silently would be worse. A withdrawn record stays withdrawn until the source sends a
newer version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Insert,
    Table,
    and_,
    bindparam,
    insert,
    select,
    update,
)

from journalloft.platform.core.instants import parse_rfc3339
from journalloft.platform.storage.statements import ROWS, insert_from_json


@dataclass(slots=True)
class IngestCounts:
    received: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    outcomes: list[str] = field(default_factory=list)
    """What became of each row, in the order sent: ``created``, ``updated``, ``unchanged`` or
    ``stale`` (for the faces that answer per record, e.g. a FHIR transaction)."""

    def as_dict(self) -> dict[str, int]:
        return {
            "received": self.received,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "stale": self.stale,
        }


def content_hash(record: Mapping[str, Any]) -> str:
    """A fingerprint of a record as sent, independent of key order."""
    return hashlib.sha256(orjson.dumps(record, option=orjson.OPT_SORT_KEYS)).hexdigest()


def stored_row(
    record: Mapping[str, Any],
    *,
    service_values: Mapping[str, Any],
    source: str,
    received_at: datetime,
) -> dict[str, Any]:
    """The row of a valid record: the service's own columns (from its ``prepare``) and the
    columns every record has. The one way a record becomes a row (ingest and tests alike)."""
    return {
        **service_values,
        "source": source,
        "record_id": record["id"],
        "patient": record["patient"],
        "updated": parse_rfc3339(record["updated"]),
        "content_hash": content_hash(record),
        "received_at": received_at,
    }


def visible(table: Table) -> ColumnElement[bool]:
    """Rows that may be shared: not withdrawn by their source."""
    return table.c.withdrawn_at.is_(None)


@dataclass(slots=True)
class _Stored:
    updated: datetime
    content_hash: str
    withdrawn: bool


def upsert_records(
    connection: Connection, table: Table, *, source: str, rows: Iterable[dict[str, Any]]
) -> IngestCounts:
    """Store a batch of rows from one source; each row holds every column of ``table``.

    Rows are applied in order, so a batch that names one ``id`` twice behaves like two pushes.
    The stored rows are locked while they are compared (``FOR UPDATE``), so that two concurrent
    pushes of one record are ordered by ``updated``, not by which transaction commits last.
    """
    rows = list(rows)
    counts = IngestCounts(received=len(rows))
    ids = sorted({row["record_id"] for row in rows})  # rows are locked in one order: no deadlock
    stored: dict[str, _Stored] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        query = select(
            table.c.record_id, table.c.updated, table.c.content_hash, table.c.withdrawn_at
        ).where(table.c.source == source, table.c.record_id.in_(chunk))
        query = query.order_by(table.c.record_id).with_for_update()
        for record_id, updated, digest, withdrawn_at in connection.execute(query):
            stored[record_id] = _Stored(updated, digest, withdrawn_at is not None)

    inserts: dict[str, dict[str, Any]] = {}
    updates: dict[str, dict[str, Any]] = {}
    for row in rows:
        record_id = row["record_id"]
        current = stored.get(record_id)
        if current is None:
            inserts[record_id] = row
            counts.created += 1
            counts.outcomes.append("created")
        elif row["updated"] < current.updated or (
            current.withdrawn and row["updated"] == current.updated
        ):
            counts.stale += 1
            counts.outcomes.append("stale")
            continue
        elif row["updated"] == current.updated and row["content_hash"] == current.content_hash:
            counts.unchanged += 1
            counts.outcomes.append("unchanged")
            continue
        else:
            (inserts if record_id in inserts else updates)[record_id] = row
            counts.updated += 1
            counts.outcomes.append("updated")
        stored[record_id] = _Stored(row["updated"], row["content_hash"], withdrawn=False)

    if inserts:
        # in key order, as the rows above were locked: two batches inserting the same new ids in
        # opposite orders would each wait for the other's uncommitted row (a deadlock)
        _insert(
            connection,
            table,
            [{**inserts[record_id], "withdrawn_at": None} for record_id in sorted(inserts)],
        )
    if updates:
        columns = [c.name for c in table.columns if c.name not in ("source", "record_id")]
        statement = (
            update(table)
            .where(
                and_(
                    table.c.source == bindparam("key_source"),
                    table.c.record_id == bindparam("key_record_id"),
                )
            )
            .values({name: bindparam(name) for name in columns})
        )
        connection.execute(
            statement,
            [
                {
                    **{name: row.get(name) for name in columns},
                    "key_source": source,
                    "key_record_id": row["record_id"],
                }
                for row in updates.values()
            ],
        )
    return counts


def withdraw_record(
    connection: Connection, table: Table, *, source: str, record_id: str, now: datetime
) -> str | None:
    """Withdraw one record sent in error; return its patient, or None if there was none."""
    key = and_(table.c.source == source, table.c.record_id == record_id, visible(table))
    patient = connection.execute(
        select(table.c.patient).where(key).with_for_update()
    ).scalar_one_or_none()
    if patient is not None:
        connection.execute(update(table).where(key).values(withdrawn_at=now))
    return patient


def withdraw_others(
    connection: Connection,
    table: Table,
    *,
    source: str,
    patient: str,
    keep: Iterable[str],
    id_prefix: str,
    now: datetime,
) -> int:
    """Withdraw the person's visible records from ``source`` whose id starts with
    ``id_prefix`` and is not in ``keep``: what a snapshot no longer holds. Returns how many."""
    kept = set(keep)
    key = and_(
        table.c.source == source,
        table.c.patient == patient,
        table.c.record_id.startswith(id_prefix, autoescape=True),
        visible(table),
    )
    stored = connection.execute(
        select(table.c.record_id).where(key).order_by(table.c.record_id).with_for_update()
    ).scalars()
    gone = [record_id for record_id in stored if record_id not in kept]
    for start in range(0, len(gone), 500):
        connection.execute(
            update(table)
            .where(key, table.c.record_id.in_(gone[start : start + 500]))
            .values(withdrawn_at=now)
        )
    return len(gone)


_JSON_INSERTS: dict[tuple[int, tuple[str, ...]], tuple[Table, Insert]] = {}


def _insert(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (each with the same columns). PostgreSQL: in one statement with the rows
    as one JSON array (:func:`~journalloft.platform.storage.statements.insert_from_json`, as the
    audit log's group commit writes), after each column's own bind processing (a naive instant
    is refused as always); SQLAlchemy's many-row insert spent most of a 1000-record batch's
    insert time building its parameters. SQLite: SQLAlchemy's many-row insert."""
    dialect = connection.dialect
    if dialect.name != "postgresql":
        connection.execute(insert(table), rows)
        return
    columns = tuple(rows[0])
    key = (id(table), columns)
    known = _JSON_INSERTS.get(key)
    if known is None or known[0] is not table:
        known = _JSON_INSERTS[key] = (table, insert_from_json(table, columns))
    processors = [
        (name, process)
        for name in columns
        if (process := table.c[name].type.bind_processor(dialect)) is not None
    ]
    for row in rows:
        for name, process in processors:
            row[name] = process(row[name])
    payload = orjson.dumps(rows, option=orjson.OPT_UTC_Z).decode()
    connection.execute(known[1], {ROWS: payload})
