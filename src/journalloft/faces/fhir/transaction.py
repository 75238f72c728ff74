"""Writes through the FHIR face: a transaction Bundle (all or nothing, as the native batch), a
conditional PUT, a conditional DELETE. Each becomes one native ingest or withdraw, for any
provider: a provider says which resources are its records (``is_main``) and which are carried
as their members (``member_references``, ``member_types``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from journalloft.faces.fhir.common import (
    Errors,
    codes_at,
    information,
    objects_at,
    resource_id,
    source_record_id,
)
from journalloft.faces.fhir.ids import keys_of
from journalloft.faces.fhir.kit import Member, ResourceProvider
from journalloft.faces.fhir.resources import Served
from journalloft.platform.face import (
    BadRequest,
    Caller,
    FieldError,
    InvalidContent,
    Problem,
    Runtime,
    SharingService,
    Tenant,
    form_pairs,
    require_source_grant,
    sharing,
    source_access,
    source_accesses,
)

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
    """``system|value`` (or ``value``, or ``|value``: no system) of a conditional interaction:
    the source's own id, as the native record id (``common.source_record_id``)."""
    system, bar, value = token.partition("|")
    if not bar:
        system, value = "", token
    if not value:
        raise BadRequest(
            "identifier must be system|value",
            errors=[FieldError(pointer, "must be system|value: the source's own id")],
        )
    errors = Errors()
    record_id = source_record_id(system or None, value, pointer, errors)
    if errors.found:
        raise BadRequest("identifier must be system|value", errors=errors.found)
    return record_id


class _Entry:
    def __init__(
        self, index: int, resource: Mapping[str, Any], record_id: str | None, fullurl: Any
    ) -> None:
        self.index = index
        self.fullurl = fullurl
        self.resource = resource
        self.record_id = record_id
        self.provider: ResourceProvider | None = None
        """The provider whose record it is (its ``is_main``); None: a member of one."""
        self.parent: _Entry | None = None
        self.record: tuple[str, int] | None = None
        """Its record's service and place in that service's batch."""


def claim_error(kind: str, claimants: list[ResourceProvider], served: Served) -> str | None:
    """Why a resource of ``kind`` is no one provider's record (None: it is): two claim it, or
    none of several does (one provider of a type takes what it can and names the errors)."""
    names = " and ".join(p.service for p in served.get(kind, ()))
    if len(claimants) > 1:
        return (
            f"is claimed as a record by {' and '.join(p.service for p in claimants)}: a resource "
            "is one service's record; code it as one of them (see /fhir/metadata)"
        )
    if not claimants and len(served.get(kind, ())) > 1:
        return f"is the record of none of the services serving {kind} ({names}): see /fhir/metadata"
    return None


def _entries(document: Any, served: Served) -> tuple[list[_Entry], Errors]:
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
    members_only = served.member_only_types()
    entries: list[_Entry] = []
    for i, entry in enumerate(raw):
        at = f"/entry/{i}"
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        request = entry.get("request") if isinstance(entry, Mapping) else None
        if not isinstance(resource, Mapping):
            errors.add(at + "/resource", "is required")
            continue
        kind = str(resource.get("resourceType"))
        if kind in members_only:
            entries.append(_Entry(i, resource, None, entry.get("fullUrl")))
            continue
        if kind not in served:
            errors.add(
                at + "/resource/resourceType",
                f"must be one of {', '.join([*served, *members_only])}",
            )
            continue
        claimants = served.claimants(resource)
        if len(claimants) > 1:
            errors.add(at + "/resource", str(claim_error(kind, claimants, served)))
            continue
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
        found = _Entry(i, resource, record_id, entry.get("fullUrl"))
        found.provider = claimants[0] if claimants else None
        entries.append(found)
    if not entries and not errors.found:
        errors.add("/entry", f"holds no resource to store ({', '.join(served)})")
    errors.raise_if_any("no resource was stored: the Bundle is not valid")
    return entries, errors


Places = Mapping[str, tuple[str, Mapping[str, Any]]]
"""Resources a member reference may name, by reference, each with its place."""


def members_of(
    provider: ResourceProvider,
    resource: Mapping[str, Any],
    errors: Errors,
    elsewhere: Places | None = None,
) -> list[Member]:
    """The members a main resource's references name: resources ``contained`` in it (``#id``)
    or ``elsewhere`` (a Bundle's entries by ``fullUrl`` or ``<type>/<id>``), each with its place
    (``errors`` has the main resource's place as its prefix)."""
    contained = {
        "#" + c["id"]: (errors.prefix + at, c)
        for at, c in objects_at(resource, "contained", "", errors)
        if isinstance(c.get("id"), str)
    }
    found: list[Member] = []
    for at, reference in provider.member_references(resource, errors):
        named = (elsewhere or {}).get(reference) or contained.get(reference)
        found.append((at, None, "") if named is None else (at, named[1], named[0]))
    return found


