"""The sharing operations of every service: ingest, withdraw and lookup.

Each is written once and called by every face (the HTTP API, the command line's demo, and any
face to come). They take an access from :mod:`.access` (who asks, checked), the input as the
client sent it, and the runtime; they return plain results and raise the platform's problems.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NotRequired, TypedDict

import orjson
import psycopg
from sqlalchemy import Connection, Select, and_, select
from starlette.concurrency import run_in_threadpool

from journalloft.platform.audit.log import (
    AuditUnavailable,
    audit_rows,
    record_access,
    record_reads,
)
from journalloft.platform.core.errors import (
    FieldError,
    Forbidden,
    InvalidContent,
    NotFound,
    Problem,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
)
from journalloft.platform.core.identifiers import person_id_errors
from journalloft.platform.core.instants import instant_errors
from journalloft.platform.core.tenancy import Tenant
from journalloft.platform.live.changes import data_change
from journalloft.platform.observability.metrics import LOOKUPS, PATIENTS_LOOKED_UP, count_ingest
from journalloft.platform.operations.access import (
    ReaderAccess,
    SourceAccess,
    admit_async,
    readable_tenants,
    require_attestation,
)
from journalloft.platform.operations.restrictions import RESTRICTED_AMONG, breaks_the_glass
from journalloft.platform.operations.units import in_unit_of_work, store_missing
from journalloft.platform.plugins.registry import ingest_schema_id
from journalloft.platform.plugins.service_protocol import (
    IngestContext,
    QueryContext,
    RecordRejected,
    SharingService,
)
from journalloft.platform.runtime import Runtime
from journalloft.platform.storage.query_path import StoreUnavailable
from journalloft.platform.storage.records import (
    IngestCounts,
    stored_row,
    upsert_records,
    withdraw_others,
    withdraw_record,
)
from journalloft.platform.storage.records import (
    visible as not_withdrawn,
)
from journalloft.platform.storage.statements import (
    PATIENTS,
    PER_ANSWER,
    PER_PERSON,
    bounded_lookup_marking,
)


class Refusal(TypedDict):
    kommunenummer: str
    reason: str


class LookupAnswer(TypedDict):
    """A lookup's answer: an entry per person and municipality with data (or ``restricted``),
    and the municipalities left out because the call does not meet their policy."""

    results: list[dict[str, Any]]
    refused: NotRequired[list[Refusal]]


def batch_rows(runtime: Runtime, access: SourceAccess, body: Any) -> list[dict[str, Any]]:
    """The rows of a valid batch; :class:`InvalidContent` with every violation of every record
    otherwise (the batch is all or nothing)."""
    service, tenant, caller = access.service, access.tenant, access.caller
    errors = runtime.schemas.errors(body, ingest_schema_id(service, envelope_only=True))
    if errors:
        raise InvalidContent("no record was stored: the batch is not valid", errors=errors)
    records: list[dict[str, Any]] = body["records"]
    context = IngestContext(
        kommunenummer=tenant.kommunenummer,
        source=caller.client_id,
        now=caller.now,
        settings=tenant.service_settings(service.name),
    )
    valid: list[tuple[int, dict[str, Any]]] = []
    for i, record in enumerate(records):
        record_errors = record_schema_errors(runtime, service, record, i=i, now=caller.now)
        errors += record_errors
        if not record_errors:
            valid.append((i, record))
    patients = [(i, record.get("patient")) for i, record in enumerate(records)]
    checkable = [
        (i, patient)
        for i, patient in patients
        if isinstance(patient, str)
        and not any(e.pointer == f"/records/{i}/patient" for e in errors)
    ]
    errors += person_id_errors(
        [patient for _, patient in checkable],
        allow_synthetic=bool(runtime.settings.allow_synthetic_ids),
        pointer=lambda n: f"/records/{checkable[n][0]}/patient",
    )
    rows = []
    for i, record in valid:
        try:
            values = service.prepare(record, context=context)
        except RecordRejected as rejected:
            errors += [e.at(f"/records/{i}") for e in rejected.errors]
            continue
        rows.append(
            stored_row(
                record, service_values=values, source=caller.client_id, received_at=caller.now
            )
        )
    if errors:
        errors.sort(key=lambda e: _record_index(e.pointer))
        raise InvalidContent("no record was stored: the batch has invalid records", errors=errors)
    return rows


PUSH_OUTCOMES = ("created", "updated", "unchanged", "stale")


def record_push(connection: Connection, access: SourceAccess, counts: IngestCounts) -> None:
    """A push's outcome in the audit log, for the usage report: one ``push`` event (no person)
    per outcome that happened, its count the records that had it; in the push's transaction."""
    for outcome in PUSH_OUTCOMES:
        n = getattr(counts, outcome)
        if n:
            record_access(
                connection,
                context=access.caller,
                action="push",
                service=access.service.name,
                patients=[(None, n)],
                outcome=outcome,
            )


