"""Onboarding and offboarding a municipality: one idempotent step each.

A client of the built-in issuer belongs to whoever registered it: the tenant whose file first
named it, or the platform operator (``journalloft clients``). Another tenant's file may grant it
access to that tenant's own data and nothing more: a ``jwks`` for it refuses the whole file, and
its name, admin flag, owner and keys stay as they are. Offboarding removes the tenant's grants
(they are in its tenant row) and the clients it owns with their keys, except a client another
tenant still names (or one the operator made an admin): that one is kept with its keys, and the
platform operator owns it from then on (no remaining tenant inherits the right to give it keys).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from joserfc.errors import JoseError
from sqlalchemy import Connection, delete, insert, select, update

from journalloft.platform.auth.clients import (
    add_key,
    client_owner,
    clients_owned_by,
    hand_to_operator,
    key_holder,
    register_for_tenant,
    remove_client,
)
from journalloft.platform.auth.keys import public_key
from journalloft.platform.core.errors import FieldError
from journalloft.platform.core.jsonschemas import Schemas
from journalloft.platform.core.tenancy import ClientGrant, Tenant, TenantFileError, load_tenant_file
from journalloft.platform.plugins.registry import ServiceRegistry
from journalloft.platform.storage.directory import TENANT_TABLE
from journalloft.platform.storage.engines import Stores
from journalloft.platform.storage.migrations import MigrationReport, migrate_tenant
from journalloft.platform.storage.models import AuditAnchor

ROLES = ("sources", "consumers", "operators")


@dataclass(frozen=True, slots=True)
class OnboardingReport:
    tenant: Tenant
    new_tenant: bool
    migration: MigrationReport
    new_clients: tuple[str, ...]
    foreign_clients: Mapping[str, str | None] = field(default_factory=dict)
    """Clients the file names that someone else registered, with their owner (a kommunenummer;
    None: the platform operator): the file grants them access, their keys are not its own."""


@dataclass(frozen=True, slots=True)
class KeptClient:
    """A client the offboarded tenant owned that other tenants still name (``granted_by``), or
    that the operator made an admin: kept, keys and all, and owned by the platform operator from
    now on."""

    client_id: str
    granted_by: tuple[str, ...]
    admin: bool = False

    @property
    def reason(self) -> str:
        if self.granted_by:
            return "still granted by " + ", ".join(self.granted_by)
        return "an admin client"


@dataclass(frozen=True, slots=True)
class OffboardingReport:
    kommunenummer: str
    removed_clients: tuple[str, ...]
    kept_clients: tuple[KeptClient, ...]


def _named(tenant: Tenant) -> Iterator[tuple[str, ClientGrant]]:
    """Each client the tenant's file names, with its JSON pointer in the file."""
    for role in ROLES:
        grants: tuple[ClientGrant, ...] = getattr(tenant, role)
        for i, grant in enumerate(grants):
            yield f"/{role}/{i}", grant


def ownership_errors(connection: Connection, tenant: Tenant) -> list[FieldError]:
    """What the file may not do to clients: give keys to a client someone else registered, or
    register a key that is another client's (in the store or elsewhere in the file)."""
    errors = []
    in_file: dict[str, str] = {}
    for pointer, grant in _named(tenant):
        if not grant.jwks:
            continue
        exists, owner = client_owner(connection, grant.client_id)
        if exists and owner != tenant.kommunenummer:
            who = f"municipality {owner}" if owner else "the platform operator"
            errors.append(
                FieldError(
                    f"{pointer}/jwks",
                    f"{grant.client_id} was registered by {who}: only its owner gives it keys "
                    "(a file may grant another's client without jwks)",
                )
            )
            continue
        for j, jwk in enumerate(grant.jwks):
            at = f"{pointer}/jwks/keys/{j}"
            try:
                kid = public_key(jwk).thumbprint()
            except (JoseError, ValueError) as exc:
                errors.append(FieldError(at, f"not a usable public key: {exc}"))
                continue
            holder = key_holder(connection, kid) or in_file.setdefault(kid, grant.client_id)
            if holder != grant.client_id:
                errors.append(FieldError(at, "this key is registered to another client"))
    return errors


def _refuse_what_is_not_its_own(connection: Connection, tenant: Tenant, source: str) -> None:
    errors = ownership_errors(connection, tenant)
    if errors:
        raise TenantFileError(source, errors)


