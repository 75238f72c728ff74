"""The public API of CONTRACT.md: the built-in issuer, operations, and the generic ingest, withdraw
and query routes of every registered sharing service."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from journalloft.platform.audit import (
    EPOCH,
    FEED_MAX_PAGE,
    FeedPosition,
    RequestContext,
    audit_rows,
    events_for_patient,
    events_page,
    feed_horizon,
    record_access,
    record_reads,
)
from journalloft.platform.auth import AUDIT_READ_SCOPE, RESTRICTIONS_SCOPE
from journalloft.platform.deps import ContextDep, JsonBody, RuntimeDep, TenantDep
from journalloft.platform.errors import (
    FieldError,
    Forbidden,
    InvalidContent,
    NotFound,
    OAuthError,
    Problem,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
)
from journalloft.platform.http import JSONResponse
from journalloft.platform.identifiers import InvalidPersonId, parse_person_id
from journalloft.platform.jsonschemas import SCHEMA_BASE
from journalloft.platform.migrations import platform_is_current, tenant_is_current
from journalloft.platform.records import content_hash, upsert_records, withdraw_record
from journalloft.platform.restrictions import RESTRICTED_AMONG, breaks_the_glass, set_restriction
from journalloft.platform.runtime import Runtime, ingest_schema_id
from journalloft.platform.services import (
    IngestContext,
    QueryContext,
    RecordRejected,
    SharingService,
)
from journalloft.platform.statements import PATIENTS
from journalloft.platform.tenancy import Tenant

AUDIT_QUERY_SCHEMA = SCHEMA_BASE + "platform/v1/audit-query.schema.json"
RESTRICTION_SCHEMA = SCHEMA_BASE + "platform/v1/restriction.schema.json"
UNIT_OF_WORK_ATTEMPTS = 3


def schema_ref(schema_id: str, fragment: str = "") -> dict[str, str]:
    """An OpenAPI reference to one of the JSON Schemas (see :func:`openapi_components`)."""
    return {"$ref": f"#/components/schemas/{component_name(schema_id)}{fragment}"}


def component_name(schema_id: str) -> str:
    return schema_id.removeprefix(SCHEMA_BASE).removesuffix(".schema.json").replace("/", ".")


COMMON_SCHEMA = SCHEMA_BASE + "platform/v1/common.schema.json"
PROBLEM = {"application/problem+json": {"schema": schema_ref(COMMON_SCHEMA, "/$defs/problem")}}
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": PROBLEM}
    for status, text in {
        400: "Malformed JSON",
        401: "Missing or invalid access token",
        403: "The token does not carry the right, or the municipality has not granted it",
        404: "Unknown municipality, service or record",
        413: "Body larger than 5 MiB",
        415: "Body not application/json",
        422: "Invalid content: every violation with a JSON Pointer",
        429: "Rate limited (Retry-After)",
        503: "A dependency is down (Retry-After)",
    }.items()
}


def json_body_spec(schema_id: str, fragment: str = "") -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema_ref(schema_id, fragment)}},
        }
    }


def require_scope(context: RequestContext, scope: str) -> None:
    if not context.principal.has_scope(scope):
        raise Forbidden(f"the token does not carry the scope {scope}", title="Missing scope")


def _rate_key(tenant: Tenant, context: RequestContext) -> str:
    """The tenant's own policy for every client: DPoP where required; the key of its rate limit."""
    if tenant.policy.require_dpop and context.principal.dpop_jkt is None:
        raise Unauthorized(f"{tenant.name} requires DPoP-bound tokens", scheme="DPoP")
    window = int(time.time() // 60)
    return f"rate:{tenant.kommunenummer}:{context.principal.client_id}:{window}"


def _within_rate(tenant: Tenant, hits: int) -> None:
    if hits > tenant.policy.rate_limit_per_minute:
        raise RateLimited(
            f"more than {tenant.policy.rate_limit_per_minute} requests a minute to {tenant.name}",
            retry_after=max(1, 60 - int(time.time()) % 60),
        )


def admit(runtime: Runtime, tenant: Tenant, context: RequestContext) -> None:
    """The tenant's own policy for every client: DPoP where required, and its rate limit."""
    hits = runtime.kv.count(_rate_key(tenant, context), window_seconds=60)
    _within_rate(tenant, hits)


async def admit_async(runtime: Runtime, tenant: Tenant, context: RequestContext) -> None:
    """:func:`admit` on the event loop."""
    hits = await runtime.kv.count_async(_rate_key(tenant, context), window_seconds=60)
    _within_rate(tenant, hits)


def require_attestation(tenant: Tenant, context: RequestContext) -> None:
    """The tenant's policy may demand a tillitsrammeverk attestation for patient lookups."""
    if tenant.policy.require_attestation and context.principal.attestation is None:
        raise Forbidden(
            f"{tenant.name} requires a tillitsrammeverk attestation for patient lookups",
            title="Attestation required",
        )


def require_operator(tenant: Tenant, context: RequestContext) -> None:
    require_scope(context, AUDIT_READ_SCOPE)
    if not tenant.is_operator(context.principal.client_id):
        raise Forbidden(f"only {tenant.name}'s own operators may read its audit log")


def require_service(tenant: Tenant, service: SharingService) -> None:
    if not tenant.has_service(service.name):
        raise NotFound(
            f"{tenant.name} has not adopted the service {service.name}",
            title="Service not enabled for this municipality",
        )


def parse_instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _person_errors(
    values: Sequence[Any], *, allow_synthetic: bool, pointer: Callable[[int], str]
) -> list[FieldError]:
    errors = []
    for i, value in enumerate(values):
        try:
            parse_person_id(value, allow_synthetic=allow_synthetic)
        except InvalidPersonId as exc:
            errors.append(FieldError(pointer(i), exc.reason))
    return errors


def _in_unit_of_work(runtime: Runtime, kommunenummer: str, work: Callable[[Any], Any]) -> Any:
    """Run ``work`` in one transaction of the tenant store; commit before returning."""
    for attempt in range(1, UNIT_OF_WORK_ATTEMPTS + 1):
        try:
            with runtime.stores.tenant_transaction(kommunenummer) as connection:
                return work(connection)
        except IntegrityError:
            # Two requests raced to create the same record; the next attempt sees the winner's row.
            if attempt == UNIT_OF_WORK_ATTEMPTS:
                raise ServiceUnavailable("the store is busy with the same records") from None
    raise AssertionError("unreachable")


def ingest(
    service: SharingService, *, tenant: Tenant, body: Any, context: RequestContext, runtime: Runtime
) -> dict[str, int]:
    require_scope(context, f"{service.name}:write")
    require_service(tenant, service)
    if not tenant.may_write(context.principal.client_id, service.name):
        raise Forbidden(
            f"{tenant.name} has not granted this client to write {service.name}",
            title="No grant from this municipality",
        )
    admit(runtime, tenant, context)
    errors = runtime.schemas.errors(body, ingest_schema_id(service, envelope_only=True))
    if errors:
        raise InvalidContent("no record was stored: the batch is not valid", errors=errors)
    records: list[dict[str, Any]] = body["records"]
    ingest_context = IngestContext(
        kommunenummer=tenant.kommunenummer,
        source=context.principal.client_id,
        now=context.now,
        settings=tenant.service_settings(service.name),
    )
    allow_synthetic = bool(runtime.settings.allow_synthetic_ids)
    rows = []
    person_errors: dict[str, str | None] = {}  # a batch names each person many times
    for i, record in enumerate(records):
        at = f"/records/{i}"
        schema_errors = runtime.schemas.errors(record, service.record_schema, prefix=at)
        errors += schema_errors
        patient = record.get("patient")
        if isinstance(patient, str) and not any(
            e.pointer == f"{at}/patient" for e in schema_errors
        ):
            if patient not in person_errors:
                try:
                    parse_person_id(patient, allow_synthetic=allow_synthetic)
                    person_errors[patient] = None
                except InvalidPersonId as exc:
                    person_errors[patient] = exc.reason
            reason = person_errors[patient]
            if reason is not None:
                errors.append(FieldError(f"{at}/patient", reason))
        if schema_errors:
            continue
        try:
            values = service.prepare(record, context=ingest_context)
        except RecordRejected as rejected:
            errors += [e.at(f"/records/{i}") for e in rejected.errors]
            continue
        rows.append(
            {
                **values,
                "source": context.principal.client_id,
                "record_id": record["id"],
                "patient": record["patient"],
                "updated": parse_instant(record["updated"]),
                "content_hash": content_hash(record),
                "received_at": context.now,
            }
        )
    if errors:
        raise InvalidContent("no record was stored: the batch has invalid records", errors=errors)

    def store(connection: Any) -> dict[str, int]:
        counts = upsert_records(
            connection, service.table, source=context.principal.client_id, rows=rows
        )
        per_patient: dict[str, int] = {}
        for row in rows:
            per_patient[row["patient"]] = per_patient.get(row["patient"], 0) + 1
        record_access(
            connection,
            context=context,
            action="write",
            service=service.name,
            patients=per_patient.items(),
        )
        return counts.as_dict()

    result: dict[str, int] = _in_unit_of_work(runtime, tenant.kommunenummer, store)
    return result


def withdraw(
    service: SharingService,
    *,
    tenant: Tenant,
    record_id: str,
    context: RequestContext,
    runtime: Runtime,
) -> None:
    require_scope(context, f"{service.name}:write")
    require_service(tenant, service)
    if not tenant.may_write(context.principal.client_id, service.name):
        raise Forbidden(f"{tenant.name} has not granted this client to write {service.name}")
    admit(runtime, tenant, context)

    def remove(connection: Any) -> str | None:
        patient = withdraw_record(
            connection,
            service.table,
            source=context.principal.client_id,
            record_id=record_id,
            now=context.now,
        )
        if patient is not None:
            record_access(
                connection,
                context=context,
                action="withdraw",
                service=service.name,
                patients=[(patient, 1)],
            )
        return patient

    if _in_unit_of_work(runtime, tenant.kommunenummer, remove) is None:
        raise NotFound("this source has no such record to withdraw", title="Unknown record")


def _query_targets(
    service: SharingService,
    *,
    kommuner: list[str] | None,
    context: RequestContext,
    runtime: Runtime,
) -> list[Tenant]:
    client_id = context.principal.client_id
    if kommuner is None:
        granted = runtime.tenants.readable_by(client_id, service.name)
        if not granted:
            raise Forbidden(
                f"no municipality has granted this client to read {service.name}",
                title="No grant from any municipality",
            )
        return granted
    targets = []
    for kommunenummer in kommuner:
        tenant = runtime.tenants.get(kommunenummer)
        if tenant is None:
            raise NotFound(
                f"no municipality {kommunenummer} on this platform", title="Unknown tenant"
            )
        require_service(tenant, service)
        if not tenant.may_read(client_id, service.name):
            raise Forbidden(
                f"{tenant.name} has not granted this client to read {service.name}",
                title="No grant from this municipality",
            )
        targets.append(tenant)
    return targets


async def query(
    service: SharingService, *, body: Any, context: RequestContext, runtime: Runtime
) -> dict[str, Any]:
    require_scope(context, f"{service.name}:read")
    errors = runtime.schemas.errors(body, service.query_schema)
    if not errors:
        errors = _person_errors(
            body["patients"],
            allow_synthetic=bool(runtime.settings.allow_synthetic_ids),
            pointer=lambda i: f"/patients/{i}",
        )
    if errors:
        raise InvalidContent("the query is not valid", errors=errors)
    patients = list(dict.fromkeys(body["patients"]))
    await runtime.tenants.refresh()
    named = body.get("kommuner")
    candidates = _query_targets(service, kommuner=named, context=context, runtime=runtime)
    targets: list[Tenant] = []
    refused: list[tuple[Tenant, Problem]] = []
    for tenant in candidates:
        try:
            await admit_async(runtime, tenant, context)
            require_attestation(tenant, context)
        except (Unauthorized, Forbidden, RateLimited) as problem:
            if named is not None:
                raise  # the caller asked for this municipality by name: its refusal is the answer
            refused.append((tenant, problem))
        else:
            targets.append(tenant)
    if not targets:
        raise refused[0][1]  # no municipality would answer: the first refusal is the answer
    found = await asyncio.gather(
        *(
            _look_up(service, t, patients=patients, body=body, context=context, runtime=runtime)
            for t in targets
        )
    )
    order = {p: i for i, p in enumerate(patients)}
    results = [
        {"patient": patient, "kommunenummer": tenant.kommunenummer, **fields}
        for tenant, per_patient in zip(targets, found, strict=True)
        for patient, fields in per_patient.items()
    ]
    results.sort(key=lambda r: (order[r["patient"]], r["kommunenummer"]))
    if refused:
        return {
            "results": results,
            "refused": [
                {"kommunenummer": tenant.kommunenummer, "reason": problem.detail}
                for tenant, problem in refused
            ],
        }
    return {"results": results}


async def _look_up(
    service: SharingService,
    tenant: Tenant,
    *,
    patients: list[str],
    body: Any,
    context: RequestContext,
    runtime: Runtime,
) -> dict[str, dict[str, Any]]:
    """One tenant's part of a query: its restrictions and the service's rows, then the audit
    events, committed before anything leaves.

    A restricted person's rows are read with the rest but dropped here, unless this access breaks
    the glass; their entry says only ``"restricted": true``.
    """
    query_context = QueryContext(
        kommunenummer=tenant.kommunenummer,
        now=context.now,
        settings=tenant.service_settings(service.name),
        options=body,
    )
    lookup = service.lookup(context=query_context)
    restricted_rows, rows = await runtime.reads.fetch(
        tenant.kommunenummer,
        (RESTRICTED_AMONG, {PATIENTS: patients}),
        (lookup.statement, {**lookup.parameters, PATIENTS: patients}),
    )
    restricted = {row[0] for row in restricted_rows}
    opened = restricted if breaks_the_glass(tenant, context.principal.attestation) else set()
    closed = restricted - opened
    data = {
        patient: fields
        for patient, fields in service.results(rows, context=query_context).items()
        if patient not in closed
    }
    events = audit_rows(
        context,
        action="read",
        service=service.name,
        patients=[(p, 1 if p in data else 0) for p in patients if p not in restricted],
    )
    if opened:
        events += audit_rows(
            context,
            action="read",
            service=service.name,
            patients=[(p, 1 if p in data else 0) for p in patients if p in opened],
            break_the_glass=True,
        )
    if closed:
        events += audit_rows(
            context,
            action="read",
            service=service.name,
            patients=[(p, 0) for p in patients if p in closed],
            outcome="restricted",
        )
    await record_reads(runtime.reads, tenant.kommunenummer, context, events)
    return {**{p: {"restricted": True} for p in closed}, **data}


def audit_query(
    *, tenant: Tenant, body: Any, context: RequestContext, runtime: Runtime
) -> dict[str, Any]:
    require_operator(tenant, context)
    admit(runtime, tenant, context)
    errors = runtime.schemas.errors(body, AUDIT_QUERY_SCHEMA)
    if not errors:
        errors = _person_errors(
            [body["patient"]],
            allow_synthetic=bool(runtime.settings.allow_synthetic_ids),
            pointer=lambda _: "/patient",
        )
    if errors:
        raise InvalidContent("the audit query is not valid", errors=errors)

    def read(connection: Any) -> list[dict[str, Any]]:
        events = events_for_patient(connection, patient=body["patient"])
        record_access(
            connection,
            context=context,
            action="audit-read",
            service=None,
            patients=[(body["patient"], len(events))],
        )
        return events

    events = _in_unit_of_work(runtime, tenant.kommunenummer, read)
    return {"patient": body["patient"], "kommunenummer": tenant.kommunenummer, "events": events}


def parse_since(value: str) -> datetime:
    """An RFC 3339 instant from a query string, where an unencoded ``+`` arrives as a space."""
    instant = datetime.fromisoformat(value.strip().replace(" ", "+"))
    if instant.tzinfo is None:
        raise ValueError("an instant needs its offset (Z or +01:00)")
    return instant


def audit_events(
    *,
    tenant: Tenant,
    since: str | None,
    cursor: str | None,
    limit: int,
    break_the_glass_only: bool,
    context: RequestContext,
    runtime: Runtime,
) -> dict[str, Any]:
    """One page of the review feed (see :func:`journalloft.platform.audit.events_page`).

    ``cursor`` (from the previous page's ``next_cursor``) wins over ``since``; with neither the
    feed starts at the oldest event kept. Reading the feed is itself an audit event.
    """
    require_operator(tenant, context)
    admit(runtime, tenant, context)
    try:
        if cursor is not None:
            after = FeedPosition.from_cursor(cursor)
        else:
            after = FeedPosition.since(parse_since(since) if since is not None else EPOCH)
    except ValueError as exc:
        pointer = "/query/cursor" if cursor is not None else "/query/since"
        raise InvalidContent(
            "the feed position is not valid", errors=[FieldError(pointer, str(exc))]
        ) from exc

    def read(connection: Any) -> Any:
        page = events_page(
            connection,
            after=after,
            until=feed_horizon(context.now),
            limit=limit,
            break_the_glass_only=break_the_glass_only,
        )
        record_access(
            connection,
            context=context,
            action="audit-feed",
            service=None,
            patients=[(None, len(page.events))],
        )
        return page

    page = _in_unit_of_work(runtime, tenant.kommunenummer, read)
    return {
        "kommunenummer": tenant.kommunenummer,
        "events": page.events,
        "next_cursor": page.next_position.cursor(),
        "more": page.more,
        "until": page.until,
    }


def change_restriction(
    *, tenant: Tenant, body: Any, context: RequestContext, runtime: Runtime
) -> dict[str, Any]:
    """Mark or lift one person's restriction (sperring) in this tenant; audited either way."""
    require_scope(context, RESTRICTIONS_SCOPE)
    client_id = context.principal.client_id
    if not (tenant.is_source(client_id) or tenant.is_operator(client_id)):
        raise Forbidden(
            f"only {tenant.name}'s own sources and operators may mark restrictions",
            title="No grant from this municipality",
        )
    admit(runtime, tenant, context)
    errors = runtime.schemas.errors(body, RESTRICTION_SCHEMA)
    patient_value = body.get("patient") if isinstance(body, dict) else None
    if isinstance(patient_value, str) and not any(e.pointer == "/patient" for e in errors):
        errors += _person_errors(
            [patient_value],
            allow_synthetic=bool(runtime.settings.allow_synthetic_ids),
            pointer=lambda _: "/patient",
        )
    if errors:
        raise InvalidContent("the restriction is not valid", errors=errors)
    patient: str = body["patient"]
    restricted: bool = body["restricted"]

    def change(connection: Any) -> bool:
        changed = set_restriction(
            connection, patient=patient, restricted=restricted, by=client_id, now=context.now
        )
        record_access(
            connection,
            context=context,
            action="restrict" if restricted else "lift-restriction",
            service=None,
            patients=[(patient, 1 if changed else 0)],
        )
        return changed

    changed = _in_unit_of_work(runtime, tenant.kommunenummer, change)
    return {
        "patient": patient,
        "kommunenummer": tenant.kommunenummer,
        "restricted": restricted,
        "changed": changed,
    }


def service_router(service: SharingService) -> APIRouter:
    """The generic routes of one sharing service."""
    router = APIRouter(tags=[service.title])
    name = service.name
    result_list = {
        "type": "object",
        "required": ["results"],
        "properties": {
            "results": {
                "type": "array",
                "items": {
                    "oneOf": [
                        schema_ref(service.result_schema),
                        schema_ref(COMMON_SCHEMA, "/$defs/restricted_result"),
                    ]
                },
            },
            "refused": {
                "description": "Municipalities that would have answered, but whose policy this "
                "call does not meet (only when kommuner was not given; absent when none)",
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["kommunenummer", "reason"],
                    "properties": {
                        "kommunenummer": {"type": "string"},
                        "reason": {"type": "string"},
                    },
                },
            },
        },
    }

    ingest_result = schema_ref(COMMON_SCHEMA, "/$defs/ingest_result")

    @router.post(
        f"/v1/tenants/{{kommunenummer}}/{name}/records",
        operation_id=f"ingest_{name.replace('-', '_')}",
        summary=f"Push {service.title} records from a journal system",
        response_class=JSONResponse,
        openapi_extra=json_body_spec(ingest_schema_id(service)),
        responses={
            200: {"content": {"application/json": {"schema": ingest_result}}},
            **ERRORS,
        },
    )
    def post_records(
        tenant: TenantDep, body: JsonBody, context: ContextDep, runtime: RuntimeDep
    ) -> Any:
        """Store a batch of records: all or nothing, idempotent per (source, id)."""
        return ingest(service, tenant=tenant, body=body, context=context, runtime=runtime)

    @router.delete(
        f"/v1/tenants/{{kommunenummer}}/{name}/records/{{record_id}}",
        operation_id=f"withdraw_{name.replace('-', '_')}",
        summary=f"Withdraw a {service.title} record sent in error",
        status_code=204,
        response_class=Response,
        responses=ERRORS,
    )
    def delete_record(
        tenant: TenantDep,
        record_id: Annotated[str, Path(min_length=1, max_length=128)],
        context: ContextDep,
        runtime: RuntimeDep,
    ) -> Response:
        """Withdraw one record by the source that sent it."""
        withdraw(service, tenant=tenant, record_id=record_id, context=context, runtime=runtime)
        return Response(status_code=204)

    @router.post(
        f"/v1/{name}/query",
        operation_id=f"query_{name.replace('-', '_')}",
        summary=f"Look up {service.title} for up to 200 people",
        response_class=JSONResponse,
        openapi_extra=json_body_spec(service.query_schema),
        responses={200: {"content": {"application/json": {"schema": result_list}}}, **ERRORS},
    )
    async def post_query(body: JsonBody, context: ContextDep, runtime: RuntimeDep) -> Response:
        """Return what the granting municipalities hold on these people."""
        return JSONResponse(await query(service, body=body, context=context, runtime=runtime))

    return router