def checked_batch(runtime: Runtime, access: SourceAccess, body: Any) -> list[dict[str, Any]]:
    """:func:`batch_rows`; a batch it refuses is counted in the audit log first (a
    ``push-refused`` event, no person, its outcome the problem's type, its count the batch's
    records) so that the usage report shows what sources get wrong."""
    try:
        return batch_rows(runtime, access, body)
    except InvalidContent as refusal:
        records = body.get("records") if isinstance(body, dict) else None
        sent = len(records) if isinstance(records, list) else 0
        slug = refusal.slug

        def count(connection: Connection) -> None:
            record_access(
                connection,
                context=access.caller,
                action="push-refused",
                service=access.service.name,
                patients=[(None, sent)],
                outcome=slug,
            )

        # the refusal is the answer either way: a store that cannot count it does not change it
        with contextlib.suppress(Problem):
            in_unit_of_work(runtime, access.tenant.kommunenummer, count)
        raise


def record_schema_errors(
    runtime: Runtime, service: SharingService, record: Any, *, i: int, now: datetime
) -> list[FieldError]:
    """A record's schema errors, where the platform's rules for instants and dates speak for
    every field the schema declares ``date-time`` or ``date`` (``platform/core/instants.py``): the
    same rules for every service, without a line of the service's own."""
    at = f"/records/{i}"
    errors = runtime.schemas.errors(record, service.record_schema, prefix=at)
    refused = instant_errors(
        runtime.schemas.formatted(record, service.record_schema), now=now, prefix=at
    )
    if not refused:
        return errors
    pointers = {e.pointer for e in refused}
    kept = [e for e in errors if e.pointer not in pointers]
    return sorted(kept + refused, key=lambda e: e.pointer)


def _record_index(pointer: str) -> int:
    parts = pointer.split("/")
    return int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else -1


def ingest(runtime: Runtime, access: SourceAccess, body: Any) -> IngestCounts:
    """Store a batch from a journal system: all or nothing, idempotent per (source, id), with
    a ``write`` audit event per person in the same transaction."""
    rows = checked_batch(runtime, access, body)
    [counts] = _store_batches(runtime, [(access, rows)])
    return counts


def ingest_together(
    runtime: Runtime, batches: Sequence[tuple[SourceAccess, Any]]
) -> list[IngestCounts]:
    """Several services' batches to one municipality in one request (a FHIR transaction that
    holds two services' resources), stored all or nothing in one unit of work, each as
    :func:`ingest` stores it (its audit events, its counts). :class:`InvalidContent` with every
    batch's errors, each pointer under the batch's index (``/1/records/3/start``), when any is
    not valid: then nothing is stored."""
    checked: list[tuple[SourceAccess, list[dict[str, Any]]]] = []
    errors: list[FieldError] = []
    refusals: list[str] = []
    for k, (access, body) in enumerate(batches):
        if access.tenant.kommunenummer != batches[0][0].tenant.kommunenummer:
            raise ValueError("the batches of one unit of work are one municipality's")
        try:
            checked.append((access, checked_batch(runtime, access, body)))
        except InvalidContent as refusal:
            errors += [FieldError(f"/{k}{e.pointer}", e.message) for e in refusal.errors]
            refusals.append(refusal.detail)
    if refusals:
        detail = refusals[0] if len(refusals) == 1 else "no record was stored: invalid records"
        raise InvalidContent(detail, errors=errors)
    return _store_batches(runtime, checked)


