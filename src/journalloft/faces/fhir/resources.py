"""The resource types the face serves: each registered service's providers (its
``face_parts["fhir"]``), and how a search's parameters apply to any provider's resources."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from journalloft.faces.fhir.kit import ResourceProvider, providers_of
from journalloft.faces.fhir.search import Search
from journalloft.platform.face import NotFound, SharingService, parts_of

FACE = "fhir"


class Served(Mapping[str, ResourceProvider]):
    """The providers of the registered services, by resource type (one provider per type)."""

    def __init__(self, services: Mapping[str, SharingService]) -> None:
        self.services = services
        self._providers: dict[str, ResourceProvider] = {}
        for name, service in services.items():
            for provider in providers_of(parts_of(service, FACE), service=name):
                if provider.resource_type in self._providers:
                    raise TypeError(f"two services serve {provider.resource_type}")
                self._providers[provider.resource_type] = provider

    def __getitem__(self, resource_type: str) -> ResourceProvider:
        return self._providers[resource_type]

    def __iter__(self) -> Any:
        return iter(self._providers)

    def __len__(self) -> int:
        return len(self._providers)

    def member_only_types(self) -> list[str]:
        """Types carried only as members of another type's resources (an Organization)."""
        found: dict[str, None] = {}
        for provider in self._providers.values():
            for kind in provider.member_types:
                if kind not in self._providers:
                    found[kind] = None
        return list(found)

    def provider(self, resource_type: str) -> tuple[ResourceProvider, SharingService]:
        """The provider of ``resource_type`` and its service; 404 if none is served."""
        provider = self._providers.get(resource_type)
        if provider is None:
            raise NotFound(
                f"this server does not serve {resource_type} "
                f"(it serves {', '.join(sorted(self._providers))}: see /fhir/metadata)",
                title="Unknown resource type",
            )
        return provider, self.services[provider.service]


def matches(provider: ResourceProvider, resource: Mapping[str, Any], search: Search) -> bool:
    """Whether a resource meets the search's code, status and date parameters."""
    if not search.code_matches(provider.codes_of(resource)):
        return False
    if search.statuses and provider.status_of(resource) not in search.statuses:
        return False
    if search.dates:
        period = provider.period_of(resource)
        return period is not None and search.date_matches(*period)
    return True
