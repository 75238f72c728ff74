"""Onboarding and offboarding a municipality: one idempotent step each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, insert, select, update

from journalloft.platform.auth.clients import add_key, register_client
from journalloft.platform.directory import TENANT_TABLE
from journalloft.platform.jsonschemas import Schemas
from journalloft.platform.registry import ServiceRegistry
from journalloft.platform.storage.engines import Stores
from journalloft.platform.storage.migrations import MigrationReport, migrate_tenant
from journalloft.platform.tenancy import Tenant, load_tenant_file


@dataclass(frozen=True, slots=True)
class OnboardingReport:
    tenant: Tenant
    new_tenant: bool
    migration: MigrationReport
    new_clients: tuple[str, ...]


def onboard(
    path: Path, *, stores: Stores, schemas: Schemas, services: ServiceRegistry
) -> OnboardingReport:
    """Validate the tenant file, create and migrate its store, register it and its clients."""
    tenant = load_tenant_file(path, schemas=schemas, services=services.settings_schemas())
    stores.create_tenant_store(tenant.kommunenummer)
    migration = migrate_tenant(stores, tenant.kommunenummer, services.values())
    now = datetime.now(UTC)
    new_clients = []
    with stores.platform_engine.begin() as connection:
        exists = connection.execute(
            select(TENANT_TABLE.c.kommunenummer).where(
                TENANT_TABLE.c.kommunenummer == tenant.kommunenummer
            )
        ).first()
        values = {
            "name": tenant.name,
            "organisasjonsnummer": tenant.organisasjonsnummer,
            "document": dict(tenant.document),
            "updated_at": now,
        }
        if exists:
            connection.execute(
                update(TENANT_TABLE)
                .where(TENANT_TABLE.c.kommunenummer == tenant.kommunenummer)
                .values(values)
            )
        else:
            connection.execute(
                insert(TENANT_TABLE).values(
                    kommunenummer=tenant.kommunenummer, onboarded_at=now, **values
                )
            )
        for grant in tenant.clients():
            if register_client(connection, client_id=grant.client_id, name=grant.name):
                new_clients.append(grant.client_id)
            for jwk in grant.jwks:
                add_key(connection, client_id=grant.client_id, jwk=jwk)
    return OnboardingReport(tenant, not exists, migration, tuple(new_clients))


def offboard(kommunenummer: str, *, stores: Stores) -> bool:
    """Remove a tenant's store and registration; False if it was not onboarded."""
    with stores.platform_engine.begin() as connection:
        result = connection.execute(
            delete(TENANT_TABLE).where(TENANT_TABLE.c.kommunenummer == kommunenummer)
        )
        known = result.rowcount > 0
    if known or stores.tenant_store_exists(kommunenummer):
        stores.drop_tenant_store(kommunenummer)
    return known