def _store_batches(
    runtime: Runtime, batches: Sequence[tuple[SourceAccess, list[dict[str, Any]]]]
) -> list[IngestCounts]:
    """Checked batches of one municipality stored in one unit of work."""

    def store(connection: Connection) -> list[IngestCounts]:
        stored = []
        for access, rows in batches:
            service, caller = access.service, access.caller
            counts = upsert_records(connection, service.table, source=caller.client_id, rows=rows)
            per_patient: dict[str, int] = {}
            for row in rows:
                per_patient[row["patient"]] = per_patient.get(row["patient"], 0) + 1
            record_access(
                connection,
                context=caller,
                action="write",
                service=service.name,
                patients=per_patient.items(),
            )
            record_push(connection, access, counts)
            stored.append(counts)
        return stored

    kommunenummer = batches[0][0].tenant.kommunenummer
    changed = [
        data_change(kommunenummer, access.service.name, p)
        for access, rows in batches
        for p in dict.fromkeys(r["patient"] for r in rows)
    ]
    stored = in_unit_of_work(runtime, kommunenummer, store, changes=lambda _: changed)
    for (access, _rows), counts in zip(batches, stored, strict=True):
        count_ingest(
            access.service.name,
            kommunenummer,
            ((k, v) for k, v in counts.as_dict().items() if k != "received"),
        )
    return stored


def replace_for_person(
    runtime: Runtime, access: SourceAccess, patient: str, body: Any, *, id_prefix: str
) -> tuple[IngestCounts, int]:
    """A snapshot of one person's records from this source: the batch is stored (all or
    nothing, as :func:`ingest`) and, in the same unit of work, the person's records from this
    source under ``id_prefix`` that the snapshot no longer holds are withdrawn. For faces whose
    messages carry no id of their own (NHN's OKT prototype): the batch's ids are made by the
    face, under its own prefix, so that no record sent with the source's own id is touched.

    An empty batch withdraws all of them: the person no longer has any.

    Returns the counts and how many records were withdrawn."""
    empty = isinstance(body, dict) and body.get("records") == []
    rows = [] if empty else checked_batch(runtime, access, body)
    if any(row["patient"] != patient for row in rows):
        raise InvalidContent(
            "a snapshot holds one person's records",
            errors=[FieldError("/records", "every record must be of the one person")],
        )
    service, caller = access.service, access.caller

    def store(connection: Connection) -> tuple[IngestCounts, int]:
        counts = upsert_records(connection, service.table, source=caller.client_id, rows=rows)
        withdrawn = withdraw_others(
            connection,
            service.table,
            source=caller.client_id,
            patient=patient,
            keep=[row["record_id"] for row in rows],
            id_prefix=id_prefix,
            now=caller.now,
        )
        if rows:
            record_access(
                connection,
                context=caller,
                action="write",
                service=service.name,
                patients=[(patient, len(rows))],
            )
            record_push(connection, access, counts)
        if withdrawn:
            record_access(
                connection,
                context=caller,
                action="withdraw",
                service=service.name,
                patients=[(patient, withdrawn)],
            )
        return counts, withdrawn

    change = data_change(access.tenant.kommunenummer, service.name, patient)
    return in_unit_of_work(
        runtime,
        access.tenant.kommunenummer,
        store,
        changes=lambda done: [change] if rows or done[1] else [],
    )


def withdraw(runtime: Runtime, access: SourceAccess, record_id: str) -> str:
    """Withdraw one record sent in error, by the source that sent it; the person's id (for the
    faces that tell subscribers), or :class:`NotFound`."""
    service, caller = access.service, access.caller

    def remove(connection: Connection) -> str | None:
        patient = withdraw_record(
            connection, service.table, source=caller.client_id, record_id=record_id, now=caller.now
        )
        if patient is not None:
            record_access(
                connection,
                context=caller,
                action="withdraw",
                service=service.name,
                patients=[(patient, 1)],
            )
        return patient

    _refuse_nul(record_id)
    kommunenummer = access.tenant.kommunenummer
    patient = in_unit_of_work(
        runtime,
        kommunenummer,
        remove,
        changes=lambda found: [data_change(kommunenummer, service.name, found)] if found else [],
    )
    if patient is None:
        raise NotFound("this source has no such record to withdraw", title="Unknown record")
    return patient


