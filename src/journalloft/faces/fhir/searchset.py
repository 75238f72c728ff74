"""A search's answer as a FHIR searchset Bundle: the lookups' results as each provider's
resources, filtered by the search's parameters, merged, sorted and counted, with an
OperationOutcome for each restricted person and each municipality not asked.

A type that several services serve (Observation: NEWS2 and Kartlegginger) is searched in each
of them the caller is granted and the search can match (:func:`look_up_providers`), and their
answers merged into one searchset (:func:`searchset`): each provider's resources in its
lookup's order, the providers in their services' order, then ``_sort`` over all of them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from journalloft.faces.fhir.common import holder_extension, information
from journalloft.faces.fhir.ids import Publisher
from journalloft.faces.fhir.kit import ResourceProvider
from journalloft.faces.fhir.resources import matches, may_match
from journalloft.faces.fhir.search import Search
from journalloft.platform.face import ReaderAccess, Runtime, Tenant, sharing

Answered = Sequence[tuple[ResourceProvider, Mapping[str, Any]]]
"""Each provider asked and its service's lookup answer."""


async def look_up_providers(
    runtime: Runtime,
    readers: Sequence[tuple[ResourceProvider, ReaderAccess]],
    search: Search,
    *,
    kommunenummer: str | None,
    now: datetime,
) -> list[tuple[ResourceProvider, Mapping[str, Any]]]:
    """The lookups a search asks: one per provider the caller may read (``readers``) that the
    search can match, in one platform call (each municipality admitted once, each service
    audited as its native lookup is). A service that no municipality asked has granted the
    caller (or, at one municipality's base, that it has not adopted) gives nothing and no
    error, unless none is granted: then its refusal is the answer."""
    asked = [(p, access) for p, access in readers if may_match(p, search)]
    if not asked:
        return []
    bodies = []
    for provider, access in asked:
        body: dict[str, Any] = {"patients": search.patients, **provider.options(search, now)}
        if kommunenummer is not None:
            body["kommuner"] = [kommunenummer]
        bodies.append((access, body))
    answers = await sharing.look_up_several(runtime, bodies)
    return [
        (provider, answer)
        for (provider, _access), answer in zip(asked, answers, strict=True)
        if answer is not None
    ]


def searchset(
    answered: Answered,
    search: Search,
    *,
    base: str,
    self_url: str,
    publisher: Publisher,
    tenants: Callable[[str], Tenant | None],
    offset: int = 0,
    page_url: Callable[[int], str | None] | None = None,
) -> dict[str, Any]:
    """The Bundle for the lookups' answers (``base``: the face's URL, for ``fullUrl``): the
    matches from ``offset`` on, ``search.count`` of them when it is given, with ``next`` and
    ``previous`` links made by ``page_url(offset)``. Only the resources shown get their logical
    ids (:class:`~journalloft.faces.fhir.ids.Publisher`). Every resource says which
    municipality holds it (``tenants``: the municipality of a kommunenummer), whatever its
    provider."""
    found: list[tuple[ResourceProvider, dict[str, Any], list[dict[str, Any]], str, str]] = []
    outcomes: dict[str, dict[str, Any]] = {}
    holders: dict[str, dict[str, Any]] = {}
    for provider, answer in answered:
        for result in answer["results"]:
            if result.get("restricted"):
                text = (
                    f"{result['kommunenummer']} holds data on the person "
                    f"{result['patient']} that the person has restricted (sperring): "
                    "nothing of it is shown"
                )
                outcomes.setdefault(text, information(text, code="suppressed"))
                continue
            person, kommunenummer = result["patient"], result["kommunenummer"]
            if kommunenummer not in holders:
                holders[kommunenummer] = holder_of(kommunenummer, tenants(kommunenummer))
            for main, included in provider.resources(
                result, patient=person, kommunenummer=kommunenummer
            ):
                held_by(holders[kommunenummer], main, *included)
                if matches(provider, main, search):
                    found.append((provider, main, included, kommunenummer, person))
                for member in included:
                    if (search.codes or search.categories) and matches(provider, member, search):
                        found.append((provider, member, [], kommunenummer, person))
        for refusal in answer.get("refused", []):
            text = f"{refusal['kommunenummer']} was not asked: {refusal['reason']}"
            outcomes.setdefault(
                text,
                {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "warning", "code": "forbidden", "diagnostics": text}],
                },
            )
    if search.descending is not None:
        found.sort(key=lambda m: m[0].sort_key(m[1]), reverse=search.descending)
    links = [{"relation": "self", "url": self_url}]
    entries: list[dict[str, Any]] = []
    if not search.summary_count and search.count != 0:
        end = len(found) if search.count is None else offset + search.count
        if page_url is not None and search.count is not None:
            pages = {"next": end if end < len(found) else None}
            pages["previous"] = max(0, offset - search.count) if offset > 0 else None
            for relation, at in pages.items():
                url = None if at is None else page_url(at)
                if url is not None:
                    links.append({"relation": relation, "url": url})
                elif at is not None:
                    text = (
                        f"no {relation} link: this search is too large to carry in one; "
                        "search again with a larger _count or fewer parameters"
                    )
                    outcomes.setdefault(text, information(text, code="too-costly"))
        for provider, main, included, kommunenummer, person in found[offset:end]:
            publisher.group(
                main,
                included,
                kommunenummer=kommunenummer,
                person=person,
                service=provider.service,
            )
            entries.append(_entry(base, main, "match"))
            entries += [_entry(base, r, "include") for r in included]
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(found),
        "link": links,
    }
    entries += [{"resource": o, "search": {"mode": "outcome"}} for o in outcomes.values()]
    if entries:
        bundle["entry"] = entries
    return bundle


def _entry(base: str, resource: dict[str, Any], mode: str) -> dict[str, Any]:
    return {
        "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
        "resource": resource,
        "search": {"mode": mode},
    }


def holder_of(kommunenummer: str, tenant: Tenant | None) -> dict[str, Any]:
    # a lookup answers for municipalities on the platform; one offboarded since is named by
    # its kommunenummer only
    if tenant is None:
        return holder_extension(kommunenummer, None, None)
    return holder_extension(kommunenummer, tenant.name, tenant.organisasjonsnummer)


def held_by(holder: dict[str, Any], *resources: dict[str, Any]) -> None:
    """Each resource carries ``holder`` (:func:`~.common.holder_extension`) among its
    extensions."""
    for resource in resources:
        resource["extension"] = [*resource.get("extension", ()), holder]
