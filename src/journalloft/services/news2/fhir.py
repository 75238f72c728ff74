"""NEWS2's FHIR face: Observations, after HL7 Norway's draft ``vkp-Observation-NEWS2score``.

A measurement is one NEWS2 Observation (SNOMED CT 1104051000000101, the total as
``valueQuantity``, the sub-scores as components with their SNOMED codes) whose ``hasMember``
references the raw vital signs, each its own Observation (LOINC).

| native (record / result)   | FHIR                                                            |
| -------------------------- | --------------------------------------------------------------- |
| id                         | NEWS2 Observation identifier[0].value (or its id)               |
| patient                    | subject.identifier (FNR or DNR system)                          |
| updated                    | meta.lastUpdated (else issued, else effectiveDateTime)          |
| effective                  | effectiveDateTime (an instant with its offset)                  |
| respiration_rate           | member Observation LOINC 9279-1, /min                           |
| spo2                       | member Observation LOINC 2708-6 and 59408-5 (either read), %    |
| systolic_bp                | member Observation LOINC 8480-6 (or the 85354-9 panel's         |
|                            | 8480-6 component), mm[Hg]                                       |
| pulse                      | member Observation LOINC 8867-4, /min                           |
| temperature                | member Observation LOINC 8310-5, Cel                            |
| source_scores              | the SNOMED sub-score components, when sent without vital signs  |
|                            | (the VKP example); answered with the news2-scored-by extension  |
| spo2_scale                 | component news2-input#spo2-scale (valueInteger), or the SNOMED  |
|                            | sub-score component of scale 1 or 2 the source sent             |
| supplemental_oxygen        | component news2-input#supplemental-oxygen (valueBoolean)        |
| consciousness (ACVPU)      | component news2-input#acvpu (valueString A, C, V, P or U)       |
| total_score                | valueQuantity.value (must equal the platform's total)           |
| recorded_by {name, hpr,    | the author performer(s): display, identifier of the HPR system, |
|   national_id}             | or of the FNR/DNR system (as VKP names the author)              |
| data_controller {orgnr |   | the organisation performer (VKP's performer[organization]):     |
|   resh, name}              | identifier of the ENH or RESH system, display                   |
| source_system              | meta.source                                                     |
| interpretations            | the sub-score components' interpretation[0].text                |
| location                   | note[0].text                                                    |
| score.total, risk, parts   | valueQuantity, interpretation, components (SNOMED sub-scores)   |

Every NEWS2 Observation answered claims VKP's NEWS2 profile (``meta.profile``); the identifier
is the source's own ``system|value`` (``fhir.source_identifier``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any, Final

from journalloft.plugin import OSLO, fhir
from journalloft.services.news2.scoring import PARAMETERS

SNOMED: Final = "http://snomed.info/sct"
LOINC: Final = "http://loinc.org"
UCUM: Final = "http://unitsofmeasure.org"
HPR_SYSTEM: Final = "urn:oid:2.16.578.1.12.4.1.4.4"
ENH_SYSTEM: Final = "urn:oid:2.16.578.1.12.4.1.4.101"
"""Enhetsregisteret's organisasjonsnummer: VKP's performer[organization], the data controller."""
RESH_SYSTEM: Final = "urn:oid:2.16.578.1.12.4.1.4.102"
ORGANISATION_SYSTEMS: Final = {ENH_SYSTEM: "orgnr", RESH_SYSTEM: "resh"}
VKP_PROFILE: Final = (
    "http://hl7.no/fhir/vkpobservation/StructureDefinition/vkp-Observation-NEWS2score"
)
"""HL7 Norway's VKP NEWS2 profile, which every NEWS2 Observation answered follows (its code,
its subject by FNR/DNR/FH-nummer, its performer slices)."""
NEWS2_DISPLAY: Final = "NEWS2 (National Early Warning Score 2) total score"
INPUT_SYSTEM: Final = "https://journalloft.no/fhir/CodeSystem/news2-input"
CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
ABSENT: Final = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
NEWS2_TOTAL: Final = "1104051000000101"
SUB_SCORES: Final = {
    "respiration_rate": "1104301000000104",
    "spo2_scale_1": "1104311000000102",
    "spo2_scale_2": "1104321000000108",
    "air_or_oxygen": "1104331000000105",
    "systolic_bp": "1104341000000101",
    "pulse": "1104351000000103",
    "consciousness": "1104361000000100",
    "temperature": "1104371000000107",
}
SUB_SCORE_DISPLAYS: Final = {
    code: f"NEWS2 (National Early Warning Score 2) - {what} score"
    for code, what in (
        ("1104301000000104", "respiration rate"),
        ("1104311000000102", "oxygen saturation scale 1"),
        ("1104321000000108", "oxygen saturation scale 2"),
        ("1104331000000105", "air or oxygen"),
        ("1104341000000101", "systolic blood pressure"),
        ("1104351000000103", "pulse"),
        ("1104361000000100", "consciousness"),
        ("1104371000000107", "temperature"),
    )
}
"""The sub-scores' displays, as HL7 Norway's VKP example writes them."""
VITALS: Final = {
    # field: (LOINC, display, UCUM code, unit)
    "respiration_rate": ("9279-1", "Respiratory rate", "/min", "/min"),
    "spo2": ("59408-5", "Oxygen saturation by pulse oximetry", "%", "%"),
    "systolic_bp": ("8480-6", "Systolic blood pressure", "mm[Hg]", "mmHg"),
    "pulse": ("8867-4", "Heart rate", "/min", "/min"),
    "temperature": ("8310-5", "Body temperature", "Cel", "°C"),
}
ALSO_CODED: Final = {"spo2": ("2708-6", "Oxygen saturation in Arterial blood")}
"""A second LOINC coding a vital sign carries: R4's vital-signs profile requires SpO2 coded
2708-6 (VKP codes it so too); 59408-5 (pulse oximetry) stays beside it."""
LOINC_FIELDS: Final = {loinc: field for field, (loinc, *_rest) in VITALS.items()} | {
    loinc: field for field, (loinc, _display) in ALSO_CODED.items()
}
BP_PANEL: Final = "85354-9"
_DAY: Final = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
SCORED_BY: Final = "https://journalloft.no/fhir/StructureDefinition/news2-scored-by"

FIELD_PATHS: Final = {
    "id": "/identifier/0/value",
    "patient": "/subject/identifier/value",
    "updated": "/meta/lastUpdated",
    "effective": "/effectiveDateTime",
    "total_score": "/valueQuantity/value",
    "spo2_scale": "/component",
    "supplemental_oxygen": "/component",
    "consciousness": "/component",
    "respiration_rate": "/hasMember",
    "spo2": "/hasMember",
    "systolic_bp": "/hasMember",
    "pulse": "/hasMember",
    "temperature": "/hasMember",
    "recorded_by": "/performer",
    "data_controller": "/performer",
    "source_system": "/meta/source",
    "interpretations": "/component",
    "location": "/note",
}


def _concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _vital_code(field: str, loinc: str, display: str) -> dict[str, Any]:
    concept = _concept(LOINC, loinc, display)
    if field in ALSO_CODED:
        also, also_display = ALSO_CODED[field]
        concept["coding"].insert(0, {"system": LOINC, "code": also, "display": also_display})
    return concept


def _score_quantity(value: int) -> dict[str, Any]:
    return {"value": value, "unit": "score", "system": UCUM, "code": "{score}"}


def _sub_score_components(measurement: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The SNOMED CT sub-score components, with the source's interpretation text of each."""
    score = measurement["score"]
    texts: Mapping[str, str] = measurement.get("interpretations") or {}
    components: list[dict[str, Any]] = []
    for name, sub in score["parameters"].items():
        code = SUB_SCORES[f"spo2_scale_{measurement['spo2_scale']}" if name == "spo2" else name]
        component: dict[str, Any] = {"code": _concept(SNOMED, code, SUB_SCORE_DISPLAYS[code])}
        if sub is None:
            component["dataAbsentReason"] = _concept(ABSENT, "not-performed", "Not Performed")
        else:
            component["valueQuantity"] = _score_quantity(sub)
        if name in texts:
            component["interpretation"] = [{"text": texts[name]}]
        components.append(component)
    return components