def _unclaimed(kind: str, served: Served) -> str:
    """The error of an entry that is no record and no member of one."""
    carriers = [p for providers in served.values() for p in providers if kind in p.member_types]
    own = served.get(kind, ())
    if len(own) <= 1:
        return (carriers or list(own))[0].orphan_member
    said = dict.fromkeys(p.orphan_member for p in carriers)
    return "; ".join([str(claim_error(kind, [], served)), *said])


def _records(
    entries: list[_Entry], served: Served, errors: Errors
) -> dict[str, list[dict[str, Any]]]:
    """Each main entry's record, by service, with the entries and contained resources it
    references as its members; an entry that is neither a record nor a member is an error."""
    member_types = {kind for ps in served.values() for p in ps for kind in p.member_types}
    elsewhere: dict[str, tuple[str, Mapping[str, Any]]] = {}
    for entry in entries:
        kind = entry.resource.get("resourceType")
        if kind not in member_types:
            continue
        place = (f"/entry/{entry.index}/resource", entry.resource)
        if isinstance(entry.fullurl, str):
            elsewhere[entry.fullurl] = place
        if isinstance(entry.resource.get("id"), str):
            elsewhere[f"{kind}/{entry.resource['id']}"] = place
    by_resource = {id(e.resource): e for e in entries}
    records: dict[str, list[dict[str, Any]]] = {}
    for main in entries:
        provider = main.provider
        if provider is None:
            continue
        sub = Errors(f"/entry/{main.index}/resource")
        members = members_of(provider, main.resource, sub, elsewhere)
        for _at, member, _place in members:
            named = by_resource.get(id(member))
            if named is not None and named is not main and named.provider is None:
                named.parent = main
        batch = records.setdefault(provider.service, [])
        main.record = (provider.service, len(batch))
        batch.append(provider.record(main.resource, sub, members=members, record_id=main.record_id))
        errors.found += sub.found
    for entry in entries:
        if entry.provider is None and entry.parent is None:
            message = _unclaimed(str(entry.resource.get("resourceType")), served)
            errors.add(f"/entry/{entry.index}/resource", message)
    return records


def _translated(problem: InvalidContent, entries: list[_Entry], services: list[str]) -> None:
    """Point the native batches' errors (``/1/records/3/start``: the second service's fourth
    record) at the Bundle's elements."""
    at_record = {e.record: e for e in entries if e.record is not None}
    translated = []
    for error in problem.errors:
        parts = error.pointer.split("/")
        if len(parts) > 3 and parts[1].isdigit() and parts[2] == "records" and parts[3].isdigit():
            service = services[int(parts[1])]
            entry = at_record.get((service, int(parts[3])))
            field = parts[4] if len(parts) > 4 else ""
            if entry is not None and entry.provider is not None:
                place = entry.provider.field_paths.get(field, "")
                pointer = f"/entry/{entry.index}/resource{place}"
            else:
                pointer = "/entry"
            translated.append(
                FieldError(pointer, f"{field}: {error.message}" if field else error.message)
            )
        else:
            translated.append(FieldError("/entry", error.message))
    problem.errors = translated


def logical_id(
    runtime: Runtime, tenant: Tenant, provider: ResourceProvider, record: Mapping[str, Any]
) -> str:
    """The logical id a read and a search give the resource of ``provider``'s stored
    ``record``."""
    return keys_of(runtime.settings).public_id(
        tenant.kommunenummer,
        record["patient"],
        resource_id(tenant.kommunenummer, record["patient"], record["id"]),
        service=provider.service,
    )


def store_bundle(
    runtime: Runtime, caller: Caller, tenant: Tenant, served: Served, document: Any
) -> dict[str, Any]:
    """A transaction Bundle: every resource stored, or none (``transaction-response``); each
    record in its own service (the provider that claims it), all in one unit of work."""
    entries, errors = _entries(document, served)
    services = list(dict.fromkeys(e.provider.service for e in entries if e.provider))
    accesses = (
        source_accesses(runtime, caller, tenant, [served.services[s] for s in services])
        if services
        else []
    )
    records = _records(entries, served, errors)
    errors.raise_if_any("no resource was stored: the Bundle has invalid resources")
    try:
        stored = sharing.ingest_together(
            runtime,
            [
                (access, {"records": records[s]})
                for s, access in zip(services, accesses, strict=True)
            ],
        )
    except InvalidContent as problem:
        _translated(problem, entries, services)
        raise
    counts = dict(zip(services, stored, strict=True))
    answers = []
    for entry in entries:
        owner = entry.parent or entry
        assert owner.record is not None
        assert owner.provider is not None
        service, index = owner.record
        outcome = counts[service].outcomes[index]
        record = records[service][index]
        provider = owner.provider
        response: dict[str, Any] = {"status": STATUS[outcome]}
        kind = entry.resource.get("resourceType")
        if provider.member_note is not None and kind != provider.resource_type:
            said = SAID[outcome].split(":")[0]
            answers.append(
                {
                    "response": {
                        "status": "200 OK",
                        "outcome": information(f"{provider.member_note}: {said}"),
                    }
                }
            )
            continue
        if entry is owner:
            response["location"] = (
                f"{provider.resource_type}/{logical_id(runtime, tenant, provider, record)}"
            )
        response["outcome"] = information(SAID[outcome])
        answers.append({"response": response})
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": answers}


