"""NHN's OKT prototype API ("Oversikt over kommunale tjenester"): a face of kommunale-tjenester
alone, so it lives in the service's package and is found as a face (entry point
``journalloft.faces``) like any other.

``POST /okt/okt-events`` takes an ``OktEvent``: a person and the list of services a journal
system holds for them. OktMessages carry no id of their own, so the only honest reading is a
snapshot: the list replaces what this source sent for this person before (through the OKT face;
records it sent with its own ids natively are not touched). ``GET /okt/okt-events/{pid}`` and
``GET /okt/okt-status/{pid}`` answer from every municipality that granted the client the
service, as the native lookup does; the same calls take the person in a ``person-id`` header
(NHN's convention), and production can turn the path form off (``OKT_PERSON_IN_PATH``). A
municipality that did not answer is named under ``refused``, and ``oktStatus`` is then never a
silent ``0`` (docs/okt.md).

| OktMessage                          | native record / result                               |
| ----------------------------------- | ---------------------------------------------------- |
| iplosCode.iplosCodeValue ("02")     | service_code ("2"; answered zero-padded, "02")       |
| iplosCode.iplosCodeDescription,     | answered from the 9151 table (the OKT IG's display,  |
| iplosCodeLevel, iplosParentCode     | level and parent); not kept on input                 |
| startDate, endDate                  | start, end                                           |
| serviceDescription                  | description                                          |
| serviceLevel (the delivering unit)  | unit.name                                            |
| stayType                            | stay_type (dagopphold, korttidsopphold)              |
| temporaryCessation                  | temporary_cessation                                  |
| weeklyExtent                        | weekly_extent (free text)                            |
| needsCaption                        | not stored (no native field): accepted, not answered |

NHN writes an absent value as ``""``: a blank field is read as absent, and the answer carries
every field NHN's answers carry, an absent one as ``""``, and the ``kommunenummer`` of the
municipality that holds the message (a field the prototype does not have; docs/okt.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Annotated, Any, Final

import orjson
from fastapi import APIRouter, Header, Path
from starlette.concurrency import run_in_threadpool

from journalloft.plugin import faces
from journalloft.services.kommunale_tjenester.codes import service_type

PREFIX: Final = "/okt"
SERVICE: Final = "kommunale-tjenester"
ID_PREFIX: Final = "okt:"
KOMMUNE_HEADER: Final = "kommunenummer"
STATUS_UNKNOWN: Final = -1
"""``oktStatus`` when no municipality that answered has an active service and at least one did
not answer (named under ``refused``): not known, where ``0`` would say "none"."""
MAX_MESSAGES: Final = 1000
"""The most services one OktEvent may list, as a native batch's records: checked before any is
read, so that the work on the event loop does not grow with what was sent."""

_FIELDS: Final = {
    "service_code": "/iplosCode/iplosCodeValue",
    "start": "/startDate",
    "end": "/endDate",
    "description": "/serviceDescription",
    "stay_type": "/stayType",
    "temporary_cessation": "/temporaryCessation",
    "weekly_extent": "/weeklyExtent",
    "unit": "/serviceLevel",
}
_STORED: Final = {
    "startDate",
    "endDate",
    "serviceDescription",
    "serviceLevel",
    "stayType",
    "temporaryCessation",
    "weeklyExtent",
}
"""The OktMessage fields the platform keeps (besides ``iplosCode.iplosCodeValue``): the record's
id is made from these, so a field the platform does not keep cannot make a message new."""
_ACCEPTED: Final = {
    "iplosCode",
    "startDate",
    "endDate",
    "needsCaption",
    "serviceDescription",
    "serviceLevel",
    "stayType",
    "temporaryCessation",
    "weeklyExtent",
}

PersonHeader = Annotated[str | None, Header(alias="person-id")]
KommuneHeader = Annotated[str | None, Header(alias=KOMMUNE_HEADER)]
PersonPath = Annotated[str, Path(min_length=1, max_length=32)]


def _present(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields that carry a value: NHN serialises an absent value as ``""``, so a blank
    string is read as absent (never stored, and never served as an empty FHIR value)."""
    return {
        name: value
        for name, value in fields.items()
        if not (value is None or (isinstance(value, str) and not value.strip()))
    }


