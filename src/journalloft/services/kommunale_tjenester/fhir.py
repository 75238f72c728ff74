"""Kommunale tjenester's FHIR face: EpisodeOfCare, after the OKT IG's profile
``OktEpisodeOfCare``.

| native (record / result)   | EpisodeOfCare                                                  |
| -------------------------- | -------------------------------------------------------------- |
| id (the source's own id)   | identifier[0].value (or the resource's id if it has none)      |
| patient                    | patient.identifier (FNR or DNR system)                         |
| updated                    | meta.lastUpdated (else period.start, midnight in Norway)       |
| service_code               | type[] coding of urn:oid:2.16.578.1.12.4.1.1.9151              |
| stay_type                  | type[] coding of the IG's OktStayTypeCs                        |
| start, end                 | period.start, period.end                                       |
| temporary_cessation        | status onhold                                                  |
| status (active, planned…)  | status active, planned, onhold, finished                       |
| weekly_extent              | extension WeeklyExtentRatio (UCUM h per 1 wk) when a number,   |
|                            | else the platform's weekly-extent-text extension               |
| description                | extension ServiceDescriptionMarkdown                           |
| unit {name, phone}         | managingOrganization → contained Organization (name, telecom)  |
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any, Final

from journalloft.plugin import OSLO, fhir
from journalloft.services.kommunale_tjenester.codes import (
    SERVICE_CODE_SYSTEM,
    normalise_service_code,
    service_type,
)

OKT: Final = "http://hl7.no/fhir/ig/okt/"
PROFILE: Final = OKT + "StructureDefinition/OktEpisodeOfCare"
WEEKLY_EXTENT_RATIO: Final = OKT + "StructureDefinition/WeeklyExtentRatio"
WEEKLY_EXTENT_QUANTITY: Final = OKT + "StructureDefinition/WeeklyExtentQuantity"
DESCRIPTION: Final = OKT + "StructureDefinition/ServiceDescriptionMarkdown"
STAY_TYPE_SYSTEM: Final = OKT + "CodeSystem/OktStayTypeCs"
WEEKLY_EXTENT_TEXT: Final = "https://journalloft.no/fhir/StructureDefinition/weekly-extent-text"
STAY_TYPES: Final = ("dagopphold", "korttidsopphold")
STATUS_OF: Final = {
    "active": "active",
    "planned": "planned",
    "paused": "onhold",
    "ended": "finished",
}
_NUMBER: Final = re.compile(r"^[0-9]+([.,][0-9]+)?$")

FIELD_PATHS: Final = {
    "id": "/identifier/0/value",
    "patient": "/patient/identifier/value",
    "updated": "/meta/lastUpdated",
    "service_code": "/type",
    "stay_type": "/type",
    "start": "/period/start",
    "end": "/period/end",
    "description": "/extension",
    "weekly_extent": "/extension",
    "unit": "/managingOrganization",
}
"""Where a native record's field comes from, for pointing a native error at the FHIR element."""


def _number(text: str) -> float | int:
    value = float(text.replace(",", "."))
    return int(value) if value.is_integer() else value


def _display(entry: Mapping[str, Any]) -> str:
    """The code's display as the OKT IG's CodeSystem IplosCs has it."""
    found = service_type(entry["service_code"])
    return found.display if found is not None else str(entry["service_name"])


