"""The platform's tables: tenants and clients in the platform store; audit and restrictions in
every tenant's store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index
from sqlmodel import Field

from journalloft.platform.storage.tables import TENANT, PlatformModel, TenantModel, utc_field


class TenantRow(PlatformModel, table=True):
    __tablename__ = "tenant"

    kommunenummer: str = Field(primary_key=True, max_length=4)
    name: str = Field(max_length=200)
    organisasjonsnummer: str = Field(max_length=9)
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    onboarded_at: datetime = utc_field()
    updated_at: datetime = utc_field()


class ClientRow(PlatformModel, table=True):
    """A client of the built-in issuer.

    ``owner`` is who registered it and alone may give it keys from a tenant file: the
    kommunenummer of the tenant whose file first named it, or None for the platform operator
    (``journalloft clients``, which manages every client's keys whoever owns it).
    """

    __tablename__ = "client"

    client_id: str = Field(primary_key=True, max_length=128)
    name: str = Field(max_length=200)
    admin: bool = False
    created_at: datetime = utc_field()
    owner: str | None = Field(default=None, max_length=4)


class ClientKeyRow(PlatformModel, table=True):
    __tablename__ = "client_key"

    kid: str = Field(primary_key=True, max_length=128)
    client_id: str = Field(index=True, max_length=128, foreign_key="client.client_id")
    jwk: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = utc_field()


class AuditAnchor(PlatformModel, table=True):
    """The newest audit seal of each tenant, kept in the platform's store, outside the tenant's
    own: a tenant store whose newest seals vanished together with their events no longer has the
    seal this names (``audit/seal.py``)."""

    __tablename__ = "audit_anchor"

    kommunenummer: str = Field(primary_key=True, max_length=4)
    seq: int
    chain_hash: str = Field(max_length=64)
    last_occurred_at: datetime = utc_field()
    sealed_at: datetime = utc_field()


class AuditEvent(TenantModel, table=True):
    """One access to patient data, or one change to it, in the tenant's own store.

    ``organisasjonsnummer`` is the calling client's organisation as its token names it;
    ``legal_entity``, ``point_of_care``, the practitioner, ``purpose``, ``healthcare_service`` and
    ``decision_ref`` come from the trust-framework attestation when one was sent. Never a
    practitioner's national id.

    ``data_age_seconds`` and ``channel`` came later (tenant_0005): the seal's canonical form of an
    event holds them only when set (``audit_seal.canonical_event``), so older seals still verify.
    """

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_patient_time", "patient", "occurred_at"),
        {"schema": TENANT},
    )

    id: int | None = Field(default=None, sa_type=BigInteger, primary_key=True)
    occurred_at: datetime = utc_field(index=True)
    action: str = Field(max_length=32)
    service: str | None = Field(default=None, max_length=64)
    patient: str | None = Field(default=None, max_length=11)
    client_id: str = Field(max_length=128)
    organisasjonsnummer: str | None = Field(default=None, max_length=9)
    practitioner_name: str | None = Field(default=None, max_length=200)
    practitioner_hpr: str | None = Field(default=None, max_length=16)
    purpose: str | None = Field(default=None, max_length=32)
    healthcare_service: str | None = Field(default=None, max_length=32)
    legal_entity: str | None = Field(default=None, max_length=9)
    point_of_care: str | None = Field(default=None, max_length=9)
    decision_ref: str | None = Field(default=None, max_length=128)
    break_the_glass: bool = False
    epj_system: str | None = Field(default=None, max_length=200)
    correlation_id: str = Field(max_length=128)
    result_count: int = 0
    outcome: str = Field(default="ok", max_length=32)
    data_age_seconds: int | None = Field(default=None, sa_type=BigInteger)
    """A read that found something: how old the newest data it returned was (the read's time
    less the newest ``updated`` among what it returned), for the usage report."""
    channel: str | None = Field(default=None, max_length=16)
    """How a read went out: None for a lookup, ``stream`` for a event stream's snapshot or
    update."""


class Restriction(TenantModel, table=True):
    """A person who has restricted sharing (sperring): nothing about them leaves the platform."""

    __tablename__ = "restriction"
    __table_args__ = ({"schema": TENANT},)

    patient: str = Field(primary_key=True, max_length=11)
    restricted_at: datetime = utc_field()
    restricted_by: str = Field(max_length=128)


class AuditSeal(TenantModel, table=True):
    """A signed checkpoint over the audit log: the events after (``after_occurred_at``,
    ``after_id``) up to and including (``last_occurred_at``, ``last_id``), in (time, id) order,
    hash-chained from ``previous_hash`` to ``chain_hash``; see ``audit/seal.py``."""

    __tablename__ = "audit_seal"
    __table_args__ = ({"schema": TENANT},)

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    sealed_at: datetime = utc_field()
    after_occurred_at: datetime | None = utc_field(nullable=True)
    after_id: int | None = Field(default=None, sa_type=BigInteger)
    last_occurred_at: datetime = utc_field()
    last_id: int = Field(sa_type=BigInteger)
    event_count: int
    previous_hash: str = Field(max_length=64)
    chain_hash: str = Field(max_length=64)
    key_id: str = Field(max_length=64)
    signature: str = Field(max_length=128)


class ChangeOutbox(TenantModel, table=True):
    """Changes committed in this store and not yet handed to the change feed (see
    :mod:`journalloft.platform.live.outbox`): written in the same transaction as the change they
    announce, deleted once the feed holds them. ``changes``: ``[[kind, service, patient], ...]``
    (service empty for a restriction)."""

    __tablename__ = "change_outbox"
    __table_args__ = ({"schema": TENANT},)

    id: int | None = Field(default=None, sa_type=BigInteger, primary_key=True)
    created_at: datetime = utc_field(index=True)
    changes: list[list[str]] = Field(sa_column=Column(JSON, nullable=False))
