"""A search's answer as a FHIR searchset Bundle: the lookup's results as each provider's
resources, filtered by the search's parameters, sorted and counted, with an OperationOutcome for
each restricted person and each municipality not asked."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from journalloft.faces.fhir.common import holder_extension, information
from journalloft.faces.fhir.kit import Found, ResourceProvider
from journalloft.faces.fhir.resources import matches
from journalloft.faces.fhir.search import Search
from journalloft.platform.face import Tenant


def searchset(
    provider: ResourceProvider,
    search: Search,
    answer: Mapping[str, Any],
    *,
    base: str,
    self_url: str,
    tenants: Callable[[str], Tenant | None],
) -> dict[str, Any]:
    """The Bundle for a lookup's ``answer`` (``base``: the face's URL, for ``fullUrl``).
    Every resource says which municipality holds it (``tenants``: the municipality of a
    kommunenummer), whatever its provider."""
    found: list[Found] = []
    outcomes: list[dict[str, Any]] = []
    holders: dict[str, dict[str, Any]] = {}
    for result in answer["results"]:
        if result.get("restricted"):
            outcomes.append(
                information(
                    f"{result['kommunenummer']} holds data on the person "
                    f"{result['patient']} that the person has restricted (sperring): "
                    "nothing of it is shown",
                    code="suppressed",
                )
            )
            continue
        kommunenummer = result["kommunenummer"]
        if kommunenummer not in holders:
            holders[kommunenummer] = _holder(kommunenummer, tenants(kommunenummer))
        for main, included in provider.resources(
            result, patient=result["patient"], kommunenummer=kommunenummer
        ):
            held_by(holders[kommunenummer], main, *included)
            if matches(provider, main, search):
                found.append((main, included))
            for member in included:
                if search.codes and matches(provider, member, search):
                    found.append((member, []))
    for refusal in answer.get("refused", []):
        outcomes.append(
            {
                "resourceType": "OperationOutcome",
                "issue": [
                    {
                        "severity": "warning",
                        "code": "forbidden",
                        "diagnostics": f"{refusal['kommunenummer']} was not asked: "
                        f"{refusal['reason']}",
                    }
                ],
            }
        )
    if search.descending is not None:
        found.sort(key=lambda m: provider.sort_key(m[0]), reverse=search.descending)
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(found),
        "link": [{"relation": "self", "url": self_url}],
    }
    entries: list[dict[str, Any]] = []
    if not search.summary_count:
        shown = found if search.count is None else found[: search.count]
        for main, included in shown:
            entries.append(_entry(base, main, "match"))
            entries += [_entry(base, r, "include") for r in included]
    entries += [{"resource": o, "search": {"mode": "outcome"}} for o in outcomes]
    if entries:
        bundle["entry"] = entries
    return bundle


def _entry(base: str, resource: dict[str, Any], mode: str) -> dict[str, Any]:
    return {
        "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
        "resource": resource,
        "search": {"mode": mode},
    }


def _holder(kommunenummer: str, tenant: Tenant | None) -> dict[str, Any]:
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