def _input_components(measurement: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The inputs of the chart that are no vital sign: SpO2 scale, oxygen, ACVPU."""
    components: list[dict[str, Any]] = [
        {"code": _concept(INPUT_SYSTEM, "spo2-scale"), "valueInteger": measurement["spo2_scale"]}
    ]
    if measurement.get("supplemental_oxygen") is not None:
        components.append(
            {
                "code": _concept(INPUT_SYSTEM, "supplemental-oxygen"),
                "valueBoolean": measurement["supplemental_oxygen"],
            }
        )
    if measurement.get("consciousness") is not None:
        components.append(
            {"code": _concept(INPUT_SYSTEM, "acvpu"), "valueString": measurement["consciousness"]}
        )
    return components


def _interpretation(score: Mapping[str, Any]) -> str:
    text = f"risk {score['risk']}" if score["risk"] is not None else "risk cannot be decided"
    if not score["complete"]:
        text += "; incomplete set: the total is a lower bound"
    if score.get("scored_by") == "source":
        text = "scored by the source, not by the platform; " + text
    return text


def _performers(measurement: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Who measured (by FNR/DNR as VKP names the author, and by HPR), then the organisation
    responsible (ENH or RESH), as VKP's performer slices."""
    performers: list[dict[str, Any]] = []
    recorded_by = measurement.get("recorded_by") or {}
    name = recorded_by.get("name")
    shown = {"display": name} if name else {}
    if recorded_by.get("national_id"):
        national_id = recorded_by["national_id"]
        performers.append(
            {"identifier": {"system": fhir.person_system(national_id), "value": national_id}}
            | shown
        )
    if recorded_by.get("hpr"):
        performers.append(
            {"identifier": {"system": HPR_SYSTEM, "value": recorded_by["hpr"]}} | shown
        )
    if name and not performers:
        performers.append(shown)
    controller = measurement.get("data_controller")
    if controller:
        system, value = (
            (ENH_SYSTEM, controller["orgnr"])
            if "orgnr" in controller
            else (RESH_SYSTEM, controller["resh"])
        )
        organisation: dict[str, Any] = {"identifier": {"system": system, "value": value}}
        if controller.get("name"):
            organisation["display"] = controller["name"]
        performers.append(organisation)
    return performers


def observations(
    measurement: Mapping[str, Any], *, patient: str, kommunenummer: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One measurement of a lookup's result: its NEWS2 Observation and its vital signs."""
    key = fhir.resource_id(kommunenummer, patient, measurement["id"])
    subject = fhir.person_reference(patient)
    effective = fhir.instant(measurement["effective"])
    updated = fhir.instant(measurement["updated"])
    members: list[dict[str, Any]] = []
    for field, (loinc, display, code, unit) in VITALS.items():
        value = measurement.get(field)
        if value is None:
            continue
        members.append(
            {
                "resourceType": "Observation",
                "id": f"{key[:30]}-{loinc}",
                "meta": {"lastUpdated": updated},
                "status": "final",
                "category": [_concept(CATEGORY, "vital-signs", "Vital Signs")],
                "code": _vital_code(field, loinc, display),
                "subject": subject,
                "effectiveDateTime": effective,
                "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": code},
            }
        )
    score = measurement["score"]
    meta: dict[str, Any] = {"lastUpdated": updated, "profile": [VKP_PROFILE]}
    if measurement.get("source_system"):
        meta["source"] = measurement["source_system"]
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": key,
        "meta": meta,
        **(
            {"extension": [{"url": SCORED_BY, "valueCode": "source"}]}
            if score.get("scored_by") == "source"
            else {}
        ),
        "identifier": [fhir.source_identifier(measurement["id"])],
        "status": "final",
        "category": [_concept(CATEGORY, "survey", "Survey")],
        "code": _concept(SNOMED, NEWS2_TOTAL, NEWS2_DISPLAY),
        "subject": subject,
        "effectiveDateTime": effective,
        "valueQuantity": _score_quantity(score["total"]),
        "interpretation": [{"text": _interpretation(score)}],
        "component": _sub_score_components(measurement) + _input_components(measurement),
    }
    performers = _performers(measurement)
    if performers:
        resource["performer"] = performers
    if measurement.get("location"):
        resource["note"] = [{"text": measurement["location"]}]
    if members:
        resource["hasMember"] = [{"reference": f"Observation/{m['id']}"} for m in members]
    return resource, members


