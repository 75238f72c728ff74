"""CAVE's FHIR resource: each entry a ``Flag`` (a warning about the person), written and searched
through the FHIR face by this one provider; the face does the rest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from journalloft.plugin import fhir

KIND_SYSTEM: Final = "https://journalloft.no/fhir/CodeSystem/cave-kind"
FIELD_PATHS: Final = {
    "id": "/identifier/0/value",
    "patient": "/subject/identifier/value",
    "updated": "/meta/lastUpdated",
    "kind": "/category/0/coding/0/code",
    "text": "/code/text",
}


def flag(entry: Mapping[str, Any], *, patient: str, kommunenummer: str) -> dict[str, Any]:
    return {
        "resourceType": "Flag",
        "id": fhir.resource_id(kommunenummer, patient, entry["id"]),
        "identifier": [fhir.source_identifier(entry["id"])],
        "status": "active",
        "category": [{"coding": [{"system": KIND_SYSTEM, "code": entry["kind"]}]}],
        "code": {"text": entry["text"]},
        "subject": fhir.person_reference(patient),
    }


class Flags(fhir.Provider):
    resource_type = "Flag"
    service = "cave"
    person_parameters = ("patient:identifier",)
    search_parameters: Mapping[str, fhir.SearchParameter] = {
        "category": fhir.SearchParameter("code", "The kind: allergi, legemiddelreaksjon, smitte")
    }
    field_paths: Mapping[str, str] = FIELD_PATHS

    def resources(
        self, fields: Mapping[str, Any], *, patient: str, kommunenummer: str
    ) -> list[fhir.Found]:
        return [
            (flag(e, patient=patient, kommunenummer=kommunenummer), []) for e in fields["entries"]
        ]

    def codes_of(self, resource: Mapping[str, Any]) -> set[tuple[str, str]]:
        return {c for concept in resource["category"] for c in fhir.codes_of_concept(concept)}

    def record(
        self,
        resource: Mapping[str, Any],
        errors: fhir.Errors,
        *,
        members: fhir.Members,
        record_id: str | None,
    ) -> dict[str, Any]:
        kinds = [code for system, code in self.codes_of(resource) if system == KIND_SYSTEM]
        code = resource.get("code")
        record = {
            "id": fhir.record_id_of(resource, record_id, errors),
            "patient": fhir.person_of(resource.get("subject"), "/subject", errors),
            "updated": (resource.get("meta") or {}).get("lastUpdated"),
            "kind": kinds[0] if kinds else None,
            "text": fhir.text_of(code.get("text")) if isinstance(code, Mapping) else None,
        }
        return {k: v for k, v in record.items() if v is not None}


PROVIDERS: Final = (Flags(),)
