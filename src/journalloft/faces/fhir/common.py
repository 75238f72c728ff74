"""What every FHIR resource of the face shares: media type, identifier systems, the person's
identifier, OperationOutcome, and the JSON Pointer to FHIRPath rule."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, Final

import orjson
from starlette.responses import Response

from journalloft.platform.face import FieldError, InvalidContent, Problem

FHIR_JSON: Final = "application/fhir+json"
FHIR_VERSION: Final = "4.0.1"

FNR_SYSTEM: Final = "urn:oid:2.16.578.1.12.4.1.4.1"
DNR_SYSTEM: Final = "urn:oid:2.16.578.1.12.4.1.4.2"
FHN_SYSTEM: Final = "urn:oid:2.16.578.1.12.4.1.4.3"
"""The felles hjelpenummer (FH-nummer), which VKP's subject value set allows."""
PERSON_SYSTEMS: Final = (FNR_SYSTEM, DNR_SYSTEM, FHN_SYSTEM)
SYSTEM_MISMATCH: Final = (
    "does not fit the number: a D-nummer (first digit 4-7) is named with "
    f"{DNR_SYSTEM}, an FH-nummer (first digit 8 or 9) with {FHN_SYSTEM}, "
    f"any other person with {FNR_SYSTEM}"
)
RECORD_ID_SYSTEM: Final = "urn:journalloft:source-record-id"
"""The system the platform names a source's own id with in its answers when the source sent it
without one (or through the native API, whose ``id`` is not ``system|value``)."""
ENH_SYSTEM: Final = "urn:oid:2.16.578.1.12.4.1.4.101"
"""Enhetsregisteret's organisasjonsnummer (ENH), as HL7 Norway names an organisation."""
KOMMUNENUMMER_SYSTEM: Final = "urn:oid:2.16.578.1.12.4.1.1.3402"
"""Volven 3402, the kommunenummer (no-basis' ``no-basis-municipalitycode`` codes with it)."""
HOLDER_URL: Final = "https://journalloft.no/fhir/StructureDefinition/data-holder"
"""The extension on every resource answered that says which municipality holds it."""
RECORD_ID_MAX: Final = 128
"""The native record id's length: ``system|value`` together (common.schema.json)."""
_SYSTEM: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s|]+")
"""An identifier's ``system``: an absolute URI (a scheme, then no space and no ``|``)."""


class FhirResponse(Response):
    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_UTC_Z)


def person_system(person_id: str) -> str:
    """FNR, DNR or FHN: a D-nummer's first digit is 4–7 (its day is 41–71), an FH-nummer's 8 or
    9; every other number (H-nummer and synthetic ones included) is named with FNR's system."""
    first = person_id[:1]
    if first and first in "4567":
        return DNR_SYSTEM
    if first and first in "89":
        return FHN_SYSTEM
    return FNR_SYSTEM


def person_reference(person_id: str) -> dict[str, Any]:
    return {"identifier": {"system": person_system(person_id), "value": person_id}}


def holder_extension(kommunenummer: str, name: str | None, orgnr: str | None) -> dict[str, Any]:
    """Which municipality holds a resource, whom a legevakt calls about it: the municipality's
    organisation (by its organisasjonsnummer and name, as HL7 Norway names an organisation and
    VKP its ``performer[organization]``) and its kommunenummer (Volven 3402, as no-basis'
    municipality code). Without ``orgnr`` (a municipality no longer on the platform), the
    kommunenummer only."""
    parts: list[dict[str, Any]] = []
    if orgnr is not None:
        organisation: dict[str, Any] = {
            "type": "Organization",
            "identifier": {"system": ENH_SYSTEM, "value": orgnr},
        }
        if name:
            organisation["display"] = name
        parts.append({"url": "organization", "valueReference": organisation})
    parts.append(
        {
            "url": "municipality",
            "valueCoding": {"system": KOMMUNENUMMER_SYSTEM, "code": kommunenummer},
        }
    )
    return {"url": HOLDER_URL, "extension": parts}