def is_news2(resource: Mapping[str, Any]) -> bool:
    return (SNOMED, NEWS2_TOTAL) in fhir.codes_of_concept(resource.get("code"))


def _number(quantity: Any) -> float | None:
    value = quantity.get("value") if isinstance(quantity, Mapping) else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return None


def _vital(member: Mapping[str, Any], errors: fhir.Errors) -> dict[str, Any]:
    """The native fields one vital-sign Observation gives (``errors`` at its own place)."""
    codes = {code for system, code in fhir.codes_at(member, "code", "", errors) if system == LOINC}
    if BP_PANEL in codes:
        for at, component in fhir.objects_at(member, "component", "", errors):
            if (LOINC, "8480-6") in fhir.codes_at(component, "code", at, errors):
                value = _number(fhir.object_at(component, "valueQuantity", at, errors))
                if value is not None:
                    return {"systolic_bp": round(value)}
        errors.add("/component", "the blood pressure panel has no systolic (8480-6)")
        return {}
    fields = [LOINC_FIELDS[c] for c in codes if c in LOINC_FIELDS]
    if len(fields) != 1:
        known = ", ".join([*sorted(LOINC_FIELDS), BP_PANEL])
        errors.add("/code", f"must be one LOINC vital sign of NEWS2 ({known})")
        return {}
    value = _number(fhir.object_at(member, "valueQuantity", "", errors))
    if value is None:
        errors.add("/valueQuantity/value", "must be the measured value")
        return {}
    field = fields[0]
    return {field: value if field == "temperature" else round(value)}


