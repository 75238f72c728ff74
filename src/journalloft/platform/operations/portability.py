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
3. the trailer: ``{"end": true, "counts": {table: rows}, "sha256": hex, "signature": jws}``,
   where ``sha256`` is the SHA-256 of every byte before the trailer line (the uncompressed
   lines, newlines included) and ``signature`` a JWS (compact, ``alg`` ``Ed25519``, RFC 9864;
   ``kid`` the SHA-256 of the raw public key, as the audit seal's) by the exporting operator's
   key over ``{"format", "kommunenummer", "counts", "sha256"}``: the checksum covers the header
   and rows, the signature the checksum and whose file it is.

A file without its trailer is incomplete; a file whose counts or checksum disagree with its lines
is damaged; a file not signed by a key the importing operator trusts is refused unless the
operator says to trust it (``--trust-unsigned``). The header's kommunenummer, its tenant
document's, the seals of its audit log (signed over the kommunenummer, chained from it) and the
target must all name one municipality. Import reads the whole file once to check all that before
it writes anything, then writes every row in one transaction of the target tenant's store,
verifies the imported audit seals and counts the rows again before it commits. Gzip (Python's
own ``gzip`` module) and JSON Lines were chosen because any operator can read them with standard
tools (``zcat file | head -1 | jq``), they stream in constant memory both ways, and gzip's own
CRC catches most corruption even before the checksum. The signature is a JWS by joserfc, the JOSE
library the platform's tokens already use, with the operator's Ed25519 key.
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

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey
from sqlalchemy import Connection, Table, create_engine, delete, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlalchemy.types import Date

from journalloft.platform.audit.seal import (
    AUDIT_SEAL,
    key_id,
    load_private_key,
    load_public_key,
    public_pem,
    record_anchor,
)
from journalloft.platform.audit.seal import verify as verify_seals
from journalloft.platform.core.jsonschemas import Schemas
from journalloft.platform.core.settings import Settings
from journalloft.platform.core.tenancy import tenant_schema_name
from journalloft.platform.plugins.registry import ServiceRegistry
from journalloft.platform.storage.directory import TENANT_TABLE
from journalloft.platform.storage.engines import Stores
from journalloft.platform.storage.models import AuditEvent, AuditSeal, Restriction
from journalloft.platform.storage.tables import TENANT, UTCDateTime, rfc3339

FORMAT = "journalloft-tenant-export"
VERSION = 1
BATCH = 1000
SIGNATURE_ALGORITHM = "Ed25519"

Progress = Callable[[str, int], None]
"""Told (table, rows so far) every :data:`BATCH` rows and at the end of each table."""


class ExportError(Exception):
    """The file is not a complete, undamaged export, or cannot go where it was asked to."""


def load_export_key(settings: Settings) -> Ed25519PrivateKey:
    """The operator's export signing key: ``JOURNALLOFT_EXPORT_SIGNING_KEY_FILE`` (PEM, PKCS#8),
    or a development key made on first use at ``<data dir>/export-signing-dev-key.pem``."""
    return load_private_key(
        settings,
        configured=settings.export_signing_key_file,
        development=settings.data_path / "export-signing-dev-key.pem",
        setting="JOURNALLOFT_EXPORT_SIGNING_KEY_FILE",
    )


def trusted_export_keys(
    own: Ed25519PrivateKey | None, extra: Sequence[Path]
) -> dict[str, Ed25519PublicKey]:
    """The keys whose exports import takes: this operator's own, and public keys from PEM files
    (``tenants export-key`` of the exporting platform). By key id."""
    keys = {key_id(own.public_key()): own.public_key()} if own is not None else {}
    for path in extra:
        public = load_public_key(path.read_bytes())
        keys[key_id(public)] = public
    return keys


def _signed_claims(kommunenummer: str, counts: Mapping[str, int], sha256: str) -> bytes:
    return json.dumps(
        {"format": FORMAT, "kommunenummer": kommunenummer, "counts": counts, "sha256": sha256},
        sort_keys=True,
        separators=(",", ":"),
    ).encode("utf-8")


def _jwk(key: Ed25519PrivateKey | Ed25519PublicKey) -> OKPKey:
    if isinstance(key, Ed25519PrivateKey):
        return OKPKey.import_key(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return OKPKey.import_key(public_pem(key))


def sign_export(
    key: Ed25519PrivateKey, *, kommunenummer: str, counts: Mapping[str, int], sha256: str
) -> str:
    """The trailer's ``signature``: a compact JWS over whose file this is and its checksum."""
    return jws.serialize_compact(
        {"alg": SIGNATURE_ALGORITHM, "kid": key_id(key.public_key())},
        _signed_claims(kommunenummer, counts, sha256),
        _jwk(key),
        algorithms=[SIGNATURE_ALGORITHM],
    )


def _signer(
    signature: Any,
    trusted: Mapping[str, Ed25519PublicKey],
    *,
    kommunenummer: str,
    counts: Mapping[str, int],
    sha256: str,
) -> str:
    """The id of the trusted key that signed this file's claims; :class:`ExportError` if the
    file is unsigned, signed by a key not trusted, or its signature does not verify."""
    if not isinstance(signature, str):
        raise ExportError(
            "the file is not signed: import it only if you know where it comes from "
            "(--trust-unsigned)"
        )
    try:
        header = jws.extract_compact(signature.encode("ascii")).protected
    except (JoseError, ValueError, UnicodeError) as exc:
        raise ExportError("the file's signature is not a JWS") from exc
    kid = header.get("kid")
    public = trusted.get(kid) if isinstance(kid, str) else None
    if public is None:
        raise ExportError(
            f"the file is signed by a key this platform does not trust ({str(kid)[:16]}…): "
            "pass the exporting operator's public key with --public-key"
        )
    try:
        verified = jws.deserialize_compact(
            signature, _jwk(public), algorithms=[SIGNATURE_ALGORITHM]
        )
    except (JoseError, ValueError) as exc:
        raise ExportError("the file's signature does not verify: the file was changed") from exc
    if verified.payload != _signed_claims(kommunenummer, counts, sha256):
        raise ExportError(
            "the file's signature is over another file (another municipality, counts or "
            "checksum): the file was changed"
        )
    return str(kid)


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
    signing_key: Ed25519PrivateKey | None,
    extra_header: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> ExportSummary:
    """Write one tenant's export to ``destination`` (a binary file), streaming row by row,
    signed with ``signing_key`` (None: unsigned, which import takes only when told to)."""
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
        trailer: dict[str, Any] = {"end": True, "counts": counts, "sha256": digest.hexdigest()}
        if signing_key is not None:
            trailer["signature"] = sign_export(
                signing_key, kommunenummer=kommunenummer, counts=counts, sha256=digest.hexdigest()
            )
        out.write(_line(trailer))
    return ExportSummary(kommunenummer, counts, digest.hexdigest())


@dataclass(frozen=True, slots=True)
class ExportFile:
    """A checked export: its header and trailer (the rows are read again when loaded)."""

    path: Path
    header: dict[str, Any]
    counts: dict[str, int]
    sha256: str
    signed_by: str | None
    """The id of the trusted key that signed it; None when imported on the operator's word."""

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


def check_export(
    path: Path,
    *,
    tables: Sequence[Table],
    trusted: Mapping[str, Ed25519PublicKey],
    trust_unsigned: bool = False,
) -> ExportFile:
    """Read the whole file once: header, every row's shape, the trailer's counts, checksum and
    signature (by one of the ``trusted`` keys, unless ``trust_unsigned``), and that the header
    and its tenant document name the same municipality.

    Raises :class:`ExportError` for anything damaged, incomplete, unsigned, of another format or
    of two municipalities, before anything is written anywhere.
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
            _same_municipality(document)
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
    signed_by: str | None = None
    try:
        signed_by = _signer(
            trailer.get("signature"),
            trusted,
            kommunenummer=header["kommunenummer"],
            counts=found,
            sha256=digest.hexdigest(),
        )
    except ExportError:
        if not trust_unsigned:
            raise
    return ExportFile(path, header, found, digest.hexdigest(), signed_by)


def _same_municipality(header: Mapping[str, Any]) -> None:
    """The header and the tenant document it carries name one municipality, one name and one
    organisation: a file that says two things is refused whole."""
    kommunenummer = header["kommunenummer"]
    tenant = header.get("tenant")
    document = tenant.get("document") if isinstance(tenant, dict) else None
    if not isinstance(tenant, dict) or not isinstance(document, dict):
        raise ExportError("the header has no tenant document")
    if document.get("kommunenummer") != kommunenummer:
        raise ExportError(
            f"the header is for municipality {kommunenummer} but its tenant document for "
            f"{str(document.get('kommunenummer'))[:8]!r}: the file was changed"
        )
    for name in ("name", "organisasjonsnummer"):
        if tenant.get(name) != document.get(name):
            raise ExportError(f"the header's tenant {name} differs from its tenant document's")


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
    signed_by: str | None
    replaced: dict[str, int] | None
    """What the municipality held here before (rows per table), when the import replaced it."""


@dataclass(frozen=True, slots=True)
class Existing:
    """A municipality this platform already has: its registration and rows per table."""

    name: str | None
    organisasjonsnummer: str | None
    document: dict[str, Any] | None
    counts: dict[str, int]

    def describe(self, kommunenummer: str) -> str:
        who = f"{self.name}, {self.organisasjonsnummer}" if self.name else "not registered"
        rows = ", ".join(f"{t} {n}" for t, n in self.counts.items() if n) or "no rows"
        grants = ""
        if self.document is not None:
            clients = sorted(
                {
                    item["client_id"]
                    for role in ("sources", "consumers", "operators")
                    for item in self.document.get(role) or []
                    if isinstance(item, dict) and isinstance(item.get("client_id"), str)
                }
            )
            grants = f"; its tenant file and grants to {', '.join(clients) or 'no client'}"
        return f"municipality {kommunenummer} ({who}){grants}; {rows}"


def existing_tenant(stores: Stores, kommunenummer: str, tables: Sequence[Table]) -> Existing | None:
    """What an import into ``kommunenummer`` would replace; None when there is nothing."""
    with stores.platform_engine.connect() as connection:
        registered = connection.execute(
            select(
                TENANT_TABLE.c.name, TENANT_TABLE.c.organisasjonsnummer, TENANT_TABLE.c.document
            ).where(TENANT_TABLE.c.kommunenummer == kommunenummer)
        ).first()
    counts: dict[str, int] = {}
    if stores.tenant_store_exists(kommunenummer):
        with stores.tenant_engine(kommunenummer).connect() as connection:
            counts = {
                table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
                for table in tables
                if _table_exists(connection, table)
            }
    if registered is None and not any(counts.values()):
        return None
    return Existing(
        registered.name if registered else None,
        registered.organisasjonsnummer if registered else None,
        dict(registered.document) if registered else None,
        counts,
    )


def import_tenant(
    path: Path,
    *,
    stores: Stores,
    schemas: Schemas,
    services: ServiceRegistry,
    trusted: Mapping[str, Ed25519PublicKey],
    trust_unsigned: bool = False,
    into: str | None = None,
    replace: bool = False,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> ImportSummary:
    """Load a checked export into this platform's store for its municipality.

    The file is checked whole first (:func:`check_export`: signed by a ``trusted`` key unless
    ``trust_unsigned``, its header and tenant document naming one municipality, which must be
    ``into`` when given). A municipality this platform already has (registered, or with data) is
    refused, naming what would be replaced, unless ``replace``. The tenant file is registered as
    onboarding does (its store created and migrated, its clients registered), then every row is
    written in one transaction that also empties the tables first when replacing; before it
    commits, the imported audit seals are verified for this municipality with the keys the
    header names (``audit_seal_keys``) and the rows counted again. Anything refused leaves
    nothing behind: a municipality this import registered is removed again, one it replaced gets
    its own tenant file back.
    """
    from journalloft.platform.operations.onboarding import offboard

    tables = tenant_tables(services)
    checked = check_export(path, tables=tables, trusted=trusted, trust_unsigned=trust_unsigned)
    kommunenummer = checked.kommunenummer
    if into is not None and into != kommunenummer:
        raise ExportError(
            f"the file is municipality {kommunenummer}'s, not {into}'s: nothing imported"
        )
    seal_keys = _seal_keys(checked.header)
    existing = existing_tenant(stores, kommunenummer, tables)
    if existing is not None and not replace:
        raise ExportError(
            f"{existing.describe(kommunenummer)}: an import replaces all of it with the file's "
            f"({checked.header['tenant']['name']}, {sum(checked.counts.values())} rows); "
            "add --replace to overwrite it"
        )
    report = _register(checked.header["tenant"]["document"], stores, schemas, services)
    try:
        try:
            stored, written = _load_rows(
                checked,
                stores,
                kommunenummer,
                tables,
                progress,
                seal_check=lambda connection: _check_seals(
                    connection,
                    kommunenummer=kommunenummer,
                    keys=seal_keys,
                    now=now or datetime.now(UTC),
                    retention_years=report.tenant.policy.audit_retention_years,
                ),
            )
        except SQLAlchemyError as exc:
            raise ExportError(
                f"the store refused the file's rows ({type(exc).__name__}): nothing was kept"
            ) from exc
    except BaseException:
        # all or nothing: a municipality this import registered goes again, one it replaced
        # gets its own tenant file back; rows that were there stay (the transaction rolled back)
        if existing is None:
            offboard(kommunenummer, stores=stores)
        elif existing.document is not None:
            _register(existing.document, stores, schemas, services)
        elif report.new_tenant:  # a store with rows but no registration: only unregister
            with stores.platform_engine.begin() as connection:
                connection.execute(
                    delete(TENANT_TABLE).where(TENANT_TABLE.c.kommunenummer == kommunenummer)
                )
        raise
    with stores.tenant_engine(kommunenummer).connect() as connection:
        newest = connection.execute(
            select(AUDIT_SEAL).order_by(AUDIT_SEAL.c.seq.desc()).limit(1)
        ).first()
    record_anchor(stores, kommunenummer, dict(newest._mapping) if newest else None, force=True)
    if progress is not None:
        for name, count in written.items():
            progress(name, count)
    return ImportSummary(
        kommunenummer,
        stored,
        checked.sha256,
        report.new_tenant,
        checked.signed_by,
        existing.counts if existing is not None else None,
    )


def _register(
    document: Mapping[str, Any], stores: Stores, schemas: Schemas, services: ServiceRegistry
) -> Any:
    from journalloft.platform.operations.onboarding import onboard

    with tempfile.TemporaryDirectory() as folder:
        tenant_file = Path(folder) / f"{document['kommunenummer']}.yaml"
        # JSON is YAML: the document is registered exactly as it was exported
        tenant_file.write_text(json.dumps(document), encoding="utf-8")
        return onboard(tenant_file, stores=stores, schemas=schemas, services=services)


def _seal_keys(header: Mapping[str, Any]) -> dict[str, Ed25519PublicKey]:
    """The audit seal keys the (signed) header names, each under its own id."""
    named = header.get("audit_seal_keys") or {}
    if not isinstance(named, dict):
        raise ExportError("the header's audit_seal_keys is not an object")
    keys: dict[str, Ed25519PublicKey] = {}
    for pem in named.values():
        try:
            public = load_public_key(str(pem).encode("ascii"))
        except (ValueError, UnicodeError) as exc:
            raise ExportError("the header names an audit seal key that is not Ed25519") from exc
        keys[key_id(public)] = public
    return keys


def _check_seals(
    connection: Connection,
    *,
    kommunenummer: str,
    keys: Mapping[str, Ed25519PublicKey],
    now: datetime,
    retention_years: int,
) -> None:
    """The imported audit log is this municipality's: every seal verifies for it (its signature
    covers the kommunenummer, its chain starts from it) with the header's seal keys."""
    report = verify_seals(
        connection,
        kommunenummer=kommunenummer,
        trusted=keys,
        now=now,
        retention_years=retention_years,
        anchor=None,  # the file's own seals: the platform's record follows them once imported
    )
    # a seal by a key the header does not name (one the exporting platform retired) is left
    # to `audit verify --public-key`; its chain, which starts from the kommunenummer, is not
    problems = [p for p in report.problems if "untrusted key" not in p]
    if problems:
        raise ExportError(
            f"the file's audit log does not verify as municipality {kommunenummer}'s "
            f"({'; '.join(problems[:3])}): nothing was kept"
        )


def _load_rows(
    checked: ExportFile,
    stores: Stores,
    kommunenummer: str,
    tables: Sequence[Table],
    progress: Progress | None,
    *,
    seal_check: Callable[[Connection], None],
) -> tuple[dict[str, int], dict[str, int]]:
    """Every row of the file in one transaction, after emptying the tables; checked counts and
    seals."""
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
        seal_check(connection)
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
