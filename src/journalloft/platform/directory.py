"""The onboarded tenants, as the running platform sees them (read from the platform store)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

from sqlalchemy import select

from journalloft.platform.jsonschemas import Schemas
from journalloft.platform.models import TenantRow
from journalloft.platform.storage import Stores
from journalloft.platform.tenancy import Tenant, tenant_from_document

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
        self._loaded_at = float("-inf")

    def _current(self) -> dict[str, Tenant]:
        if time.monotonic() - self._loaded_at > self._ttl:
            self.reload()
        return self._tenants

    def reload(self) -> None:
        with self._stores.platform_engine.connect() as connection:
            rows = connection.execute(
                select(TENANT_TABLE.c.kommunenummer, TENANT_TABLE.c.document).order_by(
                    TENANT_TABLE.c.kommunenummer
                )
            ).all()
        tenants = {
            kommunenummer: tenant_from_document(
                document,
                schemas=self._schemas,
                services=self._services,
                source=f"tenant {kommunenummer}",
            )
            for kommunenummer, document in rows
        }
        with self._lock:
            self._tenants = tenants
            self._loaded_at = time.monotonic()

    def get(self, kommunenummer: str) -> Tenant | None:
        return self._current().get(kommunenummer)

    def all(self) -> list[Tenant]:
        return list(self._current().values())
