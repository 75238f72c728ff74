"""Everything a running platform holds, built once per process in the app's lifespan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from journalloft.platform.auth import IssuerKeys, TokenVerifier
from journalloft.platform.directory import TenantDirectory
from journalloft.platform.issuer import BuiltinIssuer, load_signing_key
from journalloft.platform.jsonschemas import SCHEMA_BASE, Schemas
from journalloft.platform.kv import KeyValue, connect_key_value
from journalloft.platform.reads import TenantReads, connect_reads
from journalloft.platform.registry import ServiceRegistry, discover_services
from journalloft.platform.services import SharingService
from journalloft.platform.settings import Settings
from journalloft.platform.storage import Stores

COMMON = SCHEMA_BASE + "platform/v1/common.schema.json"


def ingest_schema_id(service: SharingService, *, envelope_only: bool = False) -> str:
    name = "envelope" if envelope_only else "ingest"
    return f"{SCHEMA_BASE}{service.name}/{service.version}/{name}.schema.json"


def ingest_schema(
    service: SharingService, *, envelope_only: bool = False, max_records: int = 1000
) -> dict[str, Any]:
    """The ingest body of one service: ``{"records": [1..1000 records]}``.

    The envelope-only variant leaves the records to be checked one by one, so that a 422 lists
    every invalid record, each with its own pointers.
    """
    items = {"type": "object"} if envelope_only else {"$ref": service.record_schema}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": ingest_schema_id(service, envelope_only=envelope_only),
        "title": f"{service.title}: records from a journal system",
        "type": "object",
        "required": ["records"],
        "additionalProperties": False,
        "properties": {
            "records": {
                "type": "array",
                "minItems": 1,
                "maxItems": max_records,
                "items": items,
            }
        },
    }


def load_schemas(settings: Settings) -> tuple[Schemas, ServiceRegistry]:
    """Load and check every schema and service; raises at start-up if anything is broken."""
    found = discover_services(settings.service_plugins)
    folders = [s.schema_folder for s in found if s.schema_folder is not None]
    schemas = Schemas.load(settings.home / "schemas", *folders)
    services = ServiceRegistry(found, schemas=schemas)
    for service in services.values():
        schemas = schemas.with_schema(ingest_schema(service))
        schemas = schemas.with_schema(ingest_schema(service, envelope_only=True))
    return schemas, services


@dataclass
class Runtime:
    settings: Settings
    stores: Stores
    schemas: Schemas
    services: ServiceRegistry
    tenants: TenantDirectory
    kv: KeyValue
    verifier: TokenVerifier
    issuer: BuiltinIssuer | None
    reads: TenantReads
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    async def open_async(self) -> None:
        """Open what lives on the event loop (the query path's pools); the app's lifespan calls
        this on start and :meth:`close_async` on stop."""
        await self.reads.open()

    async def close_async(self) -> None:
        await self.reads.close()
        await self.kv.close_async()

    def close(self) -> None:
        self.kv.close()
        self.stores.dispose()


def build_runtime(settings: Settings, *, stores: Stores | None = None) -> Runtime:
    schemas, services = load_schemas(settings)
    stores = stores or Stores(settings)
    tenants = TenantDirectory(
        stores,
        schemas=schemas,
        services=services.settings_schemas(),
        ttl_seconds=settings.tenant_cache_seconds,
    )
    kv = connect_key_value(settings.redis_url)
    issuer = None
    trusted = [
        IssuerKeys(issuer=t.issuer, audience=t.audience, jwks_uri=t.jwks_uri, jwks_file=t.jwks_file)
        for t in settings.trusted_issuers
    ]
    if settings.builtin_issuer:
        issuer = BuiltinIssuer(
            settings=settings,
            stores=stores,
            tenants=tenants,
            replay=kv,
            key=load_signing_key(settings),
        )
        trusted.append(issuer.issuer_keys())
    return Runtime(
        settings=settings,
        stores=stores,
        schemas=schemas,
        services=services,
        tenants=tenants,
        kv=kv,
        verifier=TokenVerifier(trusted),
        issuer=issuer,
        reads=connect_reads(stores),
    )