def _refuse_nul(record_id: str) -> None:
    if "\x00" in record_id:  # no record has one (bodies cannot), and PostgreSQL cannot compare it
        raise InvalidContent(
            "the record id is not valid",
            errors=[FieldError("/path/record_id", "contains U+0000 (NUL), which is not accepted")],
        )


def withdraw_one_of(
    runtime: Runtime, accesses: Sequence[SourceAccess], record_id: str
) -> tuple[SourceAccess, str]:
    """Withdraw the source's record ``record_id`` from the one of these services (of one
    municipality) that holds it: a FHIR conditional DELETE on a resource type two services
    serve. The access that held it and the person's id; :class:`NotFound` if none holds it,
    :class:`InvalidContent` (nothing withdrawn) if more than one does: never a guess."""
    caller = accesses[0].caller

    def remove(connection: Connection) -> tuple[SourceAccess, str] | None:
        held = []
        for access in accesses:
            table = access.service.table
            key = and_(
                table.c.source == caller.client_id,
                table.c.record_id == record_id,
                not_withdrawn(table),
            )
            found = connection.execute(
                select(table.c.patient).where(key).with_for_update()
            ).scalar_one_or_none()
            if found is not None:
                held.append(access)
        if len(held) > 1:
            names = " and ".join(a.service.name for a in held)
            raise InvalidContent(
                f"the record id names a record of this source in {names}: withdraw it in its "
                "service (DELETE /v1/tenants/{kommunenummer}/{service}/records/{id})",
                errors=[FieldError("/record_id", f"names a record in {names}")],
            )
        if not held:
            return None
        [access] = held
        patient = withdraw_record(
            connection,
            access.service.table,
            source=caller.client_id,
            record_id=record_id,
            now=caller.now,
        )
        assert patient is not None  # locked above
        record_access(
            connection,
            context=caller,
            action="withdraw",
            service=access.service.name,
            patients=[(patient, 1)],
        )
        return access, patient

    _refuse_nul(record_id)
    kommunenummer = accesses[0].tenant.kommunenummer
    done = in_unit_of_work(
        runtime,
        kommunenummer,
        remove,
        changes=lambda found: (
            [data_change(kommunenummer, found[0].service.name, found[1])] if found else []
        ),
    )
    if done is None:
        raise NotFound("this source has no such record to withdraw", title="Unknown record")
    return done


def newest_updated(fields: Any) -> datetime | None:
    """The newest ``updated`` instant anywhere in a person's result fields: every record a
    service returns carries the ``updated`` its source sent (``SharedRecord.updated``)."""
    newest: datetime | None = None
    stack = [fields]
    pop, push = stack.pop, stack.append
    while stack:
        value = pop()
        if type(value) is dict:
            found = value.get("updated")
            if type(found) is datetime and (newest is None or found > newest):
                newest = found
            for inner in value.values():
                if type(inner) is dict or type(inner) is list:
                    push(inner)
        elif type(value) is list:
            for inner in value:
                if type(inner) is dict or type(inner) is list:
                    push(inner)
    return newest


def data_ages(data: Mapping[str, Any], *, now: datetime) -> dict[str, int]:
    """Per person found, how old the newest data returned is, in whole seconds (never below 0):
    what the audit event records for the usage report's data age, never the instant itself."""
    ages: dict[str, int] = {}
    for patient, fields in data.items():
        newest = newest_updated(fields)
        if newest is not None:
            ages[patient] = max(0, int((now - newest).total_seconds()))
    return ages


def lookup_patients(runtime: Runtime, access: ReaderAccess, body: Any) -> list[str]:
    """The people of a valid query body, each once, in the order asked."""
    errors = runtime.schemas.errors(body, access.service.query_schema)
    if not errors:
        errors = person_id_errors(
            body["patients"],
            allow_synthetic=bool(runtime.settings.allow_synthetic_ids),
            pointer=lambda i: f"/patients/{i}",
        )
    if errors:
        raise InvalidContent("the query is not valid", errors=errors)
    return list(dict.fromkeys(body["patients"]))


