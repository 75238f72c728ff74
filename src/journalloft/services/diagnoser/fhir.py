"""Diagnoser's FHIR face: Condition, after HL7 Norway's conventions (Volven code systems,
FNR/DNR and HPR identifiers) and FHIR R4's own statuses.

What the face shares is the native lookup's answer, nothing else: the municipality's excluded
code ranges, refuted diagnoses and those entered in error never leave, with or without a
``clinical-status`` search, exactly as on ``/v1/diagnoser/query``.

| native (record / result)     | Condition                                                     |
| ---------------------------- | ------------------------------------------------------------- |
| id (the source's own id)     | identifier[0].value (or the resource's id if it has none)     |
| patient                      | subject.identifier (FNR or DNR system)                        |
| updated                      | meta.lastUpdated (else recordedDate)                          |
| code {system, code, display} | code.coding: ICPC-2 urn:oid:2.16.578.1.12.4.1.1.7170, ICD-10  |
|                              | urn:oid:2.16.578.1.12.4.1.1.7110 (FHIR's sid URIs accepted)   |
| clinical_status              | clinicalStatus (condition-clinical); absent when null         |
| verification_status          | verificationStatus (condition-ver-status)                     |
| onset, abatement             | onsetDateTime, abatementDateTime (a day)                      |
| recorded_by {unit, hpr}      | recorder → contained PractitionerRole: organization.display   |
|                              | (the unit), practitioner.identifier (HPR)                     |
| note                         | note[0].text                                                  |
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any, Final

from journalloft.plugin import OSLO, fhir

ICPC2: Final = "urn:oid:2.16.578.1.12.4.1.1.7170"
ICD10: Final = "urn:oid:2.16.578.1.12.4.1.1.7110"
SYSTEMS: Final = {"icpc-2": ICPC2, "icd-10": ICD10}
"""The native code system's name and its Volven OID, which the face answers with."""
ALSO: Final = {
    "http://hl7.org/fhir/sid/icpc-2": "icpc-2",
    "http://hl7.org/fhir/sid/icd-10-no": "icd-10",
    "http://hl7.org/fhir/sid/icd-10": "icd-10",
}
"""FHIR's own URIs of the code systems: accepted in a write and a search, never answered."""
NATIVE_OF: Final = {oid: name for name, oid in SYSTEMS.items()} | ALSO
CLINICAL: Final = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION: Final = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/condition-category"
HPR_SYSTEM: Final = "urn:oid:2.16.578.1.12.4.1.4.4"
RECORDER: Final = "recorder"
OVER: Final = frozenset({"inactive", "remission", "resolved"})

FIELD_PATHS: Final = {
    "id": "/identifier/0/value",
    "patient": "/subject/identifier/value",
    "updated": "/meta/lastUpdated",
    "code": "/code/coding/0",
    "clinical_status": "/clinicalStatus",
    "verification_status": "/verificationStatus",
    "onset": "/onsetDateTime",
    "abatement": "/abatementDateTime",
    "recorded_by": "/recorder",
    "note": "/note/0/text",
}
"""Where a native record's field comes from, for pointing a native error at the element."""


