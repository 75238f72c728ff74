"""Writes through the FHIR face: a transaction Bundle (all or nothing, as the native batch), a
conditional PUT, a conditional DELETE. Each becomes one native ingest or withdraw."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from journalloft.faces.fhir import episode, news2
from journalloft.faces.fhir.common import Errors, information, resource_id
from journalloft.faces.fhir.resources import Binding
from journalloft.platform.caller import Caller
from journalloft.platform.errors import BadRequest, FieldError, InvalidContent, Problem
from journalloft.platform.operations import sharing
from journalloft.platform.operations.access import source_access
from journalloft.platform.runtime import Runtime
from journalloft.platform.service_protocol import SharingService
from journalloft.platform.strings import form_pairs
from journalloft.platform.tenancy import Tenant

UNIT: Final = "Organization"
"""A transaction may carry the Organization an EpisodeOfCare names as managingOrganization (as
the OKT IG's examples do): it is read as the service's unit, not stored as a resource."""
STATUS: Final = {
    "created": "201 Created",
    "updated": "200 OK",
    "unchanged": "200 OK",
    "stale": "200 OK",
}
SAID: Final = {
    "created": "created",
    "updated": "updated: this version replaces the one stored",
    "unchanged": "unchanged: this version is already stored",
    "stale": "stale: a newer version (by meta.lastUpdated) is stored; this one was ignored",
}


def identifier_value(token: str, pointer: str) -> str:
    """``system|value`` (or ``value``) of a conditional interaction: the source's own id."""
    _system, bar, value = token.partition("|")
    value = value if bar else token
    if not value:
        raise BadRequest(
            "identifier must be system|value",
            errors=[FieldError(pointer, "must be system|value: the source's own id")],
        )
    return value


class _Entry:
    def __init__(
        self, index: int, resource: Mapping[str, Any], record_id: str | None, fullurl: Any
    ) -> None:
        self.index = index
        self.fullurl = fullurl
        self.resource = resource
        self.record_id = record_id
        self.parent: _Entry | None = None
        self.record_index: int | None = None


def _entries(
    document: Any, bindings: Mapping[str, Binding]
) -> tuple[list[_Entry], Binding | None, Errors]:
    errors = Errors()
    if not isinstance(document, Mapping) or document.get("resourceType") != "Bundle":
        errors.add("/resourceType", "must be Bundle")
        errors.raise_if_any("the body is not a FHIR Bundle")
    if document.get("type") != "transaction":
        errors.add("/type", "must be transaction (all or nothing)")
    raw = document.get("entry")
    if not isinstance(raw, list) or not raw:
        errors.add("/entry", "must hold the resources to store")
        errors.raise_if_any("no resource was stored: the Bundle is not valid")
    entries: list[_Entry] = []
    kinds: set[str] = set()
    for i, entry in enumerate(raw):
        at = f"/entry/{i}"
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        request = entry.get("request") if isinstance(entry, Mapping) else None
        if not isinstance(resource, Mapping):
            errors.add(at + "/resource", "is required")
            continue
        kind = resource.get("resourceType")
        binding = bindings.get(str(kind))
        if kind == UNIT and "EpisodeOfCare" in bindings:
            entries.append(_Entry(i, resource, None, entry.get("fullUrl")))
            continue
        if binding is None:
            served = [*bindings, UNIT] if "EpisodeOfCare" in bindings else list(bindings)
            errors.add(at + "/resource/resourceType", f"must be one of {', '.join(served)}")
            continue
        kinds.add(binding.service)
        method = request.get("method") if isinstance(request, Mapping) else None
        url = request.get("url") if isinstance(request, Mapping) else None
        if method not in ("PUT", "POST") or not isinstance(url, str):
            errors.add(
                at + "/request",
                "must be PUT or POST with its url (withdraw a resource with a conditional DELETE)",
            )
            continue
        record_id = None
        _path, question, query = url.partition("?")
        if question:
            # decoded as the query string of a conditional PUT is: one decoder, one source id
            try:
                condition = form_pairs(query, prefix="")
            except Problem as problem:
                for error in problem.errors:
                    errors.add(at + "/request/url", error.message)
                continue
            if len(condition) != 1 or condition[0][0] != "identifier":
                errors.add(at + "/request/url", "a condition must be identifier=system|value")
                continue
            record_id = identifier_value(condition[0][1], at + "/request/url")
        entries.append(_Entry(i, resource, record_id, entry.get("fullUrl")))
    if len(kinds) > 1:
        errors.add("/entry", "one Bundle stores the resources of one sharing service")
    if not kinds and not errors.found:
        errors.add("/entry", f"holds no resource to store ({', '.join(bindings)})")
    errors.raise_if_any("no resource was stored: the Bundle is not valid")
    service = next(iter(kinds))
    binding = next(b for b in bindings.values() if b.service == service)
    return entries, binding, errors


def _records(entries: list[_Entry], binding: Binding, errors: Errors) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    mains = entries
    if binding.service == "news2":
        elsewhere: dict[str, tuple[str, Mapping[str, Any]]] = {}
        for entry in entries:
            place = (f"/entry/{entry.index}/resource", entry.resource)
            if isinstance(entry.fullurl, str):
                elsewhere[entry.fullurl] = place
            if isinstance(entry.resource.get("id"), str):
                elsewhere[f"Observation/{entry.resource['id']}"] = place
        by_resource = {id(e.resource): e for e in entries}
        mains = [e for e in entries if news2.is_news2(e.resource)]
        for main in mains:
            sub = Errors(f"/entry/{main.index}/resource")
            members = news2.members_of(main.resource, sub, elsewhere)
            for _at, member, _place in members:
                named = by_resource.get(id(member))
                if named is not None and named is not main:
                    named.parent = main
            main.record_index = len(records)
            records.append(
                binding.record(main.resource, sub, members=members, record_id=main.record_id)
            )
            errors.found += sub.found
        for entry in entries:
            if entry not in mains and entry.parent is None:
                errors.add(
                    f"/entry/{entry.index}/resource",
                    "a vital sign must be a member (hasMember) of a NEWS2 Observation "
                    "(SNOMED CT 1104051000000101) of this Bundle",
                )
    else:
        units: dict[str, _Entry] = {}
        for entry in entries:
            if entry.resource.get("resourceType") == UNIT:
                if isinstance(entry.fullurl, str):
                    units[entry.fullurl] = entry
                if isinstance(entry.resource.get("id"), str):
                    units[f"{UNIT}/{entry.resource['id']}"] = entry
        for entry in entries:
            if entry.resource.get("resourceType") == UNIT:
                continue
            sub = Errors(f"/entry/{entry.index}/resource")
            entry.record_index = len(records)
            managing = entry.resource.get("managingOrganization")
            reference = managing.get("reference") if isinstance(managing, Mapping) else None
            unit = units.get(str(reference))
            if unit is not None:
                unit.parent = entry
            records.append(
                binding.record(
                    entry.resource,
                    sub,
                    record_id=entry.record_id,
                    unit=None if unit is None else unit.resource,
                )
            )
            errors.found += sub.found
        for entry in entries:
            if entry.resource.get("resourceType") == UNIT:
                episode.check_organization(entry.resource, f"/entry/{entry.index}/resource", errors)
            if entry.resource.get("resourceType") == UNIT and entry.parent is None:
                errors.add(
                    f"/entry/{entry.index}/resource",
                    "an Organization is taken only as the unit (managingOrganization) of an "
                    "EpisodeOfCare of this Bundle",
                )
    return records


def _translated(problem: InvalidContent, entries: list[_Entry], binding: Binding) -> None:
    """Point a native batch's errors (``/records/3/start``) at the Bundle's elements."""
    at_record = {e.record_index: e.index for e in entries if e.record_index is not None}
    translated = []
    for error in problem.errors:
        parts = error.pointer.split("/")
        if len(parts) > 2 and parts[1] == "records" and parts[2].isdigit():
            entry = at_record.get(int(parts[2]))
            field = parts[3] if len(parts) > 3 else ""
            place = binding.field_paths.get(field, "")
            pointer = f"/entry/{entry}/resource{place}" if entry is not None else "/entry"
            translated.append(
                FieldError(pointer, f"{field}: {error.message}" if field else error.message)
            )
        else:
            translated.append(FieldError("/entry", error.message))
    problem.errors = translated


def store_bundle(
    runtime: Runtime,
    caller: Caller,
    tenant: Tenant,
    bindings: Mapping[str, Binding],
    services: Mapping[str, SharingService],
    document: Any,
) -> dict[str, Any]:
    """A transaction Bundle: every resource stored, or none (``transaction-response``)."""
    entries, binding, errors = _entries(document, bindings)
    assert binding is not None
    access = source_access(runtime, caller, tenant, services[binding.service])
    records = _records(entries, binding, errors)
    errors.raise_if_any("no resource was stored: the Bundle has invalid resources")
    try:
        counts = sharing.ingest(runtime, access, {"records": records})
    except InvalidContent as problem:
        _translated(problem, entries, binding)
        raise
    answers = []
    for entry in entries:
        owner = entry.parent or entry
        assert owner.record_index is not None
        outcome = counts.outcomes[owner.record_index]
        record = records[owner.record_index]
        response: dict[str, Any] = {"status": STATUS[outcome]}
        if entry.resource.get("resourceType") == UNIT:
            answers.append(
                {
                    "response": {
                        "status": "200 OK",
                        "outcome": information(
                            "taken as the unit (whom to call) of the EpisodeOfCare that "
                            f"references it: {SAID[outcome].split(':')[0]}"
                        ),
                    }
                }
            )
            continue
        if entry is owner:
            response["location"] = (
                f"{binding.resource_type}/"
                f"{resource_id(tenant.kommunenummer, record['patient'], record['id'])}"
            )
        response["outcome"] = information(SAID[outcome])
        answers.append({"response": response})
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": answers}


def store_one(
    runtime: Runtime,
    caller: Caller,
    tenant: Tenant,
    binding: Binding,
    service: SharingService,
    document: Any,
    identifier: str,
    *,
    prefer_outcome: bool = False,
) -> tuple[int, dict[str, Any]]:
    """A conditional PUT ``{type}?identifier=system|value``: the resource stored as the
    source's record ``value`` (201 created, 200 otherwise). The answer is the resource with its
    logical id, or (``Prefer: return=OperationOutcome``) what became of it: created, updated,
    unchanged or stale."""
    value = identifier_value(identifier, "/identifier")
    errors = Errors()
    if not isinstance(document, Mapping) or document.get("resourceType") != binding.resource_type:
        errors.add("/resourceType", f"must be {binding.resource_type}")
        errors.raise_if_any("the body is not the resource the URL names")
    access = source_access(runtime, caller, tenant, service)
    members = news2.members_of(document, errors) if binding.service == "news2" else []
    record = binding.record(document, errors, members=members, record_id=value)
    errors.raise_if_any("the resource was not stored: it is not valid")
    try:
        counts = sharing.ingest(runtime, access, {"records": [record]})
    except InvalidContent as problem:
        problem.errors = [
            FieldError(
                binding.field_paths.get(e.pointer.split("/")[3], "")
                if e.pointer.count("/") >= 3
                else "",
                e.message,
            )
            for e in problem.errors
        ]
        raise
    outcome = counts.outcomes[0]
    status = 201 if outcome == "created" else 200
    if prefer_outcome:
        return status, information(SAID[outcome])
    stored = dict(document)
    stored["id"] = resource_id(tenant.kommunenummer, record["patient"], record["id"])
    return status, stored


def withdraw_one(
    runtime: Runtime, caller: Caller, tenant: Tenant, service: SharingService, identifier: str
) -> None:
    """A conditional DELETE: the source's record withdrawn (404 if it has none)."""
    value = identifier_value(identifier, "/identifier")
    access = source_access(runtime, caller, tenant, service)
    sharing.withdraw(runtime, access, value)
