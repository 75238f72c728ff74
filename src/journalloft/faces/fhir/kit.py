"""What a service uses to bring its own FHIR resource to the FHIR face: the provider protocol
(one resource type of one service, as HAPI's resource providers and OpenMRS FHIR2's), a base
class with its defaults (:class:`Provider`), the search a request asks, and the helpers every
mapping shares.

A service lists its providers on its spec, ``face_parts = {"fhir": (provider, ...)}``, and
reaches this module through its one door (``from journalloft.plugin import fhir``). The face
does the rest for every provider alike: the searchset, the transaction Bundle, conditional PUT
and DELETE, the CapabilityStatement, OperationOutcomes, and the same operations, access checks,
audit and restrictions as the native API.

Several services may serve one resource type (NEWS2's and Kartlegginger's Observations). A
search asks each of them that the caller is granted and that its parameters can match (a
``code`` or ``category`` the provider declares it never holds: ``SearchParameter.values``); a
written resource goes to the one provider whose ``is_main`` claims it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final, Protocol, runtime_checkable

from journalloft.faces.fhir.common import (
    DNR_SYSTEM,
    FNR_SYSTEM,
    PERSON_SYSTEMS,
    RECORD_ID_SYSTEM,
    Errors,
    codes_at,
    codes_of_concept,
    day,
    instant,
    object_at,
    objects_at,
    person_of,
    person_reference,
    person_system,
    record_id_of,
    resource_id,
    source_identifier,
    source_record_id,
    text_of,
)
from journalloft.faces.fhir.search import Search, SearchParameter

Member = tuple[str, Mapping[str, Any] | None, str]
"""One member reference of a main resource: its JSON Pointer (relative to the main resource),
the resource it names in the same request (a Bundle's entry or a contained resource; None when
it names none), and that resource's own place (a JSON Pointer from the body's root:
``/entry/3/resource``, ``/entry/0/resource/contained/2``), where its own errors point."""
Members = Sequence[Member]
Found = tuple[dict[str, Any], list[dict[str, Any]]]
"""A main resource of a searchset and the resources it includes."""


@runtime_checkable
class ResourceProvider(Protocol):
    """One FHIR resource type, bound to one sharing service: how its resources are made from a
    lookup's results and read into the service's native records."""

    resource_type: str
    service: str
    """The name of the service whose records it maps."""
    profile: str | None
    """The profile its resources claim (CapabilityStatement ``supportedProfile``)."""
    person_parameters: tuple[str, ...]
    """Which of ``patient:identifier`` and ``subject:identifier`` the CapabilityStatement
    names for it (a search takes either)."""
    search_parameters: Mapping[str, SearchParameter]
    field_paths: Mapping[str, str]
    """Where a native record's field comes from (``{"start": "/period/start"}``), to point a
    native error at the FHIR element."""
    member_types: tuple[str, ...]
    """Resource types a main resource carries as members in a transaction (a NEWS2
    Observation's vital signs, an EpisodeOfCare's Organization)."""
    member_note: str | None
    """What a transaction answers for a member entry of a type it does not serve itself (an
    Organization taken as a unit); None: the member's record's outcome."""

    @property
    def orphan_member(self) -> str:
        """The error for a member entry that no main resource of the Bundle references."""
        ...

    def options(self, search: Search, now: datetime) -> dict[str, Any]:
        """The native query's options for this search."""
        ...

    def resources(
        self, fields: Mapping[str, Any], *, patient: str, kommunenummer: str
    ) -> list[Found]:
        """One person's part of a lookup (its result fields) as resources."""
        ...

    def codes_of(self, resource: Mapping[str, Any]) -> set[tuple[str, str]]: ...

    def categories_of(self, resource: Mapping[str, Any]) -> set[tuple[str, str]]:
        """What a ``category`` parameter (``applies_to="category"``) compares."""
        ...

    def status_of(self, resource: Mapping[str, Any]) -> str | None: ...

    def period_of(self, resource: Mapping[str, Any]) -> tuple[datetime, datetime | None] | None:
        """What the date parameter compares: ``[start, end]`` (``end`` None: open)."""
        ...

    def sort_key(self, resource: Mapping[str, Any]) -> str:
        """What ``_sort`` orders by; the keys of the providers of one resource type compare with
        each other (the default: the start of ``period_of`` in UTC, at a fixed width)."""
        ...

    def is_main(self, resource: Mapping[str, Any]) -> bool:
        """Whether a resource of a transaction is one of this provider's records (not a member
        of one, nor another service's record of the same type)."""
        ...

    def member_references(
        self, resource: Mapping[str, Any], errors: Errors
    ) -> list[tuple[str, str]]:
        """Each member reference of a main resource: its pointer and the reference (errors:
        for an element of the wrong shape)."""
        ...

    def record(
        self,
        resource: Mapping[str, Any],
        errors: Errors,
        *,
        members: Members,
        record_id: str | None,
    ) -> dict[str, Any]:
        """The native record of a main resource and its members (errors at FHIR elements)."""
        ...