def _status(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def condition(diagnosis: Mapping[str, Any], *, patient: str, kommunenummer: str) -> dict[str, Any]:
    """One diagnosis of a lookup's result as a Condition."""
    code = diagnosis["code"]
    recorded_by = diagnosis["recorded_by"]
    role: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "id": RECORDER,
        "organization": {"display": recorded_by["unit"]},
    }
    if recorded_by.get("hpr"):
        role["practitioner"] = {"identifier": {"system": HPR_SYSTEM, "value": recorded_by["hpr"]}}
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": fhir.resource_id(kommunenummer, patient, diagnosis["id"]),
        "meta": {"lastUpdated": fhir.instant(diagnosis["updated"])},
        "contained": [role],
        "identifier": [fhir.source_identifier(diagnosis["id"])],
    }
    if diagnosis.get("clinical_status") is not None:
        resource["clinicalStatus"] = _status(CLINICAL, diagnosis["clinical_status"])
    resource |= {
        "verificationStatus": _status(VERIFICATION, diagnosis["verification_status"]),
        "category": [_status(CATEGORY, "problem-list-item")],
        "code": {
            "coding": [
                {
                    "system": SYSTEMS[code["system"]],
                    "code": code["code"],
                    "display": code["display"],
                }
            ],
            "text": code["display"],
        },
        "subject": fhir.person_reference(patient),
    }
    if diagnosis.get("onset") is not None:
        resource["onsetDateTime"] = fhir.day(diagnosis["onset"])
    if diagnosis.get("abatement") is not None:
        resource["abatementDateTime"] = fhir.day(diagnosis["abatement"])
    resource["recorder"] = {"reference": f"#{RECORDER}", "display": recorded_by["unit"]}
    if diagnosis.get("note"):
        resource["note"] = [{"text": diagnosis["note"]}]
    return resource


def _coded_status(concept: Any, system: str) -> str | None:
    for found, code in fhir.codes_of_concept(concept):
        if found == system:
            return code
    return None


def _day(value: Any) -> str | None:
    """A FHIR date or dateTime's day (a diagnosis's dates are days)."""
    return value[:10] if isinstance(value, str) and len(value) >= 10 else None


def _recorder(
    resource: Mapping[str, Any], member: Mapping[str, Any] | None, errors: fhir.Errors
) -> dict[str, Any] | None:
    """Who recorded it: the unit (a PractitionerRole's organization, or the recorder's display)
    and the HPR number (its practitioner's identifier, or the recorder's)."""
    recorder = resource.get("recorder")
    recorder = recorder if isinstance(recorder, Mapping) else {}
    unit, hpr = recorder.get("display"), None
    identifier = recorder.get("identifier")
    if isinstance(identifier, Mapping) and identifier.get("system") == HPR_SYSTEM:
        hpr = identifier.get("value")
    if member is not None:
        organization = member.get("organization")
        if isinstance(organization, Mapping) and isinstance(organization.get("display"), str):
            unit = organization["display"]
        practitioner = member.get("practitioner")
        found = practitioner.get("identifier") if isinstance(practitioner, Mapping) else None
        if isinstance(found, Mapping) and found.get("system") == HPR_SYSTEM:
            hpr = found.get("value")
    if not isinstance(unit, str):
        errors.add(
            "/recorder",
            "must name the recording unit: a contained PractitionerRole's organization.display, "
            "or the recorder's display",
        )
        return None
    return {"unit": unit, "hpr": hpr if isinstance(hpr, str) else None}


def record_of(
    resource: Mapping[str, Any],
    errors: fhir.Errors,
    *,
    recorder: Mapping[str, Any] | None = None,
    record_id: str | None = None,
) -> dict[str, Any]:
    """The native record of a Condition (errors at their FHIR element)."""
    record_id = fhir.record_id_of(resource, record_id, errors)
    if not record_id:
        errors.add("/identifier", "is required: the journal system's own id of the diagnosis")
    patient = fhir.person_of(resource.get("subject"), "/subject", errors)
    concept = resource.get("code")
    codings = concept.get("coding") if isinstance(concept, Mapping) else None
    coded = [
        (i, c)
        for i, c in enumerate(codings if isinstance(codings, list) else [])
        if isinstance(c, Mapping) and c.get("system") in NATIVE_OF
    ]
    code: dict[str, Any] | None = None
    if len(coded) != 1:
        errors.add(
            "/code/coding",
            f"must hold exactly one coding of ICPC-2 ({ICPC2}) or ICD-10 ({ICD10})",
        )
    else:
        i, coding = coded[0]
        display = coding.get("display") or (concept or {}).get("text")
        if not isinstance(display, str):
            errors.add(f"/code/coding/{i}/display", "is required: the code's text")
        code = {
            "system": NATIVE_OF[coding["system"]],
            "code": coding.get("code"),
            "display": display,
        }
    updated = (resource.get("meta") or {}).get("lastUpdated") or resource.get("recordedDate")
    record: dict[str, Any] = {
        "id": record_id,
        "patient": patient,
        "updated": updated,
        "code": code,
        "clinical_status": _coded_status(resource.get("clinicalStatus"), CLINICAL),
        "verification_status": _coded_status(resource.get("verificationStatus"), VERIFICATION),
        "onset": _day(resource.get("onsetDateTime")),
        "abatement": _day(resource.get("abatementDateTime")),
        "recorded_by": _recorder(resource, recorder, errors),
    }
    notes = resource.get("note")
    if isinstance(notes, list) and notes and isinstance(notes[0], Mapping):
        record["note"] = fhir.text_of(notes[0].get("text"))
    return {k: v for k, v in record.items() if v is not None or k == "clinical_status"}


