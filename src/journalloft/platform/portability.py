"""Moving a municipality: everything of one tenant in one file, and back into any store.

The format (``journalloft-tenant-export``, version 1) is gzip-compressed JSON Lines, UTF-8, one
JSON object a line:

1. the header: ``{"format", "version", "kommunenummer", "exported_at", "tenant": {"name",
   "organisasjonsnummer", "document"}, "tables": {table: [column, ...]}, ...}``; ``document`` is
   the tenant file as it is registered, ``tables`` the columns of each table, in the order each
   row lists its values;
2. the rows: ``{"t": table, "r": [value, ...]}``, table by table, each in primary-key order.
   Instants are RFC 3339 strings in UTC (``…Z``), dates ``YYYY-MM-DD``, JSON columns are JSON,
   everything else is the JSON value itself;
3. the trailer: ``{"end": true, "counts": {table: rows}, "sha256": hex}``, where ``sha256`` is
   the SHA-256 of every byte before the trailer line (the uncompressed lines, newlines
   included).

A file without its trailer is incomplete; a file whose counts or checksum disagree with its lines
is damaged. Import reads the whole file once to check both before it writes anything, then
writes every row in one transaction of the target tenant's store, and counts the rows again
before it commits. Gzip (Python's own ``gzip`` module) and JSON Lines were chosen because any
operator can read them with standard tools (``zcat file | head -1 | jq``), they stream in
constant memory both ways, and gzip's own CRC catches most corruption even before the checksum.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Table, create_engine, delete, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlalchemy.types import Date

from journalloft.platform.directory import TENANT_TABLE
from journalloft.platform.jsonschemas import Schemas
from journalloft.platform.registry import ServiceRegistry
from journalloft.platform.storage.engines import Stores
from journalloft.platform.storage.models import AuditEvent, AuditSeal, Restriction
from journalloft.platform.storage.tables import TENANT, UTCDateTime, rfc3339
from journalloft.platform.tenancy import tenant_schema_name

FORMAT = "journalloft-tenant-export"
VERSION = 1
BATCH = 1000

Progress = Callable[[str, int], None]
"""Told (table, rows so far) every :data:`BATCH` rows and at the end of each table."""


class ExportError(Exception):
    """The file is not a complete, undamaged export, or cannot go where it was asked to."""


def tenant_tables(services: ServiceRegistry) -> list[Table]:
    """Every table of a tenant's store: the platform's, then each service's records table."""
    platform: list[Table] = [
        AuditEvent.__table__,  # type: ignore[attr-defined]
        AuditSeal.__table__,  # type: ignore[attr-defined]
        Restriction.__table__,  # type: ignore[attr-defined]
    ]
    return platform + [services[name].table for name in sorted(services)]


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _decoder(table: Table, columns: Sequence[str]) -> Callable[[list[Any]], dict[str, Any]]:
    instants = {i for i, name in enumerate(columns) if isinstance(table.c[name].type, UTCDateTime)}
    days = {i for i, name in enumerate(columns) if isinstance(table.c[name].type, Date)}

    def decode(values: list[Any]) -> dict[str, Any]:
        row = dict(zip(columns, values, strict=True))
        for i in instants:
            value = values[i]
            if value is not None:
                row[columns[i]] = datetime.fromisoformat(value).astimezone(UTC)
        for i in days:
            value = values[i]
            if value is not None:
                row[columns[i]] = date.fromisoformat(value)
        return row

    return decode


def _line(document: Mapping[str, Any]) -> bytes:
    return (
        json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n"
    ).encode("utf-8")


@contextmanager
def _snapshot(stores: Stores, kommunenummer: str) -> Iterator[Connection]:
    """One read-only snapshot of the tenant's whole store, which writers do not wait for:
    REPEATABLE READ on PostgreSQL; on SQLite a deferred read transaction on its own read-only
    connection (WAL mode: a reader sees one commit and never blocks a writer)."""
    if stores.postgres:
        engine = stores.tenant_engine(kommunenummer).execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
        with engine.begin() as connection:
            yield connection
        return
    uri = stores.sqlite_path(kommunenummer).resolve().as_uri() + "?mode=ro"
    reader = create_engine(
        "sqlite://",
        creator=lambda: sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30),
        poolclass=NullPool,
    ).execution_options(schema_translate_map={TENANT: None})
    try:
        with reader.connect() as connection:
            connection.exec_driver_sql("BEGIN")
            try:
                yield connection
            finally:
                connection.exec_driver_sql("ROLLBACK")
    finally:
        reader.dispose()


@dataclass(frozen=True, slots=True)
class ExportSummary:
    kommunenummer: str
    counts: dict[str, int]
    sha256: str


