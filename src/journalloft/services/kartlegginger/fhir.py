"""Kartlegginger's FHIR part: one Observation per assessment (category ``survey``), the total
in ``value``, the items in ``component``, as HL7 Norway's NEWS2 draft (VkpObservation) does;
see docs/services.md for why not QuestionnaireResponse.

| native (record / result)   | Observation                                                     |
| -------------------------- | --------------------------------------------------------------- |
| id                         | identifier[0].value (or the resource's id)                      |
| patient                    | subject.identifier (FNR or DNR system)                          |
| updated                    | meta.lastUpdated                                                |
| instrument                 | code: the platform's code system (always), and LOINC for the    |
|                            | totals that have one (MMSE 72106-8, Braden 38227-5)             |
| assessed                   | effectiveDateTime (a day)                                       |
| total                      | valueInteger                                                    |
| items                      | component: code the item's identifier in the platform's code    |
|                            | system (and LOINC for Braden's subscales), valueInteger         |
| band                       | interpretation.coding (the platform's band code system); fall   |
|                            | risk's level as assessed is valueCodeableConcept                |
| assessed_by {unit, hpr}    | performer: an Organization's display, a Practitioner's HPR      |
| note                       | note[0].text                                                    |
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any, Final

from journalloft.plugin import OSLO, fhir
from journalloft.services.kartlegginger.instruments import INSTRUMENTS

PLATFORM: Final = "https://journalloft.no/fhir/CodeSystem/kartlegging"
BANDS: Final = "https://journalloft.no/fhir/CodeSystem/kartlegging-band"
LOINC: Final = "http://loinc.org"
CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
HPR_SYSTEM: Final = "urn:oid:2.16.578.1.12.4.1.4.4"
TOTAL_LOINC: Final = {"mmse-nr3": "72106-8", "braden": "38227-5"}
"""The LOINC total scores found (the domain brief's S17, S18; checked against public FHIR
examples); the other instruments have none known and use only the platform's code system."""
ITEM_LOINC: Final = {
    "braden-sensory": "38222-6",
    "braden-moisture": "38229-1",
    "braden-activity": "38223-4",
    "braden-mobility": "38224-2",
    "braden-nutrition": "38225-9",
    "braden-friction-shear": "38226-7",
}
INSTRUMENT_OF: Final = {(PLATFORM, code): code for code in INSTRUMENTS} | {
    (LOINC, loinc): code for code, loinc in TOTAL_LOINC.items()
}
ITEM_OF: Final = {(LOINC, loinc): item for item, loinc in ITEM_LOINC.items()}

FIELD_PATHS: Final = {
    "id": "/identifier/0/value",
    "patient": "/subject/identifier/value",
    "updated": "/meta/lastUpdated",
    "instrument": "/code",
    "assessed": "/effectiveDateTime",
    "total": "/valueInteger",
    "items": "/component",
    "band": "/interpretation",
    "assessed_by": "/performer",
    "note": "/note/0/text",
}


def _coding(system: str, code: str) -> dict[str, str]:
    return {"system": system, "code": code}


def _as_day(value: Any) -> str:
    return value if isinstance(value, str) else str(fhir.day(value))


def _as_instant(value: Any) -> str:
    return value if isinstance(value, str) else fhir.instant(value)


def observation(
    instrument: Mapping[str, Any],
    assessment: Mapping[str, Any],
    *,
    patient: str,
    kommunenummer: str,
) -> dict[str, Any]:
    """One assessment of a lookup's result (an instrument's latest or previous) as an
    Observation."""
    code = instrument["instrument"]
    codings = [_coding(PLATFORM, code)]
    if code in TOTAL_LOINC:
        codings.append(_coding(LOINC, TOTAL_LOINC[code]))
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": fhir.resource_id(kommunenummer, patient, assessment["id"]),
        "meta": {"lastUpdated": _as_instant(assessment["updated"])},
        "identifier": [fhir.source_identifier(assessment["id"])],
        "status": "final",
        "category": [{"coding": [_coding(CATEGORY, "survey")]}],
        "code": {"coding": codings, "text": f"{instrument['title']} ({instrument['version']})"},
        "subject": fhir.person_reference(patient),
        "effectiveDateTime": _as_day(assessment["assessed"]),
    }
    performer: list[dict[str, Any]] = [
        {"type": "Organization", "display": assessment["assessed_by"]["unit"]}
    ]
    if assessment["assessed_by"].get("hpr"):
        performer.append(
            {
                "type": "Practitioner",
                "identifier": {"system": HPR_SYSTEM, "value": assessment["assessed_by"]["hpr"]},
            }
        )
    resource["performer"] = performer
    band = assessment.get("band")
    if assessment.get("band_by") == "source" and band is not None:
        resource["valueCodeableConcept"] = {"coding": [_coding(BANDS, band)]}
    elif assessment.get("total") is not None:
        resource["valueInteger"] = assessment["total"]
    if band is not None and assessment.get("band_by") == "rule":
        resource["interpretation"] = [
            {"coding": [_coding(BANDS, band)], "text": "computed by the platform by the rule"}
        ]
    if assessment.get("note"):
        resource["note"] = [{"text": assessment["note"]}]
    items = assessment.get("items") or {}
    if items:
        components = []
        for item, score in items.items():
            item_codings = [_coding(PLATFORM, item)]
            if item in ITEM_LOINC:
                item_codings.append(_coding(LOINC, ITEM_LOINC[item]))
            components.append({"code": {"coding": item_codings}, "valueInteger": score})
        resource["component"] = components
    return resource