def platform_router() -> APIRouter:
    router = APIRouter()

    @router.get("/healthz", tags=["Operations"], response_class=JSONResponse)
    def healthz() -> Any:
        """Answer while the process is alive."""
        return {"status": "ok"}

    @router.get(
        "/readyz",
        tags=["Operations"],
        response_class=JSONResponse,
        responses={503: {"description": "Not ready", "content": PROBLEM}},
    )
    def readyz(runtime: RuntimeDep) -> Any:
        """Answer 200 when the stores are reachable and migrated and Redis answers."""
        checks: dict[str, str] = {}
        try:
            checks["platform_store"] = (
                "ok" if platform_is_current(runtime.stores) else "not migrated"
            )
            for tenant in runtime.tenants.all():
                current = tenant_is_current(
                    runtime.stores, tenant.kommunenummer, runtime.services.values()
                )
                checks[f"tenant_{tenant.kommunenummer}"] = "ok" if current else "not migrated"
        except Exception:
            checks["platform_store"] = "unreachable"
        if runtime.settings.redis_url:
            checks["redis"] = "ok" if runtime.kv.ping() else "unreachable"
        failing = {k: v for k, v in checks.items() if v != "ok"}
        if failing:
            raise ServiceUnavailable(
                "not ready: " + ", ".join(f"{k} {v}" for k, v in failing.items())
            )
        return {"status": "ready", "checks": checks}

    @router.get(
        "/v1/tenants",
        tags=["Operations"],
        response_class=JSONResponse,
        responses={401: ERRORS[401], 403: ERRORS[403]},
    )
    def list_tenants(context: ContextDep, runtime: RuntimeDep) -> Any:
        """List the municipalities on the platform and the services each has adopted."""
        require_scope(context, "admin")
        return {
            "tenants": [
                {
                    "kommunenummer": t.kommunenummer,
                    "name": t.name,
                    "organisasjonsnummer": t.organisasjonsnummer,
                    "services": sorted(t.services),
                }
                for t in runtime.tenants.all()
            ]
        }

    @router.post(
        "/v1/tenants/{kommunenummer}/audit/query",
        tags=["Audit"],
        response_class=JSONResponse,
        openapi_extra=json_body_spec(AUDIT_QUERY_SCHEMA),
        responses=ERRORS,
    )
    def post_audit_query(
        tenant: TenantDep, body: JsonBody, context: ContextDep, runtime: RuntimeDep
    ) -> Any:
        """Tell who accessed one person's data in this municipality, newest first."""
        return audit_query(tenant=tenant, body=body, context=context, runtime=runtime)

    @router.get(
        "/v1/tenants/{kommunenummer}/audit/events",
        tags=["Audit"],
        response_class=JSONResponse,
        responses=ERRORS,
    )
    def get_audit_events(
        tenant: TenantDep,
        context: ContextDep,
        runtime: RuntimeDep,
        since: Annotated[
            str | None,
            Query(max_length=64, description="RFC 3339; the first page starts here"),
        ] = None,
        cursor: Annotated[
            str | None,
            Query(max_length=256, description="next_cursor of the previous page"),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=FEED_MAX_PAGE)] = 500,
        break_the_glass: Annotated[
            bool, Query(description="only accesses that opened a restricted person")
        ] = False,
    ) -> Any:
        """Page through this municipality's audit log for log review, oldest first."""
        return audit_events(
            tenant=tenant,
            since=since,
            cursor=cursor,
            limit=limit,
            break_the_glass_only=break_the_glass,
            context=context,
            runtime=runtime,
        )

    @router.put(
        "/v1/tenants/{kommunenummer}/restrictions",
        tags=["Restrictions"],
        response_class=JSONResponse,
        openapi_extra=json_body_spec(RESTRICTION_SCHEMA),
        responses=ERRORS,
    )
    def put_restriction(
        tenant: TenantDep, body: JsonBody, context: ContextDep, runtime: RuntimeDep
    ) -> Any:
        """Mark (restricted: true) or lift (false) one person's restriction on sharing."""
        return change_restriction(tenant=tenant, body=body, context=context, runtime=runtime)

    return router