async def look_up(runtime: Runtime, access: ReaderAccess, body: Any) -> LookupAnswer:
    """What the granting municipalities hold on up to 200 people.

    Without ``kommuner`` every municipality that granted the client the service is asked, and
    those whose policy (DPoP, attestation, rate limit) the call does not meet are named under
    ``refused``; a municipality named in ``kommuner`` that refuses, or none left to answer, makes
    the refusal the answer. Each municipality's audit events are committed before any data
    leaves.
    """
    [answer] = await look_up_several(runtime, [(access, body)])
    assert answer is not None  # one ask: its refusal is raised
    return answer


async def look_up_several(
    runtime: Runtime, asks: Sequence[tuple[ReaderAccess, Any]]
) -> list[LookupAnswer | None]:
    """Several services' lookups in one request (a FHIR search of a resource type that two
    services serve), each as :func:`look_up` with its own audit events, read concurrently; each
    municipality's policy is admitted once for the request (one count against its rate limit).

    An ask whose service no municipality has granted the client (or, named in ``kommuner``, has
    not adopted or granted) is answered None, unless every ask is: then the first one's refusal
    is the answer, as :func:`look_up`'s."""
    people = [lookup_patients(runtime, access, body) for access, body in asks]
    await runtime.tenants.refresh()
    caller = asks[0][0].caller
    readable: list[list[Tenant] | None] = []
    not_granted: list[Problem] = []
    for access, body in asks:
        try:
            readable.append(readable_tenants(runtime, access, body.get("kommuner")))
        except (Forbidden, NotFound) as problem:
            readable.append(None)
            not_granted.append(problem)
    if not_granted and len(not_granted) == len(asks):
        raise not_granted[0]
    admitted: dict[str, Problem | None] = {}
    for tenants in readable:
        for tenant in tenants or []:
            if tenant.kommunenummer in admitted:
                continue
            try:
                await admit_async(runtime, tenant, caller)
                require_attestation(tenant, caller)
            except (Unauthorized, Forbidden, RateLimited) as refusal:
                admitted[tenant.kommunenummer] = refusal
            else:
                admitted[tenant.kommunenummer] = None
    plans: list[tuple[int, list[Tenant], list[tuple[Tenant, Problem]]]] = []
    for i, ((_access, body), tenants) in enumerate(zip(asks, readable, strict=True)):
        if tenants is None:
            continue
        named = body.get("kommuner")
        targets: list[Tenant] = []
        refused: list[tuple[Tenant, Problem]] = []
        for tenant in tenants:
            why = admitted[tenant.kommunenummer]
            if why is None:
                targets.append(tenant)
            elif named is not None:
                raise why  # the caller asked for this municipality by name: its refusal
            else:
                refused.append((tenant, why))
        if not targets:
            raise refused[0][1]  # no municipality would answer: the first refusal is the answer
        plans.append((i, targets, refused))
    asked = [
        _look_up_or_unavailable(runtime, asks[i][0], tenant, patients=people[i], options=asks[i][1])
        for i, targets, _refused in plans
        for tenant in targets
    ]
    # one municipality (the usual case) is awaited here: a task of its own costs more than it
    found = [await asked[0]] if len(asked) == 1 else await asyncio.gather(*asked)
    answers: list[LookupAnswer | None] = [None] * len(asks)
    at = 0
    for i, targets, refused in plans:
        mine, at = found[at : at + len(targets)], at + len(targets)
        answers[i] = _answer(
            asks[i][0],
            asks[i][1].get("kommuner"),
            people[i],
            zip(targets, mine, strict=True),
            refused,
        )
    return answers