def export_tenant(
    kommunenummer: str,
    destination: IO[bytes],
    *,
    stores: Stores,
    services: ServiceRegistry,
    extra_header: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> ExportSummary:
    """Write one tenant's export to ``destination`` (a binary file), streaming row by row."""
    tenant_schema_name(kommunenummer)
    with stores.platform_engine.connect() as connection:
        registered = connection.execute(
            select(
                TENANT_TABLE.c.name, TENANT_TABLE.c.organisasjonsnummer, TENANT_TABLE.c.document
            ).where(TENANT_TABLE.c.kommunenummer == kommunenummer)
        ).first()
    if registered is None:
        raise ExportError(f"no municipality {kommunenummer} is onboarded")
    tables = tenant_tables(services)
    digest = hashlib.sha256()
    counts: dict[str, int] = {}
    with gzip.GzipFile(fileobj=destination, mode="wb", mtime=0) as out:

        def write(line: bytes) -> None:
            digest.update(line)
            out.write(line)

        header = {
            "format": FORMAT,
            "version": VERSION,
            "kommunenummer": kommunenummer,
            "exported_at": rfc3339(now or datetime.now(UTC)),
            "tenant": {
                "name": registered.name,
                "organisasjonsnummer": registered.organisasjonsnummer,
                "document": registered.document,
            },
            "tables": {table.name: [c.key for c in table.c] for table in tables},
            **(extra_header or {}),
        }
        write(_line(header))
        with _snapshot(stores, kommunenummer) as connection:
            for table in tables:
                count = 0
                order = list(table.primary_key.columns) or list(table.c)
                result = connection.execution_options(yield_per=BATCH).execute(
                    select(*table.c).order_by(*order)
                )
                for row in result:
                    write(_line({"t": table.name, "r": [_encode(v) for v in row]}))
                    count += 1
                    if progress is not None and count % BATCH == 0:
                        progress(table.name, count)
                counts[table.name] = count
                if progress is not None:
                    progress(table.name, count)
        trailer = {"end": True, "counts": counts, "sha256": digest.hexdigest()}
        out.write(_line(trailer))
    return ExportSummary(kommunenummer, counts, digest.hexdigest())


@dataclass(frozen=True, slots=True)
class ExportFile:
    """A checked export: its header and trailer (the rows are read again when loaded)."""

    path: Path
    header: dict[str, Any]
    counts: dict[str, int]
    sha256: str

    @property
    def kommunenummer(self) -> str:
        value: str = self.header["kommunenummer"]
        return value


def _lines(path: Path) -> Iterator[bytes]:
    try:
        with gzip.open(path, "rb") as source:
            yield from source
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ExportError(f"{path}: not a complete gzip file ({exc})") from exc


def _json(line: bytes, number: int) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError as exc:
        raise ExportError(f"line {number} is not JSON") from exc
    if not isinstance(value, dict):
        raise ExportError(f"line {number} is not a JSON object")
    return value


def check_export(path: Path, *, tables: Sequence[Table]) -> ExportFile:
    """Read the whole file once: header, every row's shape, the trailer's counts and checksum.

    Raises :class:`ExportError` for anything damaged, incomplete or of another format, before
    anything is written anywhere.
    """
    known = {table.name: table for table in tables}
    digest = hashlib.sha256()
    header: dict[str, Any] | None = None
    trailer: dict[str, Any] | None = None
    counts: dict[str, int] = {}
    for number, line in enumerate(_lines(path), 1):
        if trailer is not None:
            raise ExportError(f"line {number}: data after the trailer")
        document = _json(line, number)
        if header is None:
            if document.get("format") != FORMAT:
                raise ExportError("not a journalloft tenant export (no header)")
            if document.get("version") != VERSION:
                raise ExportError(f"export format version {document.get('version')!r} is unknown")
            kommunenummer = document.get("kommunenummer")
            try:
                tenant_schema_name(kommunenummer)
            except (ValueError, TypeError) as exc:
                raise ExportError("the header's kommunenummer is not four digits") from exc
            for name, columns in document.get("tables", {}).items():
                table = known.get(name)
                if table is None:
                    raise ExportError(f"table {name}: this platform has no such table")
                if columns != [c.key for c in table.c]:
                    raise ExportError(
                        f"table {name}: its columns differ from this platform's "
                        "(migrate one side to the other's version first)"
                    )
            header = document
            digest.update(line)
            continue
        if document.get("end") is True:
            trailer = document
            continue
        name = document.get("t")
        values = document.get("r")
        if (
            not isinstance(name, str)
            or name not in header["tables"]
            or not isinstance(values, list)
        ):
            raise ExportError(f"line {number}: not a row of a table the header names")
        if len(values) != len(header["tables"][name]):
            raise ExportError(f"line {number}: a row of {name} with the wrong number of values")
        counts[name] = counts.get(name, 0) + 1
        digest.update(line)
    if header is None:
        raise ExportError("the file is empty")
    if trailer is None:
        raise ExportError("the file is incomplete: it has no trailer")
    claimed = trailer.get("counts")
    if not isinstance(claimed, dict):
        raise ExportError("the trailer has no counts")
    found = {name: counts.get(name, 0) for name in header["tables"]}
    if claimed != found:
        raise ExportError(f"the trailer's counts {claimed} differ from the rows found {found}")
    if trailer.get("sha256") != digest.hexdigest():
        raise ExportError("the checksum differs: the file is damaged")
    return ExportFile(path, header, found, digest.hexdigest())


def _rows(checked: ExportFile, tables: Mapping[str, Table]) -> Iterator[tuple[str, dict[str, Any]]]:
    decoders = {
        name: _decoder(tables[name], columns) for name, columns in checked.header["tables"].items()
    }
    digest = hashlib.sha256()
    for number, line in enumerate(_lines(checked.path), 1):
        document = _json(line, number)
        if document.get("end") is True:
            continue
        digest.update(line)
        if number == 1:
            continue
        yield document["t"], decoders[document["t"]](document["r"])
    if digest.hexdigest() != checked.sha256:
        raise ExportError("the file changed while it was read")


def _has_data(connection: Connection, tables: Sequence[Table]) -> bool:
    return any(
        connection.execute(select(func.count()).select_from(table)).scalar_one() for table in tables
    )


def _fix_sequences(connection: Connection, stores: Stores, kommunenummer: str) -> None:
    """PostgreSQL: the next audit event id follows the imported ones."""
    if not stores.postgres:
        return
    events = AuditEvent.__table__  # type: ignore[attr-defined]
    highest = connection.execute(select(func.max(events.c.id))).scalar_one() or 0
    connection.execute(
        text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :next, false)"),
        {"t": f"{tenant_schema_name(kommunenummer)}.audit_event", "next": highest + 1},
    )


