"""The explicit list of sharing services: the one place the platform names them.

Adding a service is one package, one schema folder and one line in :data:`SERVICES`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from journalloft.platform.jsonschemas import SchemaError, Schemas
from journalloft.platform.services import SharingService
from journalloft.services import kommunale_tjenester, news2

SERVICES: tuple[SharingService, ...] = (kommunale_tjenester.spec, news2.spec)


class RegistryError(Exception):
    """The registry is inconsistent: the platform refuses to start."""


class ServiceRegistry(Mapping[str, SharingService]):
    def __init__(self, services: Iterable[SharingService], *, schemas: Schemas) -> None:
        self._services: dict[str, SharingService] = {}
        for service in services:
            if service.name in self._services:
                raise RegistryError(f"two services are named {service.name}")
            for schema_id in (service.record_schema, service.query_schema, service.result_schema):
                if schema_id not in schemas.documents:
                    raise RegistryError(f"{service.name}: schema {schema_id} is missing")
            if service.settings_schema and service.settings_schema not in schemas.documents:
                raise RegistryError(f"{service.name}: schema {service.settings_schema} is missing")
            if not service.migrations.is_dir():
                raise RegistryError(f"{service.name}: no migrations folder {service.migrations}")
            try:
                schemas.validator(service.record_schema)
            except SchemaError as exc:
                raise RegistryError(f"{service.name}: {exc}") from exc
            self._services[service.name] = service

    def __getitem__(self, name: str) -> SharingService:
        return self._services[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._services)

    def __len__(self) -> int:
        return len(self._services)

    def settings_schemas(self) -> dict[str, str | None]:
        """Each service's name and the ``$id`` of its tenant-settings schema."""
        return {name: service.settings_schema for name, service in self._services.items()}


def load_registry(schemas: Schemas) -> ServiceRegistry:
    return ServiceRegistry(SERVICES, schemas=schemas)
