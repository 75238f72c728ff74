"""Table bases: the platform's own tables, and the tables every tenant store has.

Tenant tables are declared in the placeholder schema :data:`TENANT`; the engine of each tenant maps
it to that tenant's PostgreSQL schema (or to no schema in its own SQLite file) through
``schema_translate_map``. One exception, for speed: the query path's statements are compiled
once and the tenant's schema name is written into their SQL text
(:meth:`~journalloft.platform.storage.statements.CompiledStatement.text_for`), from a validated
kommunenummer only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Dialect, String
from sqlalchemy.orm import registry
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

TENANT = "tenant"


def rfc3339(instant: datetime) -> str:
    """An instant as the API writes it: RFC 3339 in UTC with ``Z`` (as the JSON renderer does)."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware instant, stored in UTC; naive values are refused, never guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: an instant needs its offset")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        instant: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


class PlatformModel(SQLModel, registry=registry()):
    """Base of the platform's own tables (tenants, clients)."""


class TenantModel(SQLModel, registry=registry()):
    """Base of the tables in every tenant's store."""


def utc_field(*, index: bool = False, nullable: bool = False) -> Any:
    return Field(sa_type=UTCDateTime, index=index, nullable=nullable)


class SharedRecord(TenantModel):
    """Columns every shared record has: keyed by (source client, the source's own id)."""

    source: str = Field(primary_key=True, max_length=128)
    record_id: str = Field(primary_key=True, max_length=128)
    patient: str = Field(max_length=11)
    """Each service indexes it together with what its query needs."""
    updated: datetime = utc_field()
    content_hash: str = Field(max_length=64)
    received_at: datetime = utc_field()
    withdrawn_at: datetime | None = utc_field(nullable=True)


def shared_record_columns() -> list[Column[Any]]:
    """The columns of :class:`SharedRecord` for a service's first migration, new objects each
    call (a column belongs to one table). A migration that uses this gets exactly the platform's
    key and bookkeeping columns, and adds only its own."""
    return [
        Column("source", String(128), primary_key=True),
        Column("record_id", String(128), primary_key=True),
        Column("patient", String(11), nullable=False),
        Column("updated", UTCDateTime, nullable=False),
        Column("content_hash", String(64), nullable=False),
        Column("received_at", UTCDateTime, nullable=False),
        Column("withdrawn_at", UTCDateTime, nullable=True),
    ]