def _record(message: Mapping[str, Any], person: str, now: str) -> dict[str, Any]:
    """The native record of one OktMessage; its id is made from the person and the message's
    values (a blank field is the same as an absent one), so that the same message again is the
    same record."""
    given = _present(message)
    iplos = given.get("iplosCode")
    if isinstance(iplos, Mapping):
        given["iplosCode"] = iplos = _present(iplos)
    record: dict[str, Any] = {
        "patient": person,
        "updated": now,
        "start": given.get("startDate"),
        "end": given.get("endDate"),
        "temporary_cessation": given.get("temporaryCessation", False),
    }
    if isinstance(iplos, Mapping):
        record["service_code"] = iplos.get("iplosCodeValue")
    for okt, native in (
        ("serviceDescription", "description"),
        ("stayType", "stay_type"),
        ("weeklyExtent", "weekly_extent"),
    ):
        if okt in given:
            record[native] = given[okt]
    if "serviceLevel" in given:
        record["unit"] = {"name": given["serviceLevel"]}
    stored = {name: given[name] for name in given if name in _STORED}
    if isinstance(iplos, Mapping):
        stored["iplosCode"] = {"iplosCodeValue": iplos.get("iplosCodeValue")}
    fingerprint = hashlib.sha256(
        orjson.dumps([person, stored], option=orjson.OPT_SORT_KEYS)
    ).hexdigest()[:32]
    record["id"] = ID_PREFIX + fingerprint
    return record


def _event_errors(event: Any) -> list[faces.FieldError]:
    errors: list[faces.FieldError] = []
    if not isinstance(event, Mapping):
        return [faces.FieldError("", "must be an OktEvent object")]
    if not isinstance(event.get("personIdentifier"), str):
        errors.append(faces.FieldError("/personIdentifier", "is required: the person's id"))
    messages = event.get("oktMessages")
    if not isinstance(messages, list):
        errors.append(
            faces.FieldError("/oktMessages", "is required: the person's services (a list)")
        )
        return errors
    if len(messages) > MAX_MESSAGES:
        errors.append(
            faces.FieldError(
                "/oktMessages", f"has {len(messages)} services; at most {MAX_MESSAGES}"
            )
        )
        return errors
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            errors.append(faces.FieldError(f"/oktMessages/{i}", "must be an OktMessage object"))
            continue
        for name in message:
            if name not in _ACCEPTED:
                errors.append(
                    faces.FieldError(f"/oktMessages/{i}/{name}", "is not an OktMessage field")
                )
        if not isinstance(message.get("iplosCode"), Mapping):
            errors.append(
                faces.FieldError(f"/oktMessages/{i}/iplosCode", "is required: the IPLOS/9151 code")
            )
    return errors


def _translated(problem: faces.InvalidContent) -> None:
    out = []
    for error in problem.errors:
        parts = error.pointer.split("/")
        if len(parts) > 2 and parts[1] == "records" and parts[2].isdigit():
            field = parts[3] if len(parts) > 3 else ""
            place = "/personIdentifier" if field == "patient" else None
            if place is None:
                place = f"/oktMessages/{parts[2]}{_FIELDS.get(field, '')}"
            out.append(faces.FieldError(place, error.message))
        else:
            out.append(faces.FieldError("/oktMessages", error.message))
    problem.errors = out


def _writable(runtime: faces.Runtime, client_id: str, kommunenummer: str | None) -> str:
    if kommunenummer is not None:
        return kommunenummer
    sources = [t for t in runtime.tenants.all() if t.may_write(client_id, SERVICE)]
    if not sources:
        raise faces.Forbidden(
            f"no municipality has granted this client to write {SERVICE}",
            title="No grant from any municipality",
        )
    if len(sources) > 1:
        raise faces.BadRequest(
            f"this client is a source for several municipalities: name one in the "
            f"{KOMMUNE_HEADER} header",
            errors=[faces.FieldError(f"/headers/{KOMMUNE_HEADER}", "is required")],
        )
    return sources[0].kommunenummer


