"""The FHIR R4 face's routes: metadata, POST _search, transaction Bundles, conditional PUT and
DELETE. Each parses FHIR, calls one operation of :mod:`journalloft.platform.operations` (the
same checks, audit and restrictions as the native API) and renders FHIR."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial
from typing import Annotated, Final

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from journalloft.faces.fhir import smart
from journalloft.faces.fhir.capability import capability_statement
from journalloft.faces.fhir.common import FHIR_JSON, Errors, FhirResponse, outcome_response
from journalloft.faces.fhir.resources import Served
from journalloft.faces.fhir.search import accepts_json, parse_search, read_parameters
from journalloft.faces.fhir.searchset import look_up_providers, searchset
from journalloft.faces.fhir.transaction import store_bundle, store_one, withdraw_one
from journalloft.platform.face import (
    BadRequest,
    CallerDep,
    FieldError,
    MethodNotAllowed,
    NotFound,
    Problem,
    RoutedFace,
    RuntimeDep,
    SharingService,
    TenantDep,
    read_json,
)

PREFIX: Final = "/fhir"
_PERSON_ID: Final = re.compile(r"(?<![0-9])[0-9]{11}(?![0-9])")

Kommunenummer = Annotated[str, Path(pattern=r"^[0-9]{4}$")]
ResourceType = Annotated[str, Path(pattern=r"^[A-Z][A-Za-z]{1,63}$")]
IdentifierQuery = Annotated[str, Query(alias="identifier", min_length=1, max_length=300)]


_ON_TYPE: Final = re.compile(
    r"^(?:(?P<kommune>[0-9]{4})/)?(?P<type>[A-Z][A-Za-z]+)(?:/(?P<id>[A-Za-z0-9.-]{1,64}))?/?$"
)
"""A path on a resource type (or one of its resources): an interaction it does not support
there is 405, as R4's http.html says, not 404."""
_WRITE: Final = re.compile(r"^/fhir/[0-9]{4}(?:/(?P<type>[A-Z][A-Za-z]+))?/?$")


def render(request: Request, problem: Problem, correlation: str | None) -> Response:
    """A problem under /fhir as an OperationOutcome; a field error's place is a FHIRPath from
    the resource the client sent (``Bundle.entry[2].resource.period.start``)."""
    root = None
    write = _WRITE.match(request.url.path)
    if write and request.method in ("POST", "PUT"):
        root = write.group("type") or "Bundle"
    return outcome_response(problem, correlation_id=correlation, root=root)


def base_url(request: Request, runtime: RuntimeDep) -> str:
    public = runtime.settings.public_url
    return (public.rstrip("/") if public else str(request.base_url).rstrip("/")) + PREFIX