@dataclass(frozen=True, slots=True)
class ImportSummary:
    kommunenummer: str
    counts: dict[str, int]
    sha256: str
    new_tenant: bool


def import_tenant(
    path: Path,
    *,
    stores: Stores,
    schemas: Schemas,
    services: ServiceRegistry,
    replace: bool = False,
    progress: Progress | None = None,
) -> ImportSummary:
    """Load a checked export into this platform's store for its municipality.

    The file is checked whole first (:func:`check_export`); a tenant that already has data is
    refused unless ``replace``. The tenant file is registered as onboarding does (its store
    created and migrated, its clients registered), then every row is written in one transaction
    that also empties the tables first when replacing; the rows are counted again before it
    commits.
    """
    from journalloft.platform.onboarding import onboard

    tables = tenant_tables(services)
    checked = check_export(path, tables=tables)
    kommunenummer = checked.kommunenummer
    if stores.tenant_store_exists(kommunenummer):
        with stores.tenant_engine(kommunenummer).connect() as connection:
            occupied = _has_data(connection, [t for t in tables if _table_exists(connection, t)])
        if occupied and not replace:
            raise ExportError(
                f"municipality {kommunenummer} already has data in this store: "
                "add --replace to overwrite it"
            )
    with tempfile.TemporaryDirectory() as folder:
        tenant_file = Path(folder) / f"{kommunenummer}.yaml"
        # JSON is YAML: the document is registered exactly as it was exported
        tenant_file.write_text(json.dumps(checked.header["tenant"]["document"]), encoding="utf-8")
        report = onboard(tenant_file, stores=stores, schemas=schemas, services=services)
    try:
        try:
            stored, written = _load_rows(checked, stores, kommunenummer, tables, progress)
        except SQLAlchemyError as exc:
            raise ExportError(
                f"the store refused the file's rows ({type(exc).__name__}): nothing was kept"
            ) from exc
    except BaseException:
        if report.new_tenant:  # all or nothing: a municipality this import registered goes again
            from journalloft.platform.onboarding import offboard

            offboard(kommunenummer, stores=stores)
        raise
    if progress is not None:
        for name, count in written.items():
            progress(name, count)
    return ImportSummary(kommunenummer, stored, checked.sha256, report.new_tenant)


def _load_rows(
    checked: ExportFile,
    stores: Stores,
    kommunenummer: str,
    tables: Sequence[Table],
    progress: Progress | None,
) -> tuple[dict[str, int], dict[str, int]]:
    """Every row of the file in one transaction, after emptying the tables; checked counts."""
    by_name = {table.name: table for table in tables}
    written = {name: 0 for name in checked.header["tables"]}
    with stores.tenant_transaction(kommunenummer) as connection:
        for table in reversed(tables):
            connection.execute(delete(table))
        pending: dict[str, list[dict[str, Any]]] = {}
        for name, row in _rows(checked, by_name):
            batch = pending.setdefault(name, [])
            batch.append(row)
            if len(batch) >= BATCH:
                connection.execute(by_name[name].insert(), batch)
                written[name] += len(batch)
                pending[name] = []
                if progress is not None:
                    progress(name, written[name])
        for name, batch in pending.items():
            if batch:
                connection.execute(by_name[name].insert(), batch)
                written[name] += len(batch)
        _fix_sequences(connection, stores, kommunenummer)
        stored = {
            name: connection.execute(select(func.count()).select_from(by_name[name])).scalar_one()
            for name in checked.header["tables"]
        }
        if stored != checked.counts or written != checked.counts:
            raise ExportError(
                f"after loading, the store holds {stored} rows where the file has "
                f"{checked.counts}: nothing was kept"
            )
    return stored, written


def _table_exists(connection: Connection, table: Table) -> bool:
    from sqlalchemy import inspect

    schema = connection.get_execution_options().get("schema_translate_map", {}).get(table.schema)
    return inspect(connection).has_table(table.name, schema=schema)