@dataclass(frozen=True)
class Stored:
    """What became of a conditional update: its status, outcome, logical id and version."""

    status: int
    outcome: str
    logical_id: str
    version: str | None
    """The version stored (the native ``updated`` as microseconds since 1970): None when this
    one was stale (a newer version, unknown here, is stored)."""
    resource: dict[str, Any]


def store_one(
    runtime: Runtime,
    caller: Caller,
    tenant: Tenant,
    served: Served,
    resource_type: str,
    document: Any,
    identifier: str,
) -> Stored:
    """A conditional PUT ``{type}?identifier=system|value``: the resource stored as the
    source's record ``value`` (201 created, 200 otherwise), with the members it contains, in the
    service of the one provider that claims it."""
    value = identifier_value(identifier, "/identifier")
    errors = Errors()
    if not isinstance(document, Mapping) or document.get("resourceType") != resource_type:
        errors.add("/resourceType", f"must be {resource_type}")
        errors.raise_if_any("the body is not the resource the URL names")
    claimants = served.claimants(document)
    refused = claim_error(resource_type, claimants, served)
    if refused is not None:
        errors.add("", f"the {resource_type} {refused}")
        if not claimants:  # the services of one type tell their records apart by the code
            codes_at(document, "code", "", errors)
        errors.raise_if_any("the resource was not stored: no one service's record")
    provider = claimants[0] if claimants else served.providers(resource_type)[0]
    access = source_access(runtime, caller, tenant, served.services[provider.service])
    members = members_of(provider, document, errors)
    record = provider.record(document, errors, members=members, record_id=value)
    errors.raise_if_any("the resource was not stored: it is not valid")
    try:
        counts = sharing.ingest(runtime, access, {"records": [record]})
    except InvalidContent as problem:
        problem.errors = [
            FieldError(
                provider.field_paths.get(e.pointer.split("/")[3], "")
                if e.pointer.count("/") >= 3
                else "",
                e.message,
            )
            for e in problem.errors
        ]
        raise
    outcome = counts.outcomes[0]
    stored = dict(document)
    stored["id"] = logical_id(runtime, tenant, provider, record)
    return Stored(
        status=201 if outcome == "created" else 200,
        outcome=outcome,
        logical_id=stored["id"],
        version=None if outcome == "stale" else _version(record.get("updated")),
        resource=stored,
    )


def _version(updated: Any) -> str | None:
    try:
        moment = (
            updated
            if isinstance(updated, datetime)
            else datetime.fromisoformat(str(updated).replace("Z", "+00:00"))
        )
        return str(int(moment.timestamp() * 1_000_000))
    except (ValueError, OverflowError):
        return None


def withdraw_one(
    runtime: Runtime,
    caller: Caller,
    tenant: Tenant,
    served: Served,
    resource_type: str,
    identifier: str,
) -> None:
    """A conditional DELETE: the source's record withdrawn from the service that holds it,
    among those serving ``resource_type`` that the source may write (404 if none holds it; 422
    if two do, nothing withdrawn: never a guess)."""
    value = identifier_value(identifier, "/identifier")
    services = [served.services[s] for s in dict.fromkeys(p.service for p in served[resource_type])]
    granted: list[SharingService] = []
    refusals: list[Problem] = []
    for service in services:
        try:
            require_source_grant(caller, tenant, service)
        except Problem as problem:
            refusals.append(problem)
        else:
            granted.append(service)
    if not granted:
        raise refusals[0]
    accesses = source_accesses(runtime, caller, tenant, granted)
    try:
        sharing.withdraw_one_of(runtime, accesses, value)
    except InvalidContent as problem:
        if problem.errors and problem.errors[0].pointer == "/record_id":
            problem.errors = [FieldError("/identifier", e.message) for e in problem.errors]
        raise