def resource_id(*parts: str) -> str:
    """A stable logical id (FHIR ids are at most 64 of [A-Za-z0-9-.]) for a stored record."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def fhir_path(pointer: str, root: str | None) -> str:
    """A JSON Pointer into a FHIR body as a FHIRPath expression: ``/entry/0/resource/period``
    of a Bundle is ``Bundle.entry[0].resource.period``."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    path = root or ""
    for part in parts:
        if part.isdigit():
            path += f"[{part}]"
        else:
            path += ("." if path else "") + part
    return path or (root or "")


_ISSUE_CODES: Final = {
    400: "structure",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "expired",
    412: "multiple-matches",
    413: "too-costly",
    415: "not-supported",
    422: "invalid",
    429: "throttled",
    503: "transient",
}


def operation_outcome(problem: Problem, *, root: str | None = None) -> dict[str, Any]:
    """The problem as an OperationOutcome: one issue with its detail, then one per field error
    with its place as ``expression`` (FHIRPath from the JSON Pointer)."""
    code = _ISSUE_CODES.get(problem.status, "exception")
    issues: list[dict[str, Any]] = [
        {
            "severity": "error" if problem.status < 500 else "fatal",
            "code": code,
            "details": {"text": problem.instance_title},
            "diagnostics": problem.detail,
        }
    ]
    for error in problem.errors:
        issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": error.message}
        if error.pointer:
            issue["expression"] = [fhir_path(error.pointer, root)]
        issues.append(issue)
    return {"resourceType": "OperationOutcome", "issue": issues}


def outcome_response(
    problem: Problem, *, correlation_id: str | None = None, root: str | None = None
) -> Response:
    headers = dict(problem.headers)
    if correlation_id:
        headers["correlation-id"] = correlation_id
    return FhirResponse(
        operation_outcome(problem, root=root), status_code=problem.status, headers=headers
    )


def information(text: str, *, code: str = "informational") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "information", "code": code, "diagnostics": text}],
    }