def _answer(
    access: ReaderAccess,
    named: list[str] | None,
    patients: list[str],
    found: Iterable[tuple[Tenant, dict[str, dict[str, Any]] | ServiceUnavailable | NotFound]],
    refused: list[tuple[Tenant, Problem]],
) -> LookupAnswer:
    """One ask's answer from what each municipality asked gave."""
    answered: list[tuple[Tenant, dict[str, dict[str, Any]]]] = []
    for tenant, per_patient in found:
        if isinstance(per_patient, Problem):
            if named is not None:
                raise per_patient  # asked for by name: its database being down is the answer
            if not isinstance(per_patient, NotFound):  # offboarded meanwhile: not asked at all
                refused.append((tenant, per_patient))
        else:
            answered.append((tenant, per_patient))
    if not answered:
        unavailable = [p for _, p in refused if isinstance(p, ServiceUnavailable)]
        if not unavailable:  # every municipality asked was offboarded meanwhile
            raise Forbidden(
                f"no municipality has granted this client to read {access.service.name}",
                title="No grant from any municipality",
            )
        raise unavailable[0]
    order = {p: i for i, p in enumerate(patients)}
    results = [
        {"patient": patient, "kommunenummer": tenant.kommunenummer, **fields}
        for tenant, per_patient in answered
        for patient, fields in per_patient.items()
    ]
    results.sort(key=lambda r: (order[r["patient"]], r["kommunenummer"]))
    answer: LookupAnswer = {"results": results}
    if refused:
        answer["refused"] = [
            {
                "kommunenummer": tenant.kommunenummer,
                "reason": DATABASE_UNAVAILABLE
                if isinstance(problem, ServiceUnavailable)
                else problem.detail,
            }
            for tenant, problem in refused
        ]
    return answer


DATABASE_UNAVAILABLE = "its database is unavailable"


async def _look_up_or_unavailable(
    runtime: Runtime,
    access: ReaderAccess,
    tenant: Tenant,
    *,
    patients: Sequence[str],
    options: Mapping[str, Any],
) -> dict[str, dict[str, Any]] | ServiceUnavailable | NotFound:
    """:func:`look_up_in`, or the 503 of a municipality whose store cannot be reached or cannot
    take its audit events (then nothing of it leaves), so the others still answer; or the 404
    of one offboarded while the lookup was on its way (its store gone)."""
    kommunenummer = tenant.kommunenummer
    try:
        return await look_up_in(runtime, access, tenant, patients=patients, options=options)
    except StoreUnavailable:
        return ServiceUnavailable(f"municipality {kommunenummer}: {DATABASE_UNAVAILABLE}")
    except (AuditUnavailable, psycopg.Error) as exc:
        # a table that is not there, or an audit write that failed (rare: it pages at once),
        # may be a store removed under this lookup: then the municipality is not onboarded
        if (isinstance(exc, AuditUnavailable) or store_missing(exc)) and await run_in_threadpool(
            runtime.tenants.offboarded, kommunenummer
        ):
            return NotFound(
                f"no municipality {kommunenummer} on this platform", title="Unknown tenant"
            )
        if isinstance(exc, AuditUnavailable):
            return exc
        raise


async def look_up_in(
    runtime: Runtime,
    access: ReaderAccess,
    tenant: Tenant,
    *,
    patients: Sequence[str],
    options: Mapping[str, Any],
) -> dict[str, dict[str, Any]]:
    """One municipality's part of a lookup (already admitted): its restrictions and the
    service's rows in one round trip, then the audit events, committed before anything leaves.

    A restricted person's rows are read with the rest but dropped here, unless this access breaks
    the glass; their entry says only ``"restricted": true``.
    """
    [found] = await look_up_in_together(runtime, tenant, [(access, patients)], options=options)
    return found


RESTRICTED: Mapping[str, Any] = {"restricted": True}
REMOVED: Mapping[str, Any] = {"removed": True}