def unknown_service_router(known: Sequence[str]) -> APIRouter:
    """Clear 404s for service names no one registered (after the real routes)."""
    router = APIRouter(include_in_schema=False)
    names = ", ".join(known)

    def unknown(service: str) -> Any:
        raise NotFound(f"no sharing service {service} (known: {names})", title="Unknown service")

    router.add_api_route("/v1/tenants/{kommunenummer}/{service}/records", unknown, methods=["POST"])
    router.add_api_route(
        "/v1/tenants/{kommunenummer}/{service}/records/{record_id}", unknown, methods=["DELETE"]
    )
    router.add_api_route("/v1/{service}/query", unknown, methods=["POST"])
    return router


def issuer_router() -> APIRouter:
    router = APIRouter(tags=["Built-in token issuer"])

    def builtin(runtime: Runtime) -> Any:
        if runtime.issuer is None:
            raise NotFound("the built-in issuer is turned off here", title="No built-in issuer")
        return runtime.issuer

    @router.get("/.well-known/oauth-authorization-server", response_class=JSONResponse)
    def metadata(runtime: RuntimeDep) -> Any:
        """Describe the built-in issuer (RFC 8414)."""
        scopes = [f"{s}:{a}" for s in runtime.services for a in ("read", "write")]
        return builtin(runtime).metadata([*scopes, AUDIT_READ_SCOPE, RESTRICTIONS_SCOPE, "admin"])

    @router.get("/oauth/jwks", response_class=JSONResponse)
    def jwks(runtime: RuntimeDep) -> Any:
        """Publish the built-in issuer's signing keys."""
        return builtin(runtime).jwks()

    @router.post(
        "/oauth/token",
        response_class=JSONResponse,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "required": ["grant_type", "client_assertion_type", "client_assertion"],
                            "properties": {
                                "grant_type": {"type": "string", "enum": ["client_credentials"]},
                                "client_assertion_type": {"type": "string"},
                                "client_assertion": {"type": "string"},
                                "scope": {"type": "string"},
                            },
                        }
                    }
                },
            }
        },
        responses={400: ERRORS[400], 401: ERRORS[401], 415: ERRORS[415]},
    )
    async def token(request: Request, runtime: RuntimeDep) -> Any:
        """Issue an access token for client_credentials with private_key_jwt (and DPoP)."""
        issuer = builtin(runtime)
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/x-www-form-urlencoded":
            raise OAuthError(
                "invalid_request", "send the token request as application/x-www-form-urlencoded"
            )
        raw = (await request.body()).decode("utf-8", errors="replace")
        form = dict(parse_qsl(raw, keep_blank_values=True))
        response = await run_in_threadpool(issuer.token, form, dpop=request.headers.get("dpop"))
        return JSONResponse(response, headers={"Cache-Control": "no-store"})

    return router
