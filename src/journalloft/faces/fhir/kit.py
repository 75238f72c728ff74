"""What a service uses to bring its own FHIR resource to the FHIR face: the provider protocol
(one provider per resource type, as HAPI's resource providers and OpenMRS FHIR2's), the search a
request asks, and the helpers every mapping shares.

A service lists its providers on its spec, ``face_parts = {"fhir": (provider, ...)}``, and
reaches this module through its one door (``from journalloft.plugin import fhir``). The face
does the rest for every provider alike: the searchset, the transaction Bundle, conditional PUT
and DELETE, the CapabilityStatement, OperationOutcomes, and the same operations, access checks,
audit and restrictions as the native API.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

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
    orphan_member: str
    """The error for a member entry that no main resource of the Bundle references."""

    def options(self, search: Search, now: datetime) -> dict[str, Any]:
        """The native query's options for this search."""
        ...

    def resources(
        self, fields: Mapping[str, Any], *, patient: str, kommunenummer: str
    ) -> list[Found]:
        """One person's part of a lookup (its result fields) as resources."""
        ...

    def codes_of(self, resource: Mapping[str, Any]) -> set[tuple[str, str]]: ...

    def status_of(self, resource: Mapping[str, Any]) -> str | None: ...

    def period_of(self, resource: Mapping[str, Any]) -> tuple[datetime, datetime | None] | None:
        """What the date parameter compares: ``[start, end]`` (``end`` None: open)."""
        ...

    def sort_key(self, resource: Mapping[str, Any]) -> str:
        """What ``_sort`` orders by."""
        ...

    def is_main(self, resource: Mapping[str, Any]) -> bool:
        """Whether a resource of a transaction is one record (not a member of one)."""
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
