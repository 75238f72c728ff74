"""The CapabilityStatement: exactly what the face supports."""

from __future__ import annotations

from typing import Any, Final

from journalloft.faces.fhir.common import FHIR_VERSION
from journalloft.faces.fhir.resources import Served
from journalloft.faces.fhir.smart import token_endpoint
from journalloft.platform.face import Settings

_PERSON: Final = {
    "patient:identifier": (
        "patient",
        "The person, by identifier only (the :identifier modifier): "
        "patient:identifier=urn:oid:2.16.578.1.12.4.1.4.1|<FNR> (or the DNR or FH-nummer "
        "system); required",
    ),
    "subject:identifier": ("subject", "As patient (subject:identifier=system|value)"),
}
_COMMON: Final = [
    {
        "name": "_count",
        "type": "number",
        "documentation": "Matches per page, 0-10000 (0: total only); the searchset links next "
        "and previous pages (GET ?_page=<token>: no person id, bound to the client, expiring)",
    },
    {
        "name": "_sort",
        "type": "string",
        "documentation": "date or -date (the type's date parameter)",
    },
    {"name": "_summary", "type": "token", "documentation": "count only: total, no entries"},
    {"name": "_format", "type": "token", "documentation": "json (FHIR JSON only)"},
]
"""The parameters every type takes (R4 search.html's result parameters)."""


def capability_statement(served: Served, *, base: str, settings: Settings) -> dict[str, Any]:
    """One entry per resource type, whichever services serve it: their search parameters
    merged, each provider's profile among ``supportedProfile``."""
    issuer = settings.issuer_url.rstrip("/")
    resources = []
    for resource_type, providers in served.items():
        parameters = [
            {"name": _PERSON[name][0], "type": "reference", "documentation": _PERSON[name][1]}
            for name in served.person_parameters(resource_type)
        ] + [
            {"name": name, "type": parameter.type, "documentation": parameter.documentation}
            for name, parameter in served.search_parameters(resource_type).items()
        ]
        resource: dict[str, Any] = {
            "type": resource_type,
            "interaction": [
                {
                    "code": "read",
                    "documentation": "GET [base]/{type}/{id}: the id names no person; an id "
                    "this server did not give, or of a restricted person, is 404",
                },
                {
                    "code": "search-type",
                    "documentation": "GET [base]/{type}?... or POST [base]/{type}/_search "
                    "(form-encoded, or a Parameters resource): the same search; paged with "
                    "_count and the Bundle's next/previous links",
                },
                {
                    "code": "update",
                    "documentation": "conditional: PUT [base]/{kommunenummer}/{type}?identifier="
                    "system|value; Location and ETag; Prefer return=minimal|representation|"
                    "OperationOutcome",
                },
                {"code": "delete", "documentation": "conditional: withdraws the record"},
            ],
            "versioning": "no-version",
            "conditionalCreate": False,
            "conditionalUpdate": True,
            "conditionalDelete": "single",
            "searchParam": parameters,
        }
        profiles = list(dict.fromkeys(p.profile for p in providers if p.profile is not None))
        if profiles:
            resource["supportedProfile"] = profiles
        if len(providers) > 1:
            resource["documentation"] = (
                f"Served by {', '.join(p.service for p in providers)}: a search asks each the "
                "client may read that its parameters can match; a written resource is the record "
                "of the one service whose resources it is (its code)"
            )
        resources.append(resource)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-03",
        "kind": "instance",
        "software": {"name": "journalloft"},
        "implementation": {"description": "journalløft sharing platform, FHIR face", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Writes under /fhir/{kommunenummer}; searches (GET or POST "
                "_search) and reads across every municipality that granted the client at /fhir, "
                "or one at /fhir/{kommunenummer}. _sort (date, -date), _count with next/"
                "previous page links, and _summary=count are supported.",
                "security": {
                    "cors": False,
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/"
                                    "restful-security-service",
                                    "code": "OAuth",
                                }
                            ],
                            "text": "OAuth 2.0 client credentials with private_key_jwt, "
                            "DPoP-bound tokens (HelseID or the built-in issuer)",
                        }
                    ],
                    "extension": [
                        {
                            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/"
                            "oauth-uris",
                            "extension": [
                                {
                                    "url": "token",
                                    "valueUri": token_endpoint(settings) or issuer + "/oauth/token",
                                }
                            ],
                        }
                    ],
                },
                "resource": resources,
                "interaction": [{"code": "transaction"}],
                "searchParam": _COMMON,
            }
        ],
    }
