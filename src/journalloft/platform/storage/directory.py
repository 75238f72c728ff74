"""The onboarded tenants, as the running platform sees them (read from the platform store)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from journalloft.platform.core.jsonschemas import Schemas
from journalloft.platform.core.tenancy import Tenant, tenant_from_document
from journalloft.platform.storage.engines import Stores
from journalloft.platform.storage.models import TenantRow

TENANT_TABLE = TenantRow.__table__  # type: ignore[attr-defined]


class TenantDirectory:
    """Onboarded tenants by kommunenummer, reloaded after ``ttl_seconds`` so that every process
    sees an onboarding or offboarding within seconds."""

    def __init__(
        self,
        stores: Stores,
        *,
        schemas: Schemas,
        services: Mapping[str, str | None],
        ttl_seconds: float,
    ) -> None:
        self._stores = stores
        self._schemas = schemas
        self._services = dict(services)
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._tenants: dict[str, Tenant] = {}
        self._readers: dict[tuple[str, str], list[Tenant]] = {}
        self._loaded_at = float("-inf")

    def _current(self) -> dict[str, Tenant]:
        if time.monotonic() - self._loaded_at > self._ttl:
            self.reload()
        return self._tenants

    async def refresh(self) -> None:
        """Reload when stale, on a worker thread: for callers on the event loop, which must not
        wait on the store (after this, :meth:`get` and :meth:`readable_by` do not)."""
        if time.monotonic() - self._loaded_at > self._ttl:
            await run_in_threadpool(self.reload)

    def reload(self) -> None:
        with self._stores.platform_engine.connect() as connection:
            rows = connection.execute(
                select(TENANT_TABLE.c.kommunenummer, TENANT_TABLE.c.document).order_by(
                    TENANT_TABLE.c.kommunenummer
                )
            ).all()
        known = self._tenants
        tenants = {}
        for kommunenummer, document in rows:
            tenant = known.get(kommunenummer)
            if tenant is None or tenant.document != document:
                # only a new or changed document is validated again (357 of them take ~30 ms)
                tenant = tenant_from_document(
                    document,
                    schemas=self._schemas,
                    services=self._services,
                    source=f"tenant {kommunenummer}",
                )
            tenants[kommunenummer] = tenant
        readers: dict[tuple[str, str], list[Tenant]] = {}
        for tenant in tenants.values():  # kommunenummer order
            for grant in tenant.consumers:
                for service in grant.services:
                    if not tenant.has_service(service):
                        continue  # a grant of a service the tenant has not adopted reads nothing
                    found = readers.setdefault((grant.client_id, service), [])
                    if not found or found[-1] is not tenant:  # a client listed twice
                        found.append(tenant)
        with self._lock:
            self._tenants = tenants
            self._readers = readers
            self._loaded_at = time.monotonic()

    def get(self, kommunenummer: str) -> Tenant | None:
        return self._current().get(kommunenummer)

    def offboarded(self, kommunenummer: str) -> bool:
        """Whether the municipality is no longer onboarded, read afresh from the platform store
        (False if it cannot be read): for a request that found its store gone. Offboarding
        removes the registration before the store, so a store that vanished under a request
        belongs to a municipality this says is offboarded."""
        try:
            self.reload()
        except Exception:
            return False
        with self._lock:
            return kommunenummer not in self._tenants

    def all(self) -> list[Tenant]:
        return list(self._current().values())

    def readable_by(self, client_id: str, service: str) -> list[Tenant]:
        """The tenants that granted ``client_id`` to read ``service``, in kommunenummer order;
        worked out for every client at each reload, not per query (357 tenants cost ~180 µs to
        scan, and a reload every few seconds would have every client pay for it again)."""
        self._current()
        return list(self._readers.get((client_id, service), ()))
