"""The resource types the face serves: each registered service's providers (its
``face_parts["fhir"]``), several per type where several services serve one (NEWS2's and
Kartlegginger's Observations), and how a search's parameters apply to any provider's
resources and choose which providers it asks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from journalloft.faces.fhir.kit import ResourceProvider, providers_of
from journalloft.faces.fhir.search import PERSON_PARAMETERS, Search, SearchParameter
from journalloft.platform.face import (
    Caller,
    Forbidden,
    NotFound,
    ReaderAccess,
    SharingService,
    parts_of,
    reader_access,
)

FACE = "fhir"


class Served(Mapping[str, tuple[ResourceProvider, ...]]):
    """The providers of the registered services, by resource type: each type's in the order of
    their services' names (the order their resources come in a searchset)."""

    def __init__(self, services: Mapping[str, SharingService]) -> None:
        self.services = services
        found: dict[str, list[ResourceProvider]] = {}
        for name in sorted(services):
            for provider in providers_of(parts_of(services[name], FACE), service=name):
                found.setdefault(provider.resource_type, []).append(provider)
        self._providers = {kind: tuple(found[kind]) for kind in sorted(found)}
        self._parameters = {
            kind: merged_parameters(kind, providers) for kind, providers in self._providers.items()
        }

    def __getitem__(self, resource_type: str) -> tuple[ResourceProvider, ...]:
        return self._providers[resource_type]

    def __iter__(self) -> Any:
        return iter(self._providers)

    def __len__(self) -> int:
        return len(self._providers)

    def member_only_types(self) -> list[str]:
        """Types carried only as members of another type's resources (an Organization)."""
        found: dict[str, None] = {}
        for providers in self._providers.values():
            for provider in providers:
                for kind in provider.member_types:
                    if kind not in self._providers:
                        found[kind] = None
        return list(found)

    def providers(self, resource_type: str) -> tuple[ResourceProvider, ...]:
        """The providers of ``resource_type``; 404 if none is served."""
        providers = self._providers.get(resource_type)
        if providers is None:
            raise NotFound(
                f"this server does not serve {resource_type} "
                f"(it serves {', '.join(self._providers)}: see /fhir/metadata)",
                title="Unknown resource type",
            )
        return providers

    def search_parameters(self, resource_type: str) -> Mapping[str, SearchParameter]:
        """The search parameters of a type: every provider's (:func:`merged_parameters`)."""
        return self._parameters[resource_type]

    def person_parameters(self, resource_type: str) -> tuple[str, ...]:
        named = {name for p in self._providers[resource_type] for name in p.person_parameters}
        return tuple(name for name in PERSON_PARAMETERS if name in named)

    def readers(
        self, resource_type: str, caller: Caller
    ) -> list[tuple[ResourceProvider, ReaderAccess]]:
        """The providers of ``resource_type`` whose service the token may read, each with its
        access; none: 403 saying each scope it lacks (as for a type one service serves)."""
        granted = []
        refused: list[Forbidden] = []
        for provider in self.providers(resource_type):
            try:
                granted.append((provider, reader_access(caller, self.services[provider.service])))
            except Forbidden as problem:
                refused.append(problem)
        if len(refused) == 1 and not granted:
            raise refused[0]
        if not granted:
            raise Forbidden("; ".join(p.detail for p in refused), title=refused[0].instance_title)
        return granted

    def claimants(self, resource: Mapping[str, Any]) -> list[ResourceProvider]:
        """The providers of the resource's type whose ``is_main`` claims it as their record."""
        providers = self._providers.get(str(resource.get("resourceType")), ())
        return [p for p in providers if p.is_main(resource)]


def merged_parameters(
    resource_type: str, providers: Sequence[ResourceProvider]
) -> dict[str, SearchParameter]:
    """One resource type's search parameters: every provider's, a name that two providers give
    filtering the same way (its documentation theirs, each named by its service where they
    differ). TypeError when two providers give one name two meanings: no search could say
    which it means."""
    merged: dict[str, SearchParameter] = {}
    said: dict[str, dict[str, list[str]]] = {}
    for provider in providers:
        for name, parameter in provider.search_parameters.items():
            known = merged.get(name)
            if known is not None and (
                known.applies_to != parameter.applies_to or known.normalise != parameter.normalise
            ):
                raise TypeError(
                    f"{resource_type}: the search parameter {name} filters otherwise in "
                    f"{provider.service} than in another service serving {resource_type}"
                )
            merged.setdefault(name, parameter)
            said.setdefault(name, {}).setdefault(parameter.documentation, []).append(
                provider.service
            )
    for name, documentation in said.items():
        if len(documentation) > 1:
            text = "; ".join(f"{', '.join(s)}: {d}" for d, s in documentation.items())
            parameter = merged[name]
            merged[name] = SearchParameter(parameter.applies_to, text, parameter.normalise)
    return merged


def may_match(provider: ResourceProvider, search: Search) -> bool:
    """Whether any of the provider's resources could meet the search: it takes every parameter
    the search gives, and the codes and categories asked for are among those it declares it
    may hold (``SearchParameter.values``). A provider that cannot is not asked: its service is
    not looked up (nor audited)."""
    parameters = provider.search_parameters
    if not search.named <= parameters.keys():
        return False
    for kind, tokens in (("code", search.codes), ("category", search.categories)):
        declared = [p.values for p in parameters.values() if p.applies_to == kind]
        if tokens and declared and None not in declared:
            values = frozenset().union(*(v for v in declared if v is not None))
            if not tokens.may_match(values):
                return False
    return True


def matches(provider: ResourceProvider, resource: Mapping[str, Any], search: Search) -> bool:
    """Whether a resource meets the search's code, category, status and date parameters."""
    if not search.codes.matches(provider.codes_of(resource)):
        return False
    if search.categories and not search.categories.matches(provider.categories_of(resource)):
        return False
    if search.statuses and provider.status_of(resource) not in search.statuses:
        return False
    if search.dates:
        period = provider.period_of(resource)
        return period is not None and search.date_matches(*period)
    return True