def fhir_router(services: Mapping[str, SharingService]) -> APIRouter:
    """The face for the registered services' FHIR resources (their providers)."""
    served = Served(services)
    router = APIRouter(tags=["FHIR R4"], include_in_schema=False)
    router.include_router(smart.smart_router(services))  # before the catch-all below

    @router.get(PREFIX + "/metadata")
    async def metadata(request: Request, runtime: RuntimeDep) -> Response:
        accepts_json(request.query_params.get("_format"), request.headers.get("accept"))
        return FhirResponse(
            capability_statement(served, base=base_url(request, runtime), settings=runtime.settings)
        )

    @router.get(PREFIX + "/{kommunenummer}/metadata")
    async def metadata_of_a_base(
        request: Request, runtime: RuntimeDep, kommunenummer: Kommunenummer
    ) -> Response:
        """The same statement at a municipality's base (where transactions are posted), as
        client libraries ask for it there; it names that base."""
        accepts_json(request.query_params.get("_format"), request.headers.get("accept"))
        if runtime.tenants.get(kommunenummer) is None:
            raise NotFound(f"no municipality {kommunenummer} on this platform")
        return FhirResponse(
            capability_statement(
                served,
                base=f"{base_url(request, runtime)}/{kommunenummer}",
                settings=runtime.settings,
            )
        )

    async def search(
        request: Request,
        runtime: RuntimeDep,
        caller: CallerDep,
        resource_type: str,
        kommunenummer: str | None,
    ) -> Response:
        accepts_json(request.query_params.get("_format"), request.headers.get("accept"))
        readers = served.readers(resource_type, caller)
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        found = parse_search(
            read_parameters(await request.body(), media_type),
            served.search_parameters(resource_type),
        )
        try:
            answered = await look_up_providers(
                runtime, readers, found, kommunenummer=kommunenummer, now=caller.now
            )
        except Problem as problem:
            raise _pointing_at_search(problem) from None
        base = base_url(request, runtime)
        bundle = await run_in_threadpool(
            searchset,
            answered,
            found,
            base=base,
            self_url=f"{base}{request.url.path[len(PREFIX) :]}",
            tenants=runtime.tenants.get,
        )
        return FhirResponse(bundle)

    @router.post(PREFIX + "/{resource_type}/_search")
    async def search_everywhere(
        request: Request, runtime: RuntimeDep, caller: CallerDep, resource_type: ResourceType
    ) -> Response:
        return await search(request, runtime, caller, resource_type, None)

    @router.post(PREFIX + "/{kommunenummer}/{resource_type}/_search")
    async def search_one(
        request: Request,
        runtime: RuntimeDep,
        caller: CallerDep,
        tenant: TenantDep,
        resource_type: ResourceType,
    ) -> Response:
        return await search(request, runtime, caller, resource_type, tenant.kommunenummer)

    @router.post(PREFIX + "/{kommunenummer}")
    @router.post(PREFIX + "/{kommunenummer}/")  # the base URL as client libraries write it
    async def transaction(
        request: Request, runtime: RuntimeDep, caller: CallerDep, tenant: TenantDep
    ) -> Response:
        document = await read_json(request)
        answer = await run_in_threadpool(store_bundle, runtime, caller, tenant, served, document)
        return FhirResponse(answer)

    @router.put(PREFIX + "/{kommunenummer}/{resource_type}")
    async def conditional_put(
        request: Request,
        runtime: RuntimeDep,
        caller: CallerDep,
        tenant: TenantDep,
        resource_type: ResourceType,
        identifier: IdentifierQuery,
    ) -> Response:
        served.providers(resource_type)
        _one_condition(request)
        document = await read_json(request)
        prefer = request.headers.get("prefer", "").replace(" ", "").lower()
        status, outcome = await run_in_threadpool(
            partial(store_one, prefer_outcome="return=operationoutcome" in prefer),
            runtime,
            caller,
            tenant,
            served,
            resource_type,
            document,
            identifier,
        )
        return FhirResponse(outcome, status_code=status)

    @router.delete(PREFIX + "/{kommunenummer}/{resource_type}")
    def conditional_delete(
        request: Request,
        runtime: RuntimeDep,
        caller: CallerDep,
        tenant: TenantDep,
        resource_type: ResourceType,
        identifier: IdentifierQuery,
    ) -> Response:
        served.providers(resource_type)
        _one_condition(request)
        withdraw_one(runtime, caller, tenant, served, resource_type, identifier)
        return Response(status_code=204)

    @router.api_route(PREFIX + "/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    async def elsewhere(request: Request, rest: str) -> Response:
        """No other interaction; a person's id in a URL is refused by name (it would be in the
        logs of every proxy on the way): searches are POST _search."""
        if _PERSON_ID.search(request.url.path) or _PERSON_ID.search(request.url.query):
            raise BadRequest(
                "a person's id never goes in a URL: search with POST "
                f"{PREFIX}/<type>/_search and the person in the form body "
                "(patient:identifier=urn:oid:2.16.578.1.12.4.1.4.1|<id>)",
                title="Person id in the URL",
            )
        if request.method == "GET":
            raise BadRequest(
                f"searches are POST {PREFIX}/<type>/_search (form-encoded); "
                f"see {PREFIX}/metadata for what this server supports",
                title="Search with POST _search",
            )
        on_type = _ON_TYPE.match(rest)
        if on_type and on_type.group("type") in served:
            conditional = on_type.group("kommune") and not on_type.group("id")
            raise MethodNotAllowed(
                f"{request.method} is not an interaction this server supports on "
                f"{on_type.group('type')} (create, update by id, patch and delete by id are not; "
                f"writes are transactions and conditional updates); see {PREFIX}/metadata",
                headers={"Allow": "PUT, DELETE" if conditional else ""},
            )
        raise NotFound(f"no such FHIR interaction; see {PREFIX}/metadata")

    return router


def _one_condition(request: Request) -> None:
    """A conditional update or delete names one record by one ``identifier``: a second one
    (FHIR would AND them) or any other parameter is a condition this server cannot process,
    refused (400) rather than ignored."""
    errors = Errors()
    names = [name for name, _value in request.query_params.multi_items()]
    if names.count("identifier") > 1:
        errors.add(
            "/identifier",
            "is given more than once: a conditional interaction names one record by one "
            "identifier=system|value",
        )
    for name in dict.fromkeys(names):
        if name != "identifier":
            errors.add("/" + name, "is not a condition this server takes (only identifier)")
    if errors.found:
        raise BadRequest("the condition is not one this server can process", errors=errors.found)


def _pointing_at_search(problem: Problem) -> Problem:
    """A native query's error, pointed at the search's parameters."""
    if not problem.errors:
        return problem
    problem.errors = [
        FieldError(
            "/patient:identifier" if e.pointer.startswith("/patients") else e.pointer, e.message
        )
        for e in problem.errors
    ]
    return problem


__all__ = ["FHIR_JSON", "PREFIX", "Errors", "face", "fhir_router", "render"]

face = RoutedFace(
    name="fhir", prefix=PREFIX, build=fhir_router, renderer=render, vocabulary=smart.vocabulary
)
"""The FHIR face, as the composition root finds it (entry point ``journalloft.faces``)."""
