"""The CapabilityStatement: exactly what the face supports."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from journalloft.faces.fhir.common import FHIR_VERSION
from journalloft.faces.fhir.episode import PROFILE
from journalloft.faces.fhir.resources import Binding
from journalloft.platform.settings import Settings

_PARAMETER_TYPES = {
    "patient:identifier": ("token", "The person: urn:oid:2.16.578.1.12.4.1.4.1|<FNR> or DNR"),
    "subject:identifier": ("token", "As patient:identifier"),
    "code": ("token", "A coding of the resource (system|code)"),
    "date": ("date", "effective (Observation) or period (EpisodeOfCare), with prefixes"),
    "status": ("token", "The resource's status"),
}


def capability_statement(
    bindings: Iterable[Binding], *, base: str, settings: Settings
) -> dict[str, Any]:
    issuer = settings.issuer_url.rstrip("/")
    resources = []
    for binding in bindings:
        resource: dict[str, Any] = {
            "type": binding.resource_type,
            "interaction": [
                {"code": "update", "documentation": "conditional: ?identifier=system|value"},
                {"code": "delete", "documentation": "conditional: withdraws the record"},
                {"code": "search-type", "documentation": "POST _search only, form-encoded"},
            ],
            "versioning": "no-version",
            "conditionalCreate": False,
            "conditionalUpdate": True,
            "conditionalDelete": "single",
            "searchInclude": [],
            "searchParam": [
                {
                    "name": name,
                    "type": _PARAMETER_TYPES[name][0],
                    "documentation": _PARAMETER_TYPES[name][1],
                }
                for name in binding.search_params
                if name in _PARAMETER_TYPES
            ],
        }
        if binding.resource_type == "EpisodeOfCare":
            resource["supportedProfile"] = [PROFILE]
        resources.append(resource)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-03",
        "kind": "instance",
        "software": {"name": "journalloft"},
        "implementation": {"description": "journalløft sharing platform, FHIR face", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Writes under /fhir/{kommunenummer}; searches across every "
                "municipality that granted the client, or one: /fhir/{kommunenummer}/{type}/"
                "_search. _sort (date, -date), _count and _summary=count are supported.",
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
                            "extension": [{"url": "token", "valueUri": issuer + "/oauth/token"}],
                        }
                    ],
                },
                "resource": resources,
                "interaction": [{"code": "transaction"}],
            }
        ],
    }