def _padded(code: str) -> str:
    return code.zfill(2)


def _message(entry: Mapping[str, Any]) -> dict[str, Any]:
    """One service as NHN's prototype answers it: every field present, an absent one as ``""``;
    ``iplosCode`` enriched from the IPLOS code system (its display, level and parent)."""
    found = service_type(entry["service_code"])
    unit = entry.get("unit") or {}
    return {
        "iplosCode": {
            "iplosCodeValue": _padded(entry["service_code"]),
            "iplosCodeDescription": found.display if found else entry["service_name"],
            "iplosCodeLevel": found.level if found else "",
            "iplosParentCode": found.parent if found else "",
        },
        "startDate": _text(entry["start"]),
        "endDate": _text(entry.get("end")),
        "serviceDescription": entry.get("description") or "",
        "serviceLevel": unit.get("name") or "",
        "stayType": entry.get("stay_type") or "",
        "temporaryCessation": entry["temporary_cessation"],
        "weeklyExtent": entry.get("weekly_extent") or "",
    }


def _text(value: Any) -> str:
    return "" if value is None else str(value)


# Parsing: the request's person, municipality and event, refused with a clear 4xx.


def _person_of(header: str | None) -> str:
    if not header:
        raise faces.BadRequest(
            "name the person in the person-id header",
            errors=[faces.FieldError("/headers/person-id", "is required")],
        )
    return header


def _path_allowed(runtime: faces.Runtime) -> None:
    if not runtime.settings.okt_person_in_path:
        raise faces.NotFound(
            "this platform takes the person in the person-id header, not in the path",
            title="Person in the path is turned off",
        )


async def _source_tenant(
    runtime: faces.Runtime, client_id: str, kommune: str | None
) -> faces.Tenant:
    """The municipality this source writes to: the one named in the header, or the only one
    that granted it the service."""
    await runtime.tenants.refresh()
    kommunenummer = _writable(runtime, client_id, kommune)
    tenant = runtime.tenants.get(kommunenummer)
    if tenant is None:
        raise faces.NotFound(
            f"no municipality {kommunenummer} on this platform", title="Unknown tenant"
        )
    return tenant


def _snapshot_of(event: Any, now: str) -> tuple[str, list[dict[str, Any]]]:
    """The person an OktEvent is about and its messages as native records (422 if the event is
    not one)."""
    errors = _event_errors(event)
    if errors:
        raise faces.InvalidContent("the OktEvent is not valid", errors=errors)
    person: str = event["personIdentifier"]
    return person, [_record(m, person, now) for m in event["oktMessages"]]


# The operations: the same as the native API's, with their errors pointed at OKT's fields.


def _replace_snapshot(
    runtime: faces.Runtime,
    caller: faces.Caller,
    tenant: faces.Tenant,
    service: faces.SharingService,
    person: str,
    records: list[dict[str, Any]],
) -> tuple[Any, int]:
    """The person's records from this source through OKT, replaced (in a worker thread)."""
    access = faces.source_access(runtime, caller, tenant, service)
    try:
        return faces.sharing.replace_for_person(
            runtime, access, person, {"records": records}, id_prefix=ID_PREFIX
        )
    except faces.InvalidContent as problem:
        _translated(problem)
        raise


async def _services_of(
    runtime: faces.Runtime, caller: faces.Caller, service: faces.SharingService, person: str
) -> faces.sharing.LookupAnswer:
    """The native lookup of one person."""
    access = faces.reader_access(caller, service)
    try:
        return await faces.sharing.look_up(runtime, access, {"patients": [person]})
    except faces.InvalidContent as problem:
        problem.errors = [faces.FieldError("/person-id", e.message) for e in problem.errors]
        raise


# Rendering: the lookup's answer in OKT's words.


