"""A tamper-evident audit log: hash chains over each tenant's events, in signed checkpoints.

Events are written by many processes, and a lookup's are group-committed, so the order in which
events commit is not the order of their (``occurred_at``, ``id``), and an event id is assigned
before its commit. A chain computed at write time would need one serialisation point per tenant
on the hot path. Instead a *sealer* runs beside the platform (every
``JOURNALLOFT_AUDIT_SEAL_INTERVAL_SECONDS`` in each serving process, or ``journalloft audit
seal``) and seals what the review feed already treats as settled: the events at least
:data:`~journalloft.platform.audit.log.FEED_DELAY_SECONDS` old, in (``occurred_at``, ``id``) order,
after the last seal's position.

A seal (a row of ``audit_seal`` in the tenant's own store) records the position it continues
from, the position of its last event, how many events it covers, the chain hash before them and
after them, and an Ed25519 signature over all of that and the kommunenummer. The chain is
``h₀ = SHA-256("journalloft-audit:" + kommunenummer)``, ``hᵢ = SHA-256(hᵢ₋₁ ‖ canonical(eventᵢ))``
where the canonical form of an event is the JSON array of every column, the id included.

Sealers of several processes serialise per tenant on the seal's primary key (``seq``) inside one
transaction of the tenant's store (PostgreSQL: plus a transaction-scoped advisory lock per tenant;
a sealer that finds it taken leaves that tenant to the one holding it; SQLite: ``BEGIN
IMMEDIATE``). Lookups never wait for it:
sealing costs the hot path nothing.

:func:`verify` recomputes every chain segment and reports, per seal: a signature that is not a
trusted key's or does not verify, a seal missing from the sequence, a segment with fewer events
(removed), more (inserted) or the same number with another hash (altered); and how many events are
not sealed yet. What it cannot see (see docs/operations.md): changes to events not yet sealed
(the last few minutes), and someone who holds the signing key. Cutting the newest seals away
together with their events is visible against the copy of the newest seal kept outside the
tenant's store: the platform's store records each tenant's newest seal (``audit_anchor``:
number and chain hash, only ever forward) after the tenant's store committed it, and each seal
is logged (``journalloft.audit``, with its chain hash) as it is made.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Connection, and_, delete, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from journalloft.platform.audit.log import AUDIT_EVENT, FEED_DELAY_SECONDS, retention_cutoff
from journalloft.platform.core.settings import Settings
from journalloft.platform.storage.engines import Stores
from journalloft.platform.storage.models import AuditAnchor, AuditSeal
from journalloft.platform.storage.tables import rfc3339

AUDIT_SEAL = AuditSeal.__table__  # type: ignore[attr-defined]
AUDIT_ANCHOR = AuditAnchor.__table__  # type: ignore[attr-defined]
LATER_COLUMNS = ("data_age_seconds", "channel")
"""Columns added to the audit event after seals began (tenant_0005): in an event's canonical form
only when set, as ``[name, value]`` after the others, so that every seal made before them still
verifies and a value set or removed later still breaks the chain."""
EVENT_COLUMNS = tuple(column.key for column in AUDIT_EVENT.c if column.key not in LATER_COLUMNS)
MAX_EVENTS_PER_SEAL = 10_000
"""Events per seal at most (a seal's events are read into memory once): a backlog is sealed in
several seals, in one transaction."""
SEAL_LOCK_BASE = 0x4A4C_0000  # "JL": the advisory lock of tenant 1804 is SEAL_LOCK_BASE + 1804

log = logging.getLogger("journalloft.audit")


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("an audit seal key is an Ed25519 public key")
    return key


def load_seal_key(settings: Settings) -> Ed25519PrivateKey:
    """The platform's sealing key: ``JOURNALLOFT_AUDIT_SEAL_KEY_FILE`` (PEM, PKCS#8), or a
    development key made on first use at ``<data dir>/audit-seal-dev-key.pem``."""
    return load_private_key(
        settings,
        configured=settings.audit_seal_key_file,
        development=settings.data_path / "audit-seal-dev-key.pem",
        setting="JOURNALLOFT_AUDIT_SEAL_KEY_FILE",
    )


def derived_key(settings: Settings, purpose: str, length: int = 64) -> bytes:
    """A key for ``purpose`` (HKDF-SHA256): from ``JOURNALLOFT_FHIR_KEY_FILE``'s bytes when set,
    else from the audit seal key (the same on every server in production). One secret to keep,
    independent keys for each purpose."""
    if settings.fhir_key_file is not None:
        secret = settings.fhir_key_file.read_bytes()
        if len(secret) < 32:
            raise ValueError("JOURNALLOFT_FHIR_KEY_FILE must hold at least 32 random bytes")
    else:
        secret = load_seal_key(settings).private_bytes_raw()
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode()).derive(
        secret
    )


def load_private_key(
    settings: Settings, *, configured: Path | None, development: Path, setting: str
) -> Ed25519PrivateKey:
    """An Ed25519 private key (PEM, PKCS#8) from the file a setting names, or else, outside
    production, a development key made on first use at ``development`` (mode 0600)."""
    path = configured or development
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path}: {setting} must name an Ed25519 key")
        return key
    if configured is not None:
        raise FileNotFoundError(f"{setting}: key file {path} does not exist")
    if settings.environment == "production":
        raise ValueError(f"production needs {setting} (no development key)")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return load_private_key(
            settings, configured=configured, development=development, setting=setting
        )
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    return key


def genesis(kommunenummer: str) -> str:
    return hashlib.sha256(f"journalloft-audit:{kommunenummer}".encode()).hexdigest()


def _value(value: Any) -> Any:
    return rfc3339(value) if isinstance(value, datetime) else value


def canonical_event(row: Mapping[Any, Any]) -> bytes:
    values = [_value(row[name]) for name in EVENT_COLUMNS]
    values += [[name, row[name]] for name in LATER_COLUMNS if row.get(name) is not None]
    return json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def chain(previous: str, row: Mapping[Any, Any]) -> str:
    return hashlib.sha256(bytes.fromhex(previous) + canonical_event(row)).hexdigest()


SIGNED_FIELDS = (
    "seq",
    "after_occurred_at",
    "after_id",
    "last_occurred_at",
    "last_id",
    "event_count",
    "previous_hash",
    "chain_hash",
    "sealed_at",
    "key_id",
)


def seal_message(kommunenummer: str, seal: Mapping[str, Any]) -> bytes:
    document = {"kommunenummer": kommunenummer, **{k: _value(seal[k]) for k in SIGNED_FIELDS}}
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _after(position: tuple[datetime, int] | None) -> Any:
    table = AUDIT_EVENT
    if position is None:
        return None
    occurred_at, event_id = position
    return or_(
        table.c.occurred_at > occurred_at,
        and_(table.c.occurred_at == occurred_at, table.c.id > event_id),
    )


def _up_to(position: tuple[datetime, int]) -> Any:
    table = AUDIT_EVENT
    occurred_at, event_id = position
    return or_(
        table.c.occurred_at < occurred_at,
        and_(table.c.occurred_at == occurred_at, table.c.id <= event_id),
    )


def _last_seal(connection: Connection) -> dict[str, Any] | None:
    row = connection.execute(select(AUDIT_SEAL).order_by(AUDIT_SEAL.c.seq.desc()).limit(1)).first()
    return dict(row._mapping) if row is not None else None


def seal_tenant(
    connection: Connection,
    *,
    kommunenummer: str,
    key: Ed25519PrivateKey,
    now: datetime,
    postgres: bool,
) -> list[dict[str, Any]]:
    """Seal this tenant's settled events not sealed yet, in this transaction; the new seals."""
    if postgres:
        # another process sealing this tenant now does the work: do not wait for it
        mine = connection.execute(
            text("SELECT pg_try_advisory_xact_lock(:lock)"),
            {"lock": SEAL_LOCK_BASE + int(kommunenummer)},
        ).scalar_one()
        if not mine:
            return []
    horizon = now - timedelta(seconds=FEED_DELAY_SECONDS)
    made: list[dict[str, Any]] = []
    while True:
        last = _last_seal(connection)
        position = (last["last_occurred_at"], last["last_id"]) if last else None
        previous = last["chain_hash"] if last else genesis(kommunenummer)
        query = select(AUDIT_EVENT).where(AUDIT_EVENT.c.occurred_at <= horizon)
        after = _after(position)
        if after is not None:
            query = query.where(after)
        rows = connection.execute(
            query.order_by(AUDIT_EVENT.c.occurred_at, AUDIT_EVENT.c.id).limit(MAX_EVENTS_PER_SEAL)
        ).mappings()
        digest = previous
        count = 0
        final: Mapping[Any, Any] | None = None
        for row in rows:
            digest = chain(digest, row)
            count += 1
            final = row
        if final is None:
            return made
        seal: dict[str, Any] = {
            "seq": (last["seq"] if last else 0) + 1,
            "sealed_at": now,
            "after_occurred_at": position[0] if position else None,
            "after_id": position[1] if position else None,
            "last_occurred_at": final["occurred_at"],
            "last_id": final["id"],
            "event_count": count,
            "previous_hash": previous,
            "chain_hash": digest,
            "key_id": key_id(key.public_key()),
        }
        seal["signature"] = key.sign(seal_message(kommunenummer, seal)).hex()
        connection.execute(insert(AUDIT_SEAL).values(seal))
        log.info(
            "audit sealed tenant=%s seq=%d events=%d chain=%s",
            kommunenummer,
            seal["seq"],
            count,
            digest,
        )
        made.append(seal)
        if count < MAX_EVENTS_PER_SEAL:
            return made


def seal_all(
    stores: Stores, kommunenummere: list[str], *, key: Ed25519PrivateKey, now: datetime
) -> dict[str, int]:
    """Seal every tenant named; events sealed per tenant. One tenant failing does not stop the
    others (it is logged and tried again next time)."""
    sealed: dict[str, int] = {}
    for kommunenummer in kommunenummere:
        try:
            with stores.tenant_transaction(kommunenummer) as connection:
                seals = seal_tenant(
                    connection,
                    kommunenummer=kommunenummer,
                    key=key,
                    now=now,
                    postgres=stores.postgres,
                )
        except Exception:
            log.exception("audit sealing failed tenant=%s", kommunenummer)
            continue
        if seals:
            try:
                record_anchor(stores, kommunenummer, seals[-1])
            except Exception:
                log.exception("audit anchor not recorded tenant=%s", kommunenummer)
        sealed[kommunenummer] = sum(seal["event_count"] for seal in seals)
    return sealed


def record_anchor(
    stores: Stores, kommunenummer: str, seal: Mapping[str, Any] | None, *, force: bool = False
) -> None:
    """Keep ``seal`` as the tenant's newest in the platform's store, after the tenant's store
    committed it: only ever forward (two sealers), unless ``force`` (an import replaced the
    log; ``None``: it has no seals)."""
    anchor = AUDIT_ANCHOR
    where = anchor.c.kommunenummer == kommunenummer
    with stores.platform_engine.begin() as connection:
        if seal is None:
            connection.execute(delete(anchor).where(where))
            return
        values = {
            "seq": seal["seq"],
            "chain_hash": seal["chain_hash"],
            "last_occurred_at": seal["last_occurred_at"],
            "sealed_at": seal["sealed_at"],
        }
        moved = connection.execute(
            update(anchor).where(where if force else and_(where, anchor.c.seq < seal["seq"])),
            values,
        ).rowcount
        if moved:
            return
        try:
            with connection.begin_nested():
                connection.execute(insert(anchor).values(kommunenummer=kommunenummer, **values))
        except IntegrityError:
            pass  # another sealer recorded this seal or a newer one meanwhile


def read_anchor(stores: Stores, kommunenummer: str) -> dict[str, Any] | None:
    """The tenant's newest seal as the platform's store recorded it; None before its first."""
    with stores.platform_engine.connect() as connection:
        row = connection.execute(
            select(AUDIT_ANCHOR).where(AUDIT_ANCHOR.c.kommunenummer == kommunenummer)
        ).first()
    return dict(row._mapping) if row is not None else None


def purge_seals(connection: Connection, *, cutoff: datetime) -> int:
    """Delete the seals whose every event is past retention (the purge deleted those events)."""
    result = connection.execute(delete(AUDIT_SEAL).where(AUDIT_SEAL.c.last_occurred_at < cutoff))
    return int(result.rowcount or 0)


@dataclass(slots=True)
class Verification:
    kommunenummer: str
    seals: int = 0
    events_checked: int = 0
    unsealed: int = 0
    skipped: int = 0
    """Seals whose segment reaches back past the retention cutoff: partly purged, not checked."""
    newest: int | None = None
    """The newest seal's number in the tenant's store."""
    anchored: int | None = None
    """The newest seal's number as the platform's store recorded it (None: no anchor given)."""
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def verify(
    connection: Connection,
    *,
    kommunenummer: str,
    trusted: Mapping[str, Ed25519PublicKey],
    now: datetime,
    retention_years: int,
    anchor: Mapping[str, Any] | None,
) -> Verification:
    """Check every seal's signature and continuity, recompute every sealed segment, and find
    the newest seal the platform's store recorded (``anchor``, from :func:`read_anchor`): seals
    removed from the end of the chain, with their events, leave a chain that is shorter but
    valid, and only a record outside the tenant's store shows it."""
    report = Verification(kommunenummer)
    cutoff = retention_cutoff(now, retention_years)
    seals = [dict(row._mapping) for row in connection.execute(select(AUDIT_SEAL).order_by("seq"))]
    report.seals = len(seals)
    report.newest = seals[-1]["seq"] if seals else None
    if anchor is not None:
        report.anchored = anchor["seq"]
        recorded = next((seal for seal in seals if seal["seq"] == anchor["seq"]), None)
        if recorded is None and anchor["last_occurred_at"] >= cutoff:
            report.problems.append(
                f"seal {anchor['seq']}, the newest the platform recorded (chain "
                f"{anchor['chain_hash'][:16]}…), is missing: seals were removed"
                + (f" (the newest left is {report.newest})" if seals else " (none are left)")
            )
        elif recorded is not None and recorded["chain_hash"] != anchor["chain_hash"]:
            report.problems.append(
                f"seal {anchor['seq']}: its chain hash is not the one the platform recorded"
            )
    previous: dict[str, Any] | None = None
    for seal in seals:
        name = f"seal {seal['seq']}"
        public = trusted.get(seal["key_id"])
        if public is None:
            report.problems.append(f"{name}: signed by an untrusted key {seal['key_id'][:16]}…")
        else:
            try:
                public.verify(bytes.fromhex(seal["signature"]), seal_message(kommunenummer, seal))
            except (InvalidSignature, ValueError):
                report.problems.append(f"{name}: its signature does not verify (seal altered)")
        start = (
            (seal["after_occurred_at"], seal["after_id"])
            if seal["after_occurred_at"] is not None
            else None
        )
        if previous is None:
            if seal["seq"] != 1 and (start is None or start[0] >= cutoff):
                report.problems.append(f"seals before {seal['seq']} are missing")
            if seal["seq"] == 1 and seal["previous_hash"] != genesis(kommunenummer):
                report.problems.append(f"{name}: does not start the chain")
        else:
            if seal["seq"] != previous["seq"] + 1:
                report.problems.append(
                    f"seals {previous['seq'] + 1}..{seal['seq'] - 1} are missing"
                )
            if (
                start != (previous["last_occurred_at"], previous["last_id"])
                or seal["previous_hash"] != previous["chain_hash"]
            ):
                report.problems.append(f"{name}: does not continue seal {previous['seq']}")
        previous = seal
        if start is not None and start[0] < cutoff:
            report.skipped += 1  # its oldest events may be purged by retention
            continue
        query = select(AUDIT_EVENT).where(_up_to((seal["last_occurred_at"], seal["last_id"])))
        after = _after(start)
        if after is not None:
            query = query.where(after)
        digest = seal["previous_hash"]
        count = 0
        for row in connection.execute(
            query.order_by(AUDIT_EVENT.c.occurred_at, AUDIT_EVENT.c.id)
        ).mappings():
            digest = chain(digest, row)
            count += 1
        report.events_checked += count
        span = (
            f"{name} (events after {rfc3339(start[0]) if start else 'the start'}"
            f" up to {rfc3339(seal['last_occurred_at'])} id {seal['last_id']})"
        )
        if count < seal["event_count"]:
            report.problems.append(
                f"{span}: {seal['event_count'] - count} event(s) removed"
                + (" (and others changed)" if digest != seal["chain_hash"] else "")
            )
        elif count > seal["event_count"]:
            report.problems.append(f"{span}: {count - seal['event_count']} event(s) inserted")
        elif digest != seal["chain_hash"]:
            report.problems.append(f"{span}: event(s) altered")
    query = select(AUDIT_EVENT.c.id)
    if previous is not None:
        query = query.where(_after((previous["last_occurred_at"], previous["last_id"])))
    report.unsealed = len(connection.execute(query).all())
    return report


def trusted_keys(key: Ed25519PrivateKey, extra: list[Path]) -> dict[str, Ed25519PublicKey]:
    """The platform's own public key, and public keys from PEM files (an exporting platform's)."""
    keys = {key_id(key.public_key()): key.public_key()}
    for path in extra:
        public = load_public_key(path.read_bytes())
        keys[key_id(public)] = public
    return keys