def instrument_of(resource: Mapping[str, Any]) -> str | None:
    found = {
        INSTRUMENT_OF[c] for c in fhir.codes_of_concept(resource.get("code")) if c in INSTRUMENT_OF
    }
    return found.pop() if len(found) == 1 else None


def _band_of(concepts: Any) -> str | None:
    for concept in concepts if isinstance(concepts, list) else [concepts]:
        for system, code in fhir.codes_of_concept(concept):
            if system == BANDS:
                return code
    return None


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def record_of(
    resource: Mapping[str, Any], errors: fhir.Errors, *, record_id: str | None = None
) -> dict[str, Any]:
    """The native record of an assessment Observation (errors at their FHIR elements); the
    service's rules then check it as any native record."""
    record_id = fhir.record_id_of(resource, record_id, errors)
    if not record_id:
        errors.add("/identifier", "is required: the journal system's own id of the assessment")
    instrument = instrument_of(resource)
    if instrument is None:
        errors.add("/code", f"must name one instrument: a coding of {PLATFORM}")
    effective = resource.get("effectiveDateTime")
    assessed = effective[:10] if isinstance(effective, str) and len(effective) >= 10 else None
    if assessed is None:
        errors.add("/effectiveDateTime", "is required: the day of the assessment")
    items: dict[str, Any] = {}
    for i, component in enumerate(resource.get("component") or []):
        codes = fhir.codes_of_concept(
            component.get("code") if isinstance(component, Mapping) else None
        )
        names = {code for system, code in codes if system == PLATFORM} | {
            ITEM_OF[c] for c in codes if c in ITEM_OF
        }
        if len(names) != 1:
            errors.add(f"/component/{i}/code", f"must name one item: a coding of {PLATFORM}")
            continue
        score = _integer(component.get("valueInteger"))
        if score is None:
            errors.add(f"/component/{i}/valueInteger", "must be the item's score")
            continue
        items[names.pop()] = score
    unit = None
    hpr = None
    for performer in resource.get("performer") or []:
        if not isinstance(performer, Mapping):
            continue
        if performer.get("type") == "Organization" or (unit is None and performer.get("display")):
            unit = fhir.text_of(performer.get("display")) or unit
        identifier = performer.get("identifier")
        if isinstance(identifier, Mapping) and identifier.get("system") == HPR_SYSTEM:
            hpr = fhir.text_of(identifier.get("value"))
    if unit is None:
        errors.add("/performer", "must name the assessing unit (an Organization's display)")
    record: dict[str, Any] = {
        "id": record_id,
        "patient": fhir.person_of(resource.get("subject"), "/subject", errors),
        "updated": (resource.get("meta") or {}).get("lastUpdated"),
        "instrument": instrument,
        "assessed": assessed,
        "total": _integer(resource.get("valueInteger")),
        "items": items or None,
        "band": _band_of(resource.get("interpretation"))
        or _band_of(resource.get("valueCodeableConcept")),
        "assessed_by": {"unit": unit, "hpr": hpr} if unit is not None else None,
    }
    notes = resource.get("note")
    if isinstance(notes, list) and notes and isinstance(notes[0], Mapping):
        record["note"] = fhir.text_of(notes[0].get("text"))
    return {k: v for k, v in record.items() if v is not None}


class AssessmentObservations(fhir.Provider):
    """The FHIR provider of Kartlegginger's assessments as Observation (category survey)."""

    resource_type = "Observation"
    service = "kartlegginger"
    search_parameters: Mapping[str, fhir.SearchParameter] = {
        "code": fhir.SearchParameter(
            "code",
            f"The instrument: {PLATFORM}|<iplos, mmse-nr3, mst, mna-sf, fall-risk, braden, "
            f"mobid-2>, or {LOINC}|72106-8 (MMSE) or 38227-5 (Braden)",
            values=frozenset(INSTRUMENT_OF),
        ),
        "category": fhir.SearchParameter(
            "category",
            f"{CATEGORY}|survey (an assessment)",
            values=frozenset({(CATEGORY, "survey")}),
        ),
        "date": fhir.SearchParameter("date", "The day of the assessment, with prefixes"),
        "status": fhir.SearchParameter("status", "The resource's status (final)"),
    }
    field_paths: Mapping[str, str] = FIELD_PATHS
    orphan_member = "an assessment Observation carries no other resource"

    def resources(
        self, fields: Mapping[str, Any], *, patient: str, kommunenummer: str
    ) -> list[fhir.Found]:
        found: list[fhir.Found] = []
        for instrument in fields["instruments"]:
            for key in ("latest", "previous"):
                if instrument.get(key) is not None:
                    resource = observation(
                        instrument, instrument[key], patient=patient, kommunenummer=kommunenummer
                    )
                    found.append((resource, []))
        return found

    def period_of(self, resource: Mapping[str, Any]) -> tuple[datetime, datetime | None] | None:
        effective = resource.get("effectiveDateTime")
        if not isinstance(effective, str):
            return None
        start = datetime.combine(date.fromisoformat(effective[:10]), time(), OSLO)
        return start, start + timedelta(days=1) - timedelta(microseconds=1)

    def is_main(self, resource: Mapping[str, Any]) -> bool:
        return resource.get("resourceType") == self.resource_type and bool(instrument_of(resource))

    def record(
        self,
        resource: Mapping[str, Any],
        errors: fhir.Errors,
        *,
        members: fhir.Members,
        record_id: str | None,
    ) -> dict[str, Any]:
        return record_of(resource, errors, record_id=record_id)


PROVIDERS: Final = (AssessmentObservations(),)