def _effective_of(resource: Mapping[str, Any], errors: fhir.Errors) -> Any:
    """``effectiveDateTime``: an instant with its offset, or a day (as the VKP example), which
    is midnight in Norway."""
    effective = resource.get("effectiveDateTime")
    if isinstance(effective, str) and _DAY.fullmatch(effective):
        return datetime.combine(date.fromisoformat(effective), time(), OSLO).isoformat()
    if not isinstance(effective, str) or "T" not in effective:
        errors.add(
            "/effectiveDateTime", "must be the instant measured with its offset (or the day)"
        )
    return effective


def _provenance_of(resource: Mapping[str, Any], errors: fhir.Errors) -> dict[str, Any]:
    """``meta``: the source's last change (``lastUpdated``) and where the source says the
    measurement comes from (``source``, kept as sent). ``profile`` is the platform's own in
    answers (``VKP_PROFILE``), so it is not kept."""
    meta = fhir.object_at(resource, "meta", "", errors)
    found: dict[str, Any] = {"updated": meta.get("lastUpdated") or resource.get("issued")}
    source = meta.get("source")
    if source is not None:
        if not isinstance(source, str):
            errors.add("/meta/source", "must be a URI (a string)")
        found["source_system"] = source
    return found


def _vitals_of(members: fhir.Members, patient: str | None, errors: fhir.Errors) -> dict[str, Any]:
    """The vital signs of the member Observations, each of the NEWS2 Observation's person."""
    vitals: dict[str, Any] = {}
    for pointer, member, place in members:
        if member is None:
            errors.add(pointer, "names no vital-sign Observation of this request")
            continue
        located = fhir.Errors(place)
        if "subject" in member:
            whose = fhir.person_of(member["subject"], "/subject", located)
            if whose is not None and patient is not None and whose != patient:
                errors.add(
                    pointer,
                    "the vital sign's subject is another person than the NEWS2 "
                    "Observation's: a measurement is one person's",
                )
        found = _vital(member, located)
        errors.found += located.found
        for field, value in found.items():
            if field in vitals:
                errors.add(pointer, f"a second {field} for one measurement")
            vitals[field] = value
    return vitals