class Provider(ABC):
    """The protocol's defaults, for a provider to inherit so that it states only what differs:
    its ``resource_type``, ``service``, ``search_parameters``, ``field_paths``, ``resources`` and
    ``record``, and whatever else its resources do otherwise.

    The defaults: no profile; the person by ``patient`` or ``subject``; no members; the
    resource's ``code``, ``category`` and ``status`` elements as FHIR names them; no period; the
    period's start as the sort key; every resource of the type is a record (override
    ``is_main`` when another service serves the type too)."""

    resource_type: str
    service: str
    profile: str | None = None
    person_parameters: tuple[str, ...] = ("patient:identifier", "subject:identifier")
    search_parameters: Mapping[str, SearchParameter] = MappingProxyType({})
    field_paths: Mapping[str, str] = MappingProxyType({})
    member_types: tuple[str, ...] = ()
    member_note: str | None = None

    @property
    def orphan_member(self) -> str:
        return f"a {self.resource_type} carries no other resource"

    def options(self, search: Search, now: datetime) -> dict[str, Any]:
        return {}

    @abstractmethod
    def resources(
        self, fields: Mapping[str, Any], *, patient: str, kommunenummer: str
    ) -> list[Found]: ...

    def codes_of(self, resource: Mapping[str, Any]) -> set[tuple[str, str]]:
        return codes_of_concept(resource.get("code"))

    def categories_of(self, resource: Mapping[str, Any]) -> set[tuple[str, str]]:
        concepts = resource.get("category")
        found: set[tuple[str, str]] = set()
        for concept in concepts if isinstance(concepts, list) else []:
            found |= codes_of_concept(concept)
        return found

    def status_of(self, resource: Mapping[str, Any]) -> str | None:
        status = resource.get("status")
        return status if isinstance(status, str) else None

    def period_of(self, resource: Mapping[str, Any]) -> tuple[datetime, datetime | None] | None:
        return None

    def sort_key(self, resource: Mapping[str, Any]) -> str:
        period = self.period_of(resource)
        return "" if period is None else period[0].astimezone(UTC).strftime(SORTABLE)

    def is_main(self, resource: Mapping[str, Any]) -> bool:
        return resource.get("resourceType") == self.resource_type

    def member_references(
        self, resource: Mapping[str, Any], errors: Errors
    ) -> list[tuple[str, str]]:
        return []

    @abstractmethod
    def record(
        self,
        resource: Mapping[str, Any],
        errors: Errors,
        *,
        members: Members,
        record_id: str | None,
    ) -> dict[str, Any]: ...


SORTABLE: Final = "%Y-%m-%dT%H:%M:%S.%fZ"
"""The default sort key's form: an instant in UTC at a fixed width, so that text order is time
order."""


def providers_of(parts: Sequence[object], *, service: str) -> list[ResourceProvider]:
    """A service's FHIR parts, checked to be providers of that service."""
    found = []
    for part in parts:
        if not isinstance(part, ResourceProvider):
            raise TypeError(f"{service}: a FHIR part is not a ResourceProvider: {part!r}")
        if part.service != service:
            raise TypeError(f"{service}: its {part.resource_type} provider maps {part.service}")
        found.append(part)
    return found


__all__ = [
    "DNR_SYSTEM",
    "FNR_SYSTEM",
    "PERSON_SYSTEMS",
    "RECORD_ID_SYSTEM",
    "Errors",
    "Found",
    "Member",
    "Members",
    "Provider",
    "ResourceProvider",
    "Search",
    "SearchParameter",
    "codes_at",
    "codes_of_concept",
    "day",
    "instant",
    "object_at",
    "objects_at",
    "person_of",
    "person_reference",
    "person_system",
    "providers_of",
    "record_id_of",
    "resource_id",
    "source_identifier",
    "source_record_id",
    "text_of",
]