def entry_digest(fields: Mapping[str, Any]) -> bytes:
    """What identifies a person's entry (its fields without ``patient`` and ``kommunenummer``):
    equal digests, the same entry."""
    own = {k: v for k, v in fields.items() if k not in ("patient", "kommunenummer")}
    encoded = orjson.dumps(own, option=orjson.OPT_UTC_Z | orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(encoded, digest_size=16).digest()


async def look_up_in_together(
    runtime: Runtime,
    tenant: Tenant,
    reads: Sequence[tuple[ReaderAccess, Sequence[str]]],
    *,
    options: Mapping[str, Any],
    sent: Sequence[Mapping[str, bytes]] | None = None,
) -> list[dict[str, dict[str, Any]]]:
    """Several accesses' parts of lookups in one municipality (each already admitted), of one
    service with the same options, read together: one round trip for all their people, then
    each access's own audit events (its caller, its break-the-glass), every one committed in
    one write before any answer is returned. The answers are each access's own, in order, as
    :func:`look_up_in` gives them; the query's "now" is the first access's.

    The event streams read this way (:mod:`.stream_reads`): a change that wakes many streams costs
    one read, not one per stream. A stream gives, per read, what it last sent for each person
    (``sent``: :func:`entry_digest` of the entry's fields); a person whose entry is still that
    is left out of the answer and is not audited (nothing is sent: no data leaves), and a person
    with nothing left to show is answered ``{"removed": true}``."""
    service, first = reads[0][0].service, reads[0][0].caller
    query_context = QueryContext(
        kommunenummer=tenant.kommunenummer,
        now=first.now,
        settings=tenant.service_settings(service.name),
        options=options,
    )
    lookup = service.lookup(context=query_context)
    wanted = list(dict.fromkeys(p for _, patients in reads for p in patients))
    settings = runtime.settings
    # the restrictions among these people and the service's rows: one statement, one round trip
    marked_rows = await runtime.query_path.fetch(
        tenant.kommunenummer,
        bounded_lookup_marking(lookup.statement, service.table, RESTRICTED_AMONG),
        {
            **lookup.parameters,
            PATIENTS: wanted,
            PER_PERSON: settings.lookup_records_per_person,
            PER_ANSWER: settings.lookup_records_per_answer,
        },
    )
    restricted = {row[-1] for row in marked_rows if row[-1] is not None}
    bounded_rows = [row[:-2] for row in marked_rows if row[-1] is None]
    rows, truncated = _cut_short(bounded_rows, lookup.statement)
    results = service.results(rows, context=query_context)
    for patient in truncated & results.keys():
        results[patient]["truncated"] = True
    answers: list[dict[str, dict[str, Any]]] = []

    def visible(patient: str, closed: set[str]) -> Mapping[str, Any]:
        """The entry an access that cannot see ``closed`` is answered for the person."""
        if patient in closed:
            return RESTRICTED
        return results.get(patient, REMOVED)

    events: list[dict[str, Any]] = []
    for i, (access, patients) in enumerate(reads):
        caller = access.caller
        opened = restricted if breaks_the_glass(tenant, caller.principal.attestation) else set()
        closed = restricted - opened
        if sent is not None:
            known = sent[i]
            patients = [p for p in patients if known.get(p) != entry_digest(visible(p, closed))]
        data = {p: results[p] for p in patients if p in results and p not in closed}
        ages = data_ages(data, now=caller.now)
        events += audit_rows(
            caller,
            action="read",
            service=service.name,
            patients=[(p, 1 if p in data else 0) for p in patients if p not in restricted],
            ages=ages,
        )
        if opened:
            events += audit_rows(
                caller,
                action="read",
                service=service.name,
                patients=[(p, 1 if p in data else 0) for p in patients if p in opened],
                break_the_glass=True,
                ages=ages,
            )
        if closed:
            events += audit_rows(
                caller,
                action="read",
                service=service.name,
                patients=[(p, 0) for p in patients if p in closed],
                outcome="restricted",
            )
        removed = {p: dict(REMOVED) for p in patients if p not in data and p not in closed}
        answers.append(
            {
                **({} if sent is None else removed),
                **{p: dict(RESTRICTED) for p in patients if p in closed},
                **data,
            }
        )
    await record_reads(runtime.query_path, tenant.kommunenummer, first, events)
    LOOKUPS.labels(service.name, tenant.kommunenummer).inc(len(reads))
    PATIENTS_LOOKED_UP.labels(service.name, tenant.kommunenummer).inc(
        sum(len(patients) for _, patients in reads)
    )
    return answers


def _cut_short(
    rows: Sequence[Sequence[Any]], statement: Select[Any]
) -> tuple[list[tuple[Any, ...]], set[str]]:
    """The rows of a bounded lookup without its last column (how many rows the person has in
    all), and the people who have more than they got."""
    at = [column.name for column in statement.selected_columns].index("patient")
    got: dict[str, int] = {}
    has: dict[str, int] = {}
    kept = []
    for row in rows:
        patient = row[at]
        got[patient] = got.get(patient, 0) + 1
        has[patient] = row[-1]
        kept.append(tuple(row[:-1]))
    return kept, {patient for patient, n in has.items() if n > got[patient]}