def episode_of_care(
    entry: Mapping[str, Any], *, patient: str, kommunenummer: str
) -> dict[str, Any]:
    """One service of a lookup's result as an OktEpisodeOfCare."""
    extensions: list[dict[str, Any]] = []
    weekly = (entry.get("weekly_extent") or "").strip() or None
    if weekly is not None and _NUMBER.fullmatch(weekly):
        extensions.append(
            {
                "url": WEEKLY_EXTENT_RATIO,
                "valueRatio": {
                    "numerator": {
                        "value": _number(weekly),
                        "unit": "h",
                        "system": "http://unitsofmeasure.org",
                        "code": "h",
                    },
                    "denominator": {
                        "value": 1,
                        "unit": "wk",
                        "system": "http://unitsofmeasure.org",
                        "code": "wk",
                    },
                },
            }
        )
    elif weekly is not None:
        extensions.append({"url": WEEKLY_EXTENT_TEXT, "valueString": weekly})
    if (entry.get("description") or "").strip():
        extensions.append({"url": DESCRIPTION, "valueMarkdown": entry["description"]})
    types: list[dict[str, Any]] = [
        {
            "coding": [
                {
                    "system": SERVICE_CODE_SYSTEM,
                    "code": entry["service_code"],
                    "display": _display(entry),
                }
            ]
        }
    ]
    if entry.get("stay_type"):
        types.append({"coding": [{"system": STAY_TYPE_SYSTEM, "code": entry["stay_type"]}]})
    period: dict[str, Any] = {"start": fhir.day(entry["start"])}
    if entry.get("end") is not None:
        period["end"] = fhir.day(entry["end"])
    resource: dict[str, Any] = {
        "resourceType": "EpisodeOfCare",
        "id": fhir.resource_id(kommunenummer, patient, entry["id"]),
        "meta": {"profile": [PROFILE], "lastUpdated": fhir.instant(entry["updated"])},
    }
    unit = entry.get("unit")
    if unit and not (unit.get("name") or "").strip():
        unit = None
    if unit:
        organization: dict[str, Any] = {
            "resourceType": "Organization",
            "id": "unit",
            "name": unit["name"],
        }
        if unit.get("phone"):
            organization["telecom"] = [{"system": "phone", "value": unit["phone"]}]
        resource["contained"] = [organization]
    if extensions:
        resource["extension"] = extensions
    resource |= {
        "identifier": [fhir.source_identifier(entry["id"])],
        "status": STATUS_OF[entry["status"]],
        "type": types,
        "patient": fhir.person_reference(patient),
        "period": period,
    }
    if unit:
        resource["managingOrganization"] = {"reference": "#unit", "display": unit["name"]}
    return resource


def _codings(resource: Mapping[str, Any], system: str) -> list[tuple[int, int, Any]]:
    found = []
    types = resource.get("type")
    for i, concept in enumerate(types if isinstance(types, list) else []):
        codings = concept.get("coding") if isinstance(concept, Mapping) else None
        for j, coding in enumerate(codings if isinstance(codings, list) else []):
            if isinstance(coding, Mapping) and coding.get("system") == system:
                found.append((i, j, coding.get("code")))
    return found


def _date_part(value: Any) -> str | None:
    """A FHIR date or dateTime's day (a period of a service is in days)."""
    return value[:10] if isinstance(value, str) and len(value) >= 10 else None


def _weekly_extent(
    extensions: list[tuple[str, Mapping[str, Any]]], errors: fhir.Errors
) -> str | None:
    for at, extension in extensions:
        url = extension.get("url")
        if url == WEEKLY_EXTENT_TEXT:
            return fhir.text_of(extension.get("valueString"))
        if url == WEEKLY_EXTENT_QUANTITY:
            value = fhir.object_at(extension, "valueQuantity", at, errors).get("value")
            if isinstance(value, int | float) and not isinstance(value, bool):
                return _plain(value)
            errors.add(f"{at}/valueQuantity/value", "must be hours per week")
        if url == WEEKLY_EXTENT_RATIO:
            ratio = fhir.object_at(extension, "valueRatio", at, errors)
            numerator = fhir.object_at(ratio, "numerator", f"{at}/valueRatio", errors).get("value")
            denominator = fhir.object_at(ratio, "denominator", f"{at}/valueRatio", errors).get(
                "value", 1
            )
            if (
                isinstance(numerator, int | float)
                and isinstance(denominator, int | float)
                and denominator > 0
            ):
                return _plain(numerator / denominator)
            errors.add(f"{at}/valueRatio", "must be hours (numerator) per week")
    return None