def onboard(
    path: Path, *, stores: Stores, schemas: Schemas, services: ServiceRegistry
) -> OnboardingReport:
    """Validate the tenant file, create and migrate its store, register it and its clients.

    All or nothing: a file that would change another's client is refused before its store is
    created, and checked again in the transaction that registers it; if that (or anything after
    the store was created) fails, a store this call created is removed again.
    """
    tenant = load_tenant_file(path, schemas=schemas, services=services.settings_schemas())
    with stores.platform_engine.connect() as connection:
        _refuse_what_is_not_its_own(connection, tenant, str(path))
    store_existed = stores.tenant_store_exists(tenant.kommunenummer)
    try:
        stores.create_tenant_store(tenant.kommunenummer)
        migration = migrate_tenant(stores, tenant.kommunenummer, services.values())
        with stores.platform_engine.begin() as connection:
            _refuse_what_is_not_its_own(connection, tenant, str(path))
            new_tenant, new_clients, foreign = _register(connection, tenant)
    except BaseException:
        if not store_existed and not _registered_meanwhile(stores, tenant.kommunenummer):
            stores.drop_tenant_store(tenant.kommunenummer)
        raise
    return OnboardingReport(tenant, new_tenant, migration, new_clients, foreign)


def _registered_meanwhile(stores: Stores, kommunenummer: str) -> bool:
    """Whether the tenant is registered after all (by an onboarding of the same tenant that ran
    at the same time and won): then the store is its, and stays. True when in doubt."""
    try:
        with stores.platform_engine.connect() as connection:
            found = connection.execute(
                select(TENANT_TABLE.c.kommunenummer).where(
                    TENANT_TABLE.c.kommunenummer == kommunenummer
                )
            ).first()
    except Exception:
        return True
    return found is not None


def _register(
    connection: Connection, tenant: Tenant
) -> tuple[bool, tuple[str, ...], dict[str, str | None]]:
    now = datetime.now(UTC)
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
    new_clients: list[str] = []
    foreign: dict[str, str | None] = {}
    for grant in tenant.clients():
        registration = register_for_tenant(
            connection,
            client_id=grant.client_id,
            name=grant.name,
            kommunenummer=tenant.kommunenummer,
        )
        if registration.created:
            new_clients.append(grant.client_id)
        if registration.owner != tenant.kommunenummer:
            foreign[grant.client_id] = registration.owner
            continue
        for jwk in grant.jwks:
            add_key(connection, client_id=grant.client_id, jwk=jwk)
    return not exists, tuple(new_clients), foreign


def _named_by_tenants(connection: Connection) -> dict[str, list[str]]:
    """Every client the onboarded tenants' files name, with the tenants that name it."""
    named: dict[str, list[str]] = {}
    rows = connection.execute(
        select(TENANT_TABLE.c.kommunenummer, TENANT_TABLE.c.document).order_by(
            TENANT_TABLE.c.kommunenummer
        )
    )
    for kommunenummer, document in rows:
        for role in ROLES:
            items: Any = document.get(role) if isinstance(document, dict) else None
            for item in items if isinstance(items, list) else []:
                client_id = item.get("client_id") if isinstance(item, dict) else None
                if isinstance(client_id, str):
                    tenants = named.setdefault(client_id, [])
                    if kommunenummer not in tenants:
                        tenants.append(kommunenummer)
    return named


DIRECTORY_MARGIN_SECONDS = 1.0


def _until_every_process_knows(tenant_cache_seconds: float) -> None:
    """Wait until every process has read the municipalities again since the registration was
    removed: each keeps its list at most ``TENANT_CACHE_SECONDS`` (every process of a platform
    has the same settings), so after that (and a margin) none sends a new request to a store
    about to be removed. A request already on its way when the store goes finds it gone, and is
    answered as for a municipality that is not onboarded (see ``operations/units.py``)."""
    if tenant_cache_seconds > 0:
        time.sleep(tenant_cache_seconds + DIRECTORY_MARGIN_SECONDS)


def offboard(kommunenummer: str, *, stores: Stores) -> OffboardingReport | None:
    """Remove a tenant's store and registration, its grants, and the clients it owns (with their
    keys) that no other tenant names and that are not admins; None if it was not onboarded.

    The registration goes first; the store only once every process has stopped counting the
    tenant (``TENANT_CACHE_SECONDS``, and a second more), so requests meanwhile are answered as
    for a municipality that is not onboarded, never by a store that is gone."""
    with stores.platform_engine.begin() as connection:
        result = connection.execute(
            delete(TENANT_TABLE).where(TENANT_TABLE.c.kommunenummer == kommunenummer)
        )
        known = result.rowcount > 0
        anchor = AuditAnchor.__table__  # type: ignore[attr-defined]
        connection.execute(delete(anchor).where(anchor.c.kommunenummer == kommunenummer))
        removed: list[str] = []
        kept: list[KeptClient] = []
        if known:
            still_named = _named_by_tenants(connection)
            for client_id, admin in clients_owned_by(connection, kommunenummer):
                others = still_named.get(client_id, [])
                if others or admin:
                    hand_to_operator(connection, client_id=client_id)
                    kept.append(KeptClient(client_id, tuple(others), admin))
                else:
                    remove_client(connection, client_id=client_id)
                    removed.append(client_id)
    if known:
        _until_every_process_knows(stores.settings.tenant_cache_seconds)
    if known or stores.tenant_store_exists(kommunenummer):
        stores.drop_tenant_store(kommunenummer)
    if not known:
        return None
    return OffboardingReport(kommunenummer, tuple(removed), tuple(kept))
