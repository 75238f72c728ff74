"""The sharing services this platform runs, discovered as plugins.

A service is a package that exposes a ``spec`` (a :class:`SharingService`) and declares it as an
entry point of the group :data:`ENTRY_POINT_GROUP` in its distribution's ``pyproject.toml``::

    [project.entry-points."journalloft.services"]
    news2 = "journalloft.services.news2:spec"

The platform names no service itself. ``JOURNALLOFT_SERVICE_PLUGINS`` adds services that are not
installed as a distribution (``module:attribute``, e.g. a test plugin).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from importlib.metadata import entry_points
from typing import Any

from journalloft.platform.core.jsonschemas import SchemaError, Schemas
from journalloft.platform.core.settings import Settings
from journalloft.platform.plugins.service_protocol import SharingService

ENTRY_POINT_GROUP = "journalloft.services"


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


def _load_plugin(reference: str) -> SharingService:
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise RegistryError(f"a service plugin is module:attribute, not {reference!r}")
    try:
        spec: SharingService = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise RegistryError(f"service plugin {reference}: {exc}") from exc
    return spec


def discover_services(plugins: Sequence[str] = ()) -> tuple[SharingService, ...]:
    """Every installed service (entry points), then ``plugins``, in name order."""
    found: dict[str, SharingService] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        spec = entry.load()
        if spec.name != entry.name:
            raise RegistryError(f"entry point {entry.name} names a service called {spec.name}")
        found[entry.name] = spec
    extra = [_load_plugin(reference) for reference in plugins]
    for spec in extra:
        if spec.name in found and found[spec.name] is not spec:
            raise RegistryError(f"two services are named {spec.name}")
        found[spec.name] = spec
    if not found:
        raise RegistryError(
            f"no sharing service is installed (entry point group {ENTRY_POINT_GROUP}): "
            "reinstall the package (pip install -e .)"
        )
    return tuple(found[name] for name in sorted(found))


def ingest_schema_id(service: SharingService, *, envelope_only: bool = False) -> str:
    """The ``$id`` of the service's ingest body, beside its record schema (the same folder, so
    one service has one spelling in every schema id: ``kommunale_tjenester/v1/...``)."""
    name = "envelope" if envelope_only else "ingest"
    return service.record_schema.rsplit("/", 1)[0] + f"/{name}.schema.json"


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


def load_services(settings: Settings) -> tuple[Schemas, ServiceRegistry]:
    """The services this platform runs and every JSON Schema (the platform's, the services',
    and each service's ingest envelope), checked together: raises at start-up if anything is
    broken."""
    found = discover_services(settings.service_plugins)
    folders = [s.schema_folder for s in found if s.schema_folder is not None]
    schemas = Schemas.load(settings.home / "schemas", *folders)
    services = ServiceRegistry(found, schemas=schemas)
    envelopes = [
        ingest_schema(service, envelope_only=only)
        for service in services.values()
        for only in (False, True)
    ]
    return schemas.with_schema(*envelopes), services
