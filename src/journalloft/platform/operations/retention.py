"""Retention: each service that expires records purges them in every tenant store, and every
tenant's audit log drops events older than its policy's ``audit_retention_years`` (5 by default)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from journalloft.platform.audit.log import purge_events, retention_cutoff
from journalloft.platform.audit.seal import purge_seals
from journalloft.platform.core.tenancy import Tenant
from journalloft.platform.plugins.service_protocol import Purgeable, PurgeContext
from journalloft.platform.runtime import Runtime

log = logging.getLogger("journalloft.retention")


@dataclass(frozen=True, slots=True)
class PurgeResult:
    kommunenummer: str
    service: str
    deleted: int


def purge_all(runtime: Runtime) -> list[PurgeResult]:
    """Purge what is past retention in every tenant and service; log one line per result."""
    results = []
    now = runtime.clock()
    for tenant in runtime.tenants.all():
        results += purge_tenant(runtime, tenant, now=now)
    return results


def purge_tenant(runtime: Runtime, tenant: Tenant, *, now: datetime) -> list[PurgeResult]:
    """:func:`purge_all` for one tenant: each service, then its audit events."""
    results = []
    for name, service in runtime.services.items():
        if not tenant.has_service(name) or not isinstance(service, Purgeable):
            continue
        context = PurgeContext(
            kommunenummer=tenant.kommunenummer,
            now=now,
            settings=tenant.service_settings(name),
        )
        with runtime.stores.tenant_transaction(tenant.kommunenummer) as connection:
            deleted = service.purge(connection, context=context)
        log.info("purged tenant=%s service=%s deleted=%d", tenant.kommunenummer, name, deleted)
        results.append(PurgeResult(tenant.kommunenummer, name, deleted))
    with runtime.stores.tenant_transaction(tenant.kommunenummer) as connection:
        years = tenant.policy.audit_retention_years
        deleted = purge_events(connection, now=now, years=years)
        purge_seals(connection, cutoff=retention_cutoff(now, years))
    log.info("purged tenant=%s audit deleted=%d", tenant.kommunenummer, deleted)
    results.append(PurgeResult(tenant.kommunenummer, "audit", deleted))
    return results