class Errors:
    """Field errors collected while reading a FHIR body, each at a JSON Pointer."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.found: list[FieldError] = []

    def add(self, pointer: str, message: str) -> None:
        self.found.append(FieldError(self.prefix + pointer, message))

    def raise_if_any(self, detail: str) -> None:
        if self.found:
            raise InvalidContent(detail, errors=self.found)


def person_of(reference: Any, pointer: str, errors: Errors) -> str | None:
    """The person's id from a reference by identifier (FNR, DNR or FHN system, the one that
    fits the number)."""
    identifier = reference.get("identifier") if isinstance(reference, Mapping) else None
    if not isinstance(identifier, Mapping):
        errors.add(
            pointer,
            "must name the person by identifier: "
            f"{{'identifier': {{'system': '{FNR_SYSTEM}' (or DNR), 'value': '<11 digits>'}}}}",
        )
        return None
    system, value = identifier.get("system"), identifier.get("value")
    if system not in PERSON_SYSTEMS:
        errors.add(
            pointer + "/identifier/system",
            f"must be {FNR_SYSTEM} (FNR), {DNR_SYSTEM} (DNR) or {FHN_SYSTEM} (FH-nummer)",
        )
        return None
    if not isinstance(value, str):
        errors.add(pointer + "/identifier/value", "must be the person's id as a string")
        return None
    if person_system(value) != system:
        errors.add(pointer + "/identifier/system", SYSTEM_MISMATCH)
        return None
    return value


def text_of(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def codes_of_concept(concept: Any) -> set[tuple[str, str]]:
    """A CodeableConcept's codes as (system, code), whatever its shape (:func:`codes_at`
    refuses another)."""
    if not isinstance(concept, Mapping):
        return set()
    return codes_at({"code": concept}, "code", "", Errors())


def source_record_id(system: str | None, value: str, pointer: str, errors: Errors) -> str:
    """The native record id of the source's identifier ``system|value``: the system and the
    value together, so that one value under two systems (two journal systems behind one
    source) is two records; the value alone without a system (or under
    :data:`RECORD_ID_SYSTEM`, the platform's own answer posted back). Errors at ``pointer``: a
    system that is not an absolute URI, a value without a system that would read as one, an id
    longer than the native one."""
    if system == RECORD_ID_SYSTEM:
        system = None
    if system is not None and not _SYSTEM.fullmatch(system):
        errors.add(pointer, "the identifier's system must be an absolute URI (no space, no '|')")
        return value
    record_id = value if system is None else f"{system}|{value}"
    if system is None and source_identifier(value)["system"] != RECORD_ID_SYSTEM:
        errors.add(pointer, "a value without a system must not read as system|value")
    if len(record_id) > RECORD_ID_MAX:
        errors.add(
            pointer,
            f"the identifier (system|value together) is at most {RECORD_ID_MAX} characters",
        )
    return record_id


def source_identifier(record_id: str) -> dict[str, str]:
    """The source's identifier of a native record id, as :func:`source_record_id` made it:
    its own ``system`` and ``value``, or the id under :data:`RECORD_ID_SYSTEM`."""
    system, bar, value = record_id.partition("|")
    if bar and value and _SYSTEM.fullmatch(system):
        return {"system": system, "value": value}
    return {"system": RECORD_ID_SYSTEM, "value": record_id}


def record_id_of(resource: Mapping[str, Any], record_id: str | None, errors: Errors) -> str | None:
    """The source's own id of a resource: the conditional interaction's (already
    ``system|value``), else its first identifier's system and value, else its logical id."""
    if record_id is not None:
        return record_id
    identifiers = resource.get("identifier")
    if isinstance(identifiers, list) and identifiers:
        first = identifiers[0]
        value = first.get("value") if isinstance(first, Mapping) else None
        if isinstance(value, str) and value:
            system = first.get("system")
            if system is not None and not isinstance(system, str):
                errors.add("/identifier/0/system", "must be a string (a URI)")
                return value
            return source_record_id(system, value, "/identifier/0", errors)
        if value is not None:
            errors.add("/identifier/0/value", "must be the source's id (a string)")
            return ""
    return text_of(resource.get("id"))


def object_at(
    container: Mapping[str, Any], key: str, pointer: str, errors: Errors
) -> Mapping[str, Any]:
    """The member ``key`` of a FHIR element that must be an object ({} when absent); an error
    at ``pointer/key`` when it is something else (FHIR's grammar, not silently skipped)."""
    value = container.get(key)
    if isinstance(value, Mapping):
        return value
    if value is not None:
        errors.add(f"{pointer}/{key}", "must be an object")
    return {}


def objects_at(
    container: Mapping[str, Any], key: str, pointer: str, errors: Errors
) -> list[tuple[str, Mapping[str, Any]]]:
    """The member ``key`` that must be an array of objects ([] when absent), each with its
    pointer; an error at the member, or at each element that is not an object."""
    value = container.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        errors.add(f"{pointer}/{key}", "must be an array")
        return []
    found = []
    for i, element in enumerate(value):
        if isinstance(element, Mapping):
            found.append((f"{pointer}/{key}/{i}", element))
        else:
            errors.add(f"{pointer}/{key}/{i}", "must be an object")
    return found


def codes_at(
    container: Mapping[str, Any], key: str, pointer: str, errors: Errors
) -> set[tuple[str, str]]:
    """The (system, code) pairs of the CodeableConcept ``key``, its shape checked as
    :func:`object_at` and :func:`objects_at` do."""
    concept = object_at(container, key, pointer, errors)
    return {
        (str(coding.get("system")), str(coding.get("code")))
        for _at, coding in objects_at(concept, "coding", f"{pointer}/{key}", errors)
    }
