"""Writes through the FHIR face: a transaction Bundle (all or nothing, as the native batch), a
conditional PUT, a conditional DELETE. Each becomes one native ingest or withdraw, for any
provider: a provider says which resources are its records (``is_main``) and which are carried
as their members (``member_references``, ``member_types``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from journalloft.faces.fhir.common import Errors, information, objects_at, resource_id
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
    sharing,
    source_access,
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


def _entries(document: Any, served: Served) -> tuple[list[_Entry], ResourceProvider, Errors]:
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
    kinds: dict[str, ResourceProvider] = {}
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
        provider = served.get(kind)
        if provider is None:
            errors.add(
                at + "/resource/resourceType",
                f"must be one of {', '.join([*served, *members_only])}",
            )
            continue
        kinds[provider.service] = provider
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
        errors.add("/entry", f"holds no resource to store ({', '.join(served)})")
    errors.raise_if_any("no resource was stored: the Bundle is not valid")
    return entries, next(iter(kinds.values())), errors


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


def _records(
    entries: list[_Entry], provider: ResourceProvider, errors: Errors
) -> list[dict[str, Any]]:
    """Each main entry's record, with the entries and contained resources it references as
    its members; an entry that is neither a record nor a member is an error."""
    elsewhere: dict[str, tuple[str, Mapping[str, Any]]] = {}
    for entry in entries:
        kind = entry.resource.get("resourceType")
        if kind not in provider.member_types:
            continue
        place = (f"/entry/{entry.index}/resource", entry.resource)
        if isinstance(entry.fullurl, str):
            elsewhere[entry.fullurl] = place
        if isinstance(entry.resource.get("id"), str):
            elsewhere[f"{kind}/{entry.resource['id']}"] = place
    by_resource = {id(e.resource): e for e in entries}
    records: list[dict[str, Any]] = []
    mains = [e for e in entries if provider.is_main(e.resource)]
    for main in mains:
        sub = Errors(f"/entry/{main.index}/resource")
        members = members_of(provider, main.resource, sub, elsewhere)
        for _at, member, _place in members:
            named = by_resource.get(id(member))
            if named is not None and named is not main:
                named.parent = main
        main.record_index = len(records)
        records.append(
            provider.record(main.resource, sub, members=members, record_id=main.record_id)
        )
        errors.found += sub.found
    for entry in entries:
        if entry not in mains and entry.parent is None:
            errors.add(f"/entry/{entry.index}/resource", provider.orphan_member)
    return records


def _translated(problem: InvalidContent, entries: list[_Entry], provider: ResourceProvider) -> None:
    """Point a native batch's errors (``/records/3/start``) at the Bundle's elements."""
    at_record = {e.record_index: e.index for e in entries if e.record_index is not None}
    translated = []
    for error in problem.errors:
        parts = error.pointer.split("/")
        if len(parts) > 2 and parts[1] == "records" and parts[2].isdigit():
            entry = at_record.get(int(parts[2]))
            field = parts[3] if len(parts) > 3 else ""
            place = provider.field_paths.get(field, "")
            pointer = f"/entry/{entry}/resource{place}" if entry is not None else "/entry"
            translated.append(
                FieldError(pointer, f"{field}: {error.message}" if field else error.message)
            )
        else:
            translated.append(FieldError("/entry", error.message))
    problem.errors = translated


def logical_id(runtime: Runtime, tenant: Tenant, record: Mapping[str, Any]) -> str:
    """The logical id a read and a search give the resource of a stored ``record``."""
    return keys_of(runtime.settings).public_id(
        tenant.kommunenummer,
        record["patient"],
        resource_id(tenant.kommunenummer, record["patient"], record["id"]),
    )


def store_bundle(
    runtime: Runtime, caller: Caller, tenant: Tenant, served: Served, document: Any
) -> dict[str, Any]:
    """A transaction Bundle: every resource stored, or none (``transaction-response``)."""
    entries, provider, errors = _entries(document, served)
    access = source_access(runtime, caller, tenant, served.services[provider.service])
    records = _records(entries, provider, errors)
    errors.raise_if_any("no resource was stored: the Bundle has invalid resources")
    try:
        counts = sharing.ingest(runtime, access, {"records": records})
    except InvalidContent as problem:
        _translated(problem, entries, provider)
        raise
    answers = []
    for entry in entries:
        owner = entry.parent or entry
        assert owner.record_index is not None
        outcome = counts.outcomes[owner.record_index]
        record = records[owner.record_index]
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
            response["location"] = f"{provider.resource_type}/{logical_id(runtime, tenant, record)}"
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
    provider: ResourceProvider,
    service: SharingService,
    document: Any,
    identifier: str,
) -> Stored:
    """A conditional PUT ``{type}?identifier=system|value``: the resource stored as the
    source's record ``value`` (201 created, 200 otherwise), with the members it contains."""
    value = identifier_value(identifier, "/identifier")
    errors = Errors()
    if not isinstance(document, Mapping) or document.get("resourceType") != provider.resource_type:
        errors.add("/resourceType", f"must be {provider.resource_type}")
        errors.raise_if_any("the body is not the resource the URL names")
    access = source_access(runtime, caller, tenant, service)
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
    stored["id"] = logical_id(runtime, tenant, record)
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
    runtime: Runtime, caller: Caller, tenant: Tenant, service: SharingService, identifier: str
) -> None:
    """A conditional DELETE: the source's record withdrawn (404 if it has none)."""
    value = identifier_value(identifier, "/identifier")
    access = source_access(runtime, caller, tenant, service)
    sharing.withdraw(runtime, access, value)