def _answer(person: str, found: faces.sharing.LookupAnswer, **fields: Any) -> faces.JSONResponse:
    """The OKT answer with what OKT has no words for: where the person is restricted, and
    which municipalities did not answer and why (the native ``refused``)."""
    body: dict[str, Any] = {"personIdentifier": person, **fields}
    restricted = [r["kommunenummer"] for r in found["results"] if r.get("restricted")]
    if restricted:
        body["restrictedIn"] = restricted
    if found.get("refused"):
        body["refused"] = found["refused"]
    return faces.JSONResponse(body)


def _event_answer(person: str, found: faces.sharing.LookupAnswer) -> faces.JSONResponse:
    """An OktEvent: every service of every municipality where the person is not restricted."""
    messages = [
        _message(s) | {KOMMUNE_HEADER: r["kommunenummer"]}
        for r in found["results"]
        if not r.get("restricted")
        for s in r["services"]
    ]
    return _answer(person, found, oktMessages=messages)


def _status_answer(person: str, found: faces.sharing.LookupAnswer) -> faces.JSONResponse:
    """How many active services; :data:`STATUS_UNKNOWN` rather than ``0`` when there are none
    and a municipality was not heard."""
    active = sum(r.get("active_count", 0) for r in found["results"] if not r.get("restricted"))
    if not active and found.get("refused"):
        active = STATUS_UNKNOWN
    return _answer(person, found, oktStatus=active)


def _stored_answer(kommunenummer: str, counts: Any, withdrawn: int) -> faces.JSONResponse:
    return faces.JSONResponse(
        {"kommunenummer": kommunenummer, **counts.as_dict(), "withdrawn": withdrawn}
    )


# The routes: each parses, calls one operation and renders.


def okt_router(services: Mapping[str, faces.SharingService]) -> APIRouter:
    router = APIRouter(tags=["NHN OKT prototype"])
    if SERVICE not in services:
        return router
    service = services[SERVICE]

    @router.post(PREFIX + "/okt-events", summary="A person's current services (a snapshot)")
    async def post_event(
        event: faces.JsonBody,
        caller: faces.CallerDep,
        runtime: faces.RuntimeDep,
        kommune: KommuneHeader = None,
    ) -> faces.JSONResponse:
        """The person's current list of services from this journal system: it replaces what
        this source sent for the person before through this API."""
        tenant = await _source_tenant(runtime, caller.client_id, kommune)
        person, records = _snapshot_of(event, caller.now.isoformat())
        counts, withdrawn = await run_in_threadpool(
            _replace_snapshot, runtime, caller, tenant, service, person, records
        )
        return _stored_answer(tenant.kommunenummer, counts, withdrawn)

    @router.get(PREFIX + "/okt-events", summary="A person's services (person-id header)")
    async def get_event(
        caller: faces.CallerDep, runtime: faces.RuntimeDep, person: PersonHeader = None
    ) -> faces.JSONResponse:
        pid = _person_of(person)
        return _event_answer(pid, await _services_of(runtime, caller, service, pid))

    @router.get(PREFIX + "/okt-events/{pid}", summary="A person's services (prototype's path)")
    async def get_event_in_path(
        pid: PersonPath, caller: faces.CallerDep, runtime: faces.RuntimeDep
    ) -> faces.JSONResponse:
        _path_allowed(runtime)
        return _event_answer(pid, await _services_of(runtime, caller, service, pid))

    @router.get(PREFIX + "/okt-status", summary="How many active services (person-id header)")
    async def get_status(
        caller: faces.CallerDep, runtime: faces.RuntimeDep, person: PersonHeader = None
    ) -> faces.JSONResponse:
        pid = _person_of(person)
        return _status_answer(pid, await _services_of(runtime, caller, service, pid))

    @router.get(PREFIX + "/okt-status/{pid}", summary="How many active services (prototype's path)")
    async def get_status_in_path(
        pid: PersonPath, caller: faces.CallerDep, runtime: faces.RuntimeDep
    ) -> faces.JSONResponse:
        _path_allowed(runtime)
        return _status_answer(pid, await _services_of(runtime, caller, service, pid))

    return router


face = faces.RoutedFace(name="okt", prefix=PREFIX, build=okt_router)
"""The OKT face, as the composition root finds it (entry point ``journalloft.faces``)."""