def _plain(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _description(extensions: list[tuple[str, Mapping[str, Any]]]) -> str | None:
    for _at, extension in extensions:
        if extension.get("url") == DESCRIPTION:
            return fhir.text_of(extension.get("valueMarkdown"))
    return None


def check_organization(organization: Mapping[str, Any], pointer: str, errors: fhir.Errors) -> None:
    """Errors for an Organization taken as a unit whose telecoms are not FHIR's shape."""
    fhir.objects_at(organization, "telecom", pointer, errors)
    for at, contact in fhir.objects_at(organization, "contact", pointer, errors):
        fhir.objects_at(contact, "telecom", at, errors)


def _organization_unit(organization: Mapping[str, Any]) -> dict[str, Any] | None:
    """An Organization as the unit: its name, and its phone (``telecom``, or a contact's);
    elements of another shape are left out (:func:`check_organization` refuses them)."""
    name = organization.get("name")
    if not isinstance(name, str):
        return None
    ignored = fhir.Errors()
    telecoms = [t for _at, t in fhir.objects_at(organization, "telecom", "", ignored)]
    for at, contact in fhir.objects_at(organization, "contact", "", ignored):
        telecoms += [t for _at, t in fhir.objects_at(contact, "telecom", at, ignored)]
    phones = [
        t.get("value")
        for t in telecoms
        if t.get("system") == "phone" and isinstance(t.get("value"), str)
    ]
    return {"name": name, "phone": phones[0] if phones else None}


def _unit(
    resource: Mapping[str, Any], organization: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """The unit: an Organization of the same transaction that managingOrganization names, a
    contained one (``#id``), or managingOrganization's display."""
    if organization is not None:
        found = _organization_unit(organization)
        if found is not None:
            return found
    managing = resource.get("managingOrganization")
    if not isinstance(managing, Mapping):
        return None
    reference = managing.get("reference")
    if isinstance(reference, str) and reference.startswith("#"):
        for _at, contained in fhir.objects_at(resource, "contained", "", fhir.Errors()):
            if (
                contained.get("resourceType") == "Organization"
                and contained.get("id") == reference[1:]
            ):
                found = _organization_unit(contained)
                if found is not None:
                    return found
    display = managing.get("display")
    return {"name": display} if isinstance(display, str) else None


def record_of(
    resource: Mapping[str, Any],
    errors: fhir.Errors,
    *,
    record_id: str | None = None,
    unit: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The native record of an OktEpisodeOfCare (errors at their FHIR element)."""
    record_id = fhir.record_id_of(resource, record_id, errors)
    if not record_id:
        errors.add("/identifier", "is required: the journal system's own id of this service")
    patient = fhir.person_of(resource.get("patient"), "/patient", errors)
    for at, concept in fhir.objects_at(resource, "type", "", errors):
        fhir.objects_at(concept, "coding", at, errors)
    # a contained element of the wrong shape is refused once, where the face reads the members
    for at, contained in fhir.objects_at(resource, "contained", "", fhir.Errors()):
        if contained.get("resourceType") == "Organization":
            check_organization(contained, at, errors)
    fhir.object_at(resource, "managingOrganization", "", errors)
    extensions = fhir.objects_at(resource, "extension", "", errors)
    codes = _codings(resource, SERVICE_CODE_SYSTEM)
    if len(codes) != 1:
        errors.add("/type", f"must hold exactly one coding of {SERVICE_CODE_SYSTEM} (IPLOS/9151)")
    stays = _codings(resource, STAY_TYPE_SYSTEM)
    stay_type = stays[0][2] if stays else None
    if stay_type is not None and stay_type not in STAY_TYPES:
        i, j, _ = stays[0]
        errors.add(f"/type/{i}/coding/{j}/code", f"must be one of {', '.join(STAY_TYPES)}")
    raw_period = resource.get("period")
    period: Mapping[str, Any] = raw_period if isinstance(raw_period, Mapping) else {}
    start, end = _date_part(period.get("start")), _date_part(period.get("end"))
    if start is None:
        errors.add("/period/start", "is required: the first day of the service")
    status = resource.get("status")
    if status not in ("planned", "active", "onhold", "on-hold", "finished", "waitlist"):
        errors.add(
            "/status",
            "must be planned, waitlist, active, onhold or finished "
            "(a service sent in error is withdrawn with DELETE)",
        )
    updated = fhir.object_at(resource, "meta", "", errors).get("lastUpdated")
    if updated is None and start is not None:
        try:
            updated = datetime.combine(date.fromisoformat(start), time(), OSLO).isoformat()
        except ValueError:
            updated = None
    weekly = _weekly_extent(extensions, errors)
    record: dict[str, Any] = {
        "id": record_id,
        "patient": patient,
        "updated": updated,
        "service_code": codes[0][2] if len(codes) == 1 else None,
        "start": start,
        "end": end,
        "temporary_cessation": status in ("onhold", "on-hold"),
        "weekly_extent": weekly,
        "description": _description(extensions),
        "unit": _unit(resource, unit),
        "stay_type": stay_type,
    }
    return {k: v for k, v in record.items() if v is not None or k in ("end",)}


def _searched_code(system: str | None, code: str) -> tuple[str | None, str]:
    """A searched 9151 code as writes store it (``06`` is ``6``); other codes as they are."""
    if system in (SERVICE_CODE_SYSTEM, None):
        try:
            return system, normalise_service_code(code)
        except ValueError:
            return system, code
    return system, code


UNIT: Final = "Organization"
"""A transaction may carry the Organization an EpisodeOfCare names as managingOrganization (as
the OKT IG's examples do): it is read as the service's unit, not stored as a resource."""


class EpisodesOfCare(fhir.Provider):
    """The FHIR face's provider of kommunale tjenester as EpisodeOfCare."""

    resource_type = "EpisodeOfCare"
    service = "kommunale-tjenester"
    profile: str | None = PROFILE
    person_parameters = ("patient:identifier",)
    search_parameters: Mapping[str, fhir.SearchParameter] = {
        "code": fhir.SearchParameter(
            "code",
            "A coding of the resource (system|code); a 9151 code zero-padded or not (06 = 6)",
            normalise=_searched_code,
        ),
        "date": fhir.SearchParameter(
            "date", "effective (Observation) or period (EpisodeOfCare), with prefixes"
        ),
        "status": fhir.SearchParameter("status", "The resource's status"),
    }
    field_paths: Mapping[str, str] = FIELD_PATHS
    member_types = (UNIT,)
    member_note: str | None = (
        "taken as the unit (whom to call) of the EpisodeOfCare that references it"
    )
    orphan_member = (
        "an Organization is taken only as the unit (managingOrganization) of an "
        "EpisodeOfCare of this Bundle"
    )

    def options(self, search: fhir.Search, now: datetime) -> dict[str, Any]:
        ended = bool({"finished", "cancelled"} & set(search.statuses)) or bool(search.dates)
        return {"include_ended": True} if ended else {}

    def resources(
        self, fields: Mapping[str, Any], *, patient: str, kommunenummer: str
    ) -> list[fhir.Found]:
        return [
            (episode_of_care(s, patient=patient, kommunenummer=kommunenummer), [])
            for s in fields["services"]
        ]

    def codes_of(self, resource: Mapping[str, Any]) -> set[tuple[str, str]]:
        return {
            (coding.get("system", ""), coding.get("code", ""))
            for concept in resource.get("type") or []
            for coding in concept.get("coding") or []
        }

    def period_of(self, resource: Mapping[str, Any]) -> tuple[datetime, datetime | None]:
        period = resource["period"]
        start = datetime.combine(date.fromisoformat(period["start"]), time(), OSLO)
        end = (
            datetime.combine(date.fromisoformat(period["end"]), time(23, 59, 59), OSLO)
            if period.get("end")
            else None
        )
        return start, end

    def sort_key(self, resource: Mapping[str, Any]) -> str:
        period: Mapping[str, Any] = resource.get("period") or {}
        return str(period.get("start") or "")

    def member_references(
        self, resource: Mapping[str, Any], errors: fhir.Errors
    ) -> list[tuple[str, str]]:
        # the element's shape is record_of's to refuse, once
        managing = fhir.object_at(resource, "managingOrganization", "", fhir.Errors())
        return [("/managingOrganization", str(managing.get("reference")))]

    def record(
        self,
        resource: Mapping[str, Any],
        errors: fhir.Errors,
        *,
        members: fhir.Members,
        record_id: str | None,
    ) -> dict[str, Any]:
        found = [(member, place) for _pointer, member, place in members if member is not None]
        unit, place = found[0] if found else (None, "")
        if unit is not None and not place.startswith(errors.prefix + "/contained/"):
            # an Organization entry of the Bundle (a contained one record_of checks itself)
            located = fhir.Errors(place)
            check_organization(unit, "", located)
            errors.found += located.found
        return record_of(resource, errors, record_id=record_id, unit=unit)


PROVIDERS: Final = (EpisodesOfCare(),)