class _Components:
    """What a NEWS2 Observation's components say: the chart's inputs (into ``record``), the
    source's sub-scores, the SpO2 scales they name, and the source's text of each."""

    def __init__(self) -> None:
        self.record: dict[str, Any] = {}
        self.sub_scores: dict[str, int | None] = {}
        self.scales: set[int] = set()
        self.texts: dict[str, str] = {}

    def read(self, resource: Mapping[str, Any], errors: fhir.Errors) -> None:
        for at, component in fhir.objects_at(resource, "component", "", errors):
            codes = fhir.codes_at(component, "code", at, errors)
            if not self._input(component, codes, at, errors):
                self._sub_score(component, codes, at, errors)

    def _input(
        self,
        component: Mapping[str, Any],
        codes: set[tuple[str, str]],
        at: str,
        errors: fhir.Errors,
    ) -> bool:
        if (INPUT_SYSTEM, "spo2-scale") in codes:
            scale = component.get("valueInteger")
            if scale not in (1, 2):
                errors.add(at + "/valueInteger", "must be 1 or 2")
            self.record["spo2_scale"] = scale
        elif (INPUT_SYSTEM, "supplemental-oxygen") in codes:
            oxygen = component.get("valueBoolean")
            if not isinstance(oxygen, bool):
                errors.add(at + "/valueBoolean", "must be true (oxygen) or false (air)")
            self.record["supplemental_oxygen"] = oxygen
        elif (INPUT_SYSTEM, "acvpu") in codes:
            self.record["consciousness"] = component.get("valueString")
        else:
            return False
        return True

    def _sub_score(
        self,
        component: Mapping[str, Any],
        codes: set[tuple[str, str]],
        at: str,
        errors: fhir.Errors,
    ) -> None:
        for name, code in SUB_SCORES.items():
            if (SNOMED, code) not in codes:
                continue
            if name.startswith("spo2_scale_"):
                self.scales.add(int(name[-1]))
                name = "spo2"
            value = _number(fhir.object_at(component, "valueQuantity", at, errors))
            if value is None and component.get("dataAbsentReason") is None:
                errors.add(at + "/valueQuantity/value", "must be the sub-score")
            elif value is not None:
                if name in self.sub_scores:
                    errors.add(at, f"a second {name} sub-score")
                self.sub_scores[name] = round(value)
            interpretations = fhir.objects_at(component, "interpretation", at, errors)
            if interpretations:
                text = interpretations[0][1].get("text")
                if text is not None:
                    if not isinstance(text, str):
                        errors.add(interpretations[0][0] + "/text", "must be a string")
                    self.texts[name] = text

    def scale(self, errors: fhir.Errors) -> Any:
        """The SpO2 scale: the input component's, else the one scale the sub-scores name."""
        if "spo2_scale" in self.record:
            return self.record["spo2_scale"]
        if len(self.scales) == 1:
            return next(iter(self.scales))
        errors.add(
            "/component",
            f"must say the SpO2 scale: a component {INPUT_SYSTEM}#spo2-scale "
            "(valueInteger 1 or 2), or the SNOMED CT sub-score of scale 1 or 2",
        )
        return None


def _performers_of(resource: Mapping[str, Any], errors: fhir.Errors) -> dict[str, Any]:
    """VKP's performer slices: the author (by FNR or DNR, as VKP; or by HPR; or a display
    only) and the organisation responsible (ENH or RESH). Any other identifier system is
    refused, never dropped."""
    author: dict[str, Any] = {}
    controller: dict[str, Any] = {}
    for at, performer in fhir.objects_at(resource, "performer", "", errors):
        identifier = fhir.object_at(performer, "identifier", at, errors)
        display = fhir.text_of(performer.get("display"))
        system, value = identifier.get("system"), identifier.get("value")
        if not identifier:
            if not display:
                errors.add(at, "must name who measured by identifier (FNR, DNR or HPR) or display")
            elif author.get("name") not in (None, display):
                errors.add(at + "/display", "a second author")
            else:
                author["name"] = display
            continue
        if not isinstance(value, str):
            errors.add(at + "/identifier/value", "must be a string")
            continue
        if not isinstance(system, str):
            errors.add(at + "/identifier/system", "must be a string (a URI)")
            continue
        if system in ORGANISATION_SYSTEMS:
            if controller:
                errors.add(at, "a second organisation responsible (performer[organization])")
            controller = {ORGANISATION_SYSTEMS[system]: value, "name": display}
            continue
        if system in fhir.PERSON_SYSTEMS:
            key = "national_id"
            if fhir.person_of(performer, at, errors) is None:
                continue
        elif system == HPR_SYSTEM:
            key = "hpr"
        else:
            known = ", ".join([HPR_SYSTEM, *fhir.PERSON_SYSTEMS, *ORGANISATION_SYSTEMS])
            errors.add(at + "/identifier/system", f"must be one of {known}")
            continue
        if key in author or author.get("name") not in (None, display):
            errors.add(at, "a second author: one practitioner measured")
        author[key] = value
        if display:
            author["name"] = display
    found: dict[str, Any] = {}
    if author:
        found["recorded_by"] = {"name": None, "hpr": None} | author
    if controller:
        found["data_controller"] = controller
    return found