class Conditions(fhir.Provider):
    """The FHIR face's provider of Diagnoser's diagnoses as Condition."""

    resource_type = "Condition"
    service = "diagnoser"
    search_parameters: Mapping[str, fhir.SearchParameter] = {
        "code": fhir.SearchParameter(
            "code", f"The diagnosis: {ICPC2}|<ICPC-2> or {ICD10}|<ICD-10 without the dot>"
        ),
        "clinical-status": fhir.SearchParameter(
            "status",
            "active, recurrence, relapse, inactive, remission or resolved; asking for the "
            "ones that are over shares all of them, not only the municipality's window",
        ),
        "onset-date": fhir.SearchParameter("date", "The onset (a day), with prefixes"),
    }
    field_paths: Mapping[str, str] = FIELD_PATHS

    def options(self, search: fhir.Search, now: datetime) -> dict[str, Any]:
        return {"include_resolved": True} if OVER & set(search.statuses) else {}

    def resources(
        self, fields: Mapping[str, Any], *, patient: str, kommunenummer: str
    ) -> list[fhir.Found]:
        return [
            (condition(d, patient=patient, kommunenummer=kommunenummer), [])
            for d in fields["diagnoses"]
        ]

    def codes_of(self, resource: Mapping[str, Any]) -> set[tuple[str, str]]:
        found = fhir.codes_of_concept(resource.get("code"))
        also = {
            (uri, code)
            for uri, name in ALSO.items()
            for system, code in found
            if SYSTEMS.get(name) == system
        }
        return found | also

    def status_of(self, resource: Mapping[str, Any]) -> str | None:
        return _coded_status(resource.get("clinicalStatus"), CLINICAL)

    def period_of(self, resource: Mapping[str, Any]) -> tuple[datetime, datetime | None] | None:
        onset = _day(resource.get("onsetDateTime"))
        if onset is None:
            return None
        start = datetime.combine(date.fromisoformat(onset), time(), OSLO)
        return start, start + timedelta(days=1) - timedelta(microseconds=1)

    def sort_key(self, resource: Mapping[str, Any]) -> str:
        return str(resource.get("onsetDateTime") or "")

    def member_references(
        self, resource: Mapping[str, Any], errors: fhir.Errors
    ) -> list[tuple[str, str]]:
        recorder = fhir.object_at(resource, "recorder", "", errors)
        reference = recorder.get("reference")
        return [("/recorder", reference)] if isinstance(reference, str) else []

    def record(
        self,
        resource: Mapping[str, Any],
        errors: fhir.Errors,
        *,
        members: fhir.Members,
        record_id: str | None,
    ) -> dict[str, Any]:
        recorder = next((m for _pointer, m, _place in members if m is not None), None)
        return record_of(resource, errors, recorder=recorder, record_id=record_id)


PROVIDERS: Final = (Conditions(),)
