"""A search's answer as a FHIR searchset Bundle: the lookup's results as each provider's
resources, filtered by the search's parameters, sorted and counted, with an OperationOutcome for
each restricted person and each municipality not asked."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from journalloft.faces.fhir.common import information
from journalloft.faces.fhir.ids import Publisher
from journalloft.faces.fhir.kit import ResourceProvider
from journalloft.faces.fhir.resources import matches
from journalloft.faces.fhir.search import Search


def searchset(
    provider: ResourceProvider,
    search: Search,
    answer: Mapping[str, Any],
    *,
    base: str,
    self_url: str,
    publisher: Publisher,
    offset: int = 0,
    page_url: Callable[[int], str | None] | None = None,
) -> dict[str, Any]:
    """The Bundle for a lookup's ``answer`` (``base``: the face's URL, for ``fullUrl``): the
    matches from ``offset`` on, ``search.count`` of them when it is given, with ``next`` and
    ``previous`` links made by ``page_url(offset)``. Only the resources shown get their logical
    ids (:class:`~journalloft.faces.fhir.ids.Publisher`)."""
    found: list[tuple[dict[str, Any], list[dict[str, Any]], str, str]] = []
    outcomes: list[dict[str, Any]] = []
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
        person, kommunenummer = result["patient"], result["kommunenummer"]
        for main, included in provider.resources(
            result, patient=person, kommunenummer=kommunenummer
        ):
            if matches(provider, main, search):
                found.append((main, included, kommunenummer, person))
            for member in included:
                if search.codes and matches(provider, member, search):
                    found.append((member, [], kommunenummer, person))
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
                    outcomes.append(
                        information(
                            f"no {relation} link: this search is too large to carry in one; "
                            "search again with a larger _count or fewer parameters",
                            code="too-costly",
                        )
                    )
        for main, included, kommunenummer, person in found[offset:end]:
            publisher.group(main, included, kommunenummer=kommunenummer, person=person)
            entries.append(_entry(base, main, "match"))
            entries += [_entry(base, r, "include") for r in included]
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(found),
        "link": links,
    }
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