def record_of(
    resource: Mapping[str, Any],
    errors: fhir.Errors,
    *,
    members: fhir.Members,
    record_id: str | None = None,
) -> dict[str, Any]:
    """The native record of a NEWS2 Observation and its vital signs (``members``, as
    the face finds them). A vital sign names no other subject than the NEWS2
    Observation's (without one it is the NEWS2 Observation's)."""
    record_id = fhir.record_id_of(resource, record_id, errors)
    if not record_id:
        errors.add("/identifier", "is required: the journal system's own id of the measurement")
    patient = fhir.person_of(resource.get("subject"), "/subject", errors)
    fhir.codes_at(resource, "code", "", errors)
    effective = _effective_of(resource, errors)
    record: dict[str, Any] = {"id": record_id, "patient": patient, "effective": effective}
    record |= _provenance_of(resource, errors)
    record["updated"] = record["updated"] or effective
    vitals = _vitals_of(members, patient, errors)
    record |= vitals
    components = _Components()
    components.read(resource, errors)
    record |= components.record
    record["spo2_scale"] = components.scale(errors)
    if not vitals and components.sub_scores:
        # scored by the source, sent without the vital signs (as the VKP profile's example):
        # the platform checks each sub-score and their sum, and marks it as the source's
        record["source_scores"] = {name: components.sub_scores.get(name) for name in PARAMETERS}
    elif not vitals:
        errors.add(
            "/hasMember",
            "must reference the vital signs measured (the platform scores them), or the "
            "components must carry the source's sub-scores (SNOMED CT)",
        )
    if components.texts:
        record["interpretations"] = components.texts
    total = _number(fhir.object_at(resource, "valueQuantity", "", errors))
    if total is not None:
        record["total_score"] = round(total)
    record |= _performers_of(resource, errors)
    notes = fhir.objects_at(resource, "note", "", errors)
    if notes:
        record["location"] = fhir.text_of(notes[0][1].get("text"))
    return {k: v for k, v in record.items() if v is not None}


class Observations(fhir.Provider):
    """The FHIR face's provider of NEWS2 Observations."""

    resource_type = "Observation"
    service = "news2"
    profile: str | None = VKP_PROFILE
    search_parameters: Mapping[str, fhir.SearchParameter] = {
        "code": fhir.SearchParameter(
            "code",
            "A coding of the resource (system|code)",
            values=frozenset({(SNOMED, NEWS2_TOTAL), *((LOINC, c) for c in LOINC_FIELDS)}),
        ),
        "category": fhir.SearchParameter(
            "category",
            f"{CATEGORY}|survey (the NEWS2 score) or |vital-signs (the measurements)",
            values=frozenset({(CATEGORY, "survey"), (CATEGORY, "vital-signs")}),
        ),
        "date": fhir.SearchParameter("date", "effective, with prefixes"),
        "status": fhir.SearchParameter("status", "The resource's status"),
    }
    field_paths: Mapping[str, str] = FIELD_PATHS
    member_types = ("Observation",)
    orphan_member = (
        "a vital sign must be a member (hasMember) of a NEWS2 Observation "
        f"(SNOMED CT {NEWS2_TOTAL}) of this Bundle"
    )

    def options(self, search: fhir.Search, now: datetime) -> dict[str, Any]:
        return {"hours": search.hours_back(now, default=72, most=720)}

    def resources(
        self, fields: Mapping[str, Any], *, patient: str, kommunenummer: str
    ) -> list[fhir.Found]:
        return [
            observations(m, patient=patient, kommunenummer=kommunenummer)
            for m in fields["measurements"]
        ]

    def period_of(self, resource: Mapping[str, Any]) -> tuple[datetime, datetime | None]:
        effective = datetime.fromisoformat(str(resource["effectiveDateTime"]))
        return effective, effective

    def is_main(self, resource: Mapping[str, Any]) -> bool:
        return is_news2(resource)

    def member_references(
        self, resource: Mapping[str, Any], errors: fhir.Errors
    ) -> list[tuple[str, str]]:
        return [
            (at, str(reference.get("reference")))
            for at, reference in fhir.objects_at(resource, "hasMember", "", errors)
        ]

    def record(
        self,
        resource: Mapping[str, Any],
        errors: fhir.Errors,
        *,
        members: fhir.Members,
        record_id: str | None,
    ) -> dict[str, Any]:
        return record_of(resource, errors, members=members, record_id=record_id)


PROVIDERS: Final = (Observations(),)
