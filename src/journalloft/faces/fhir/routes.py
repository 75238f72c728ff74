"""The FHIR R4 face's routes: metadata, POST _search, transaction Bundles, conditional PUT and
DELETE. Each parses FHIR, calls one operation of :mod:`journalloft.platform.operations` (the
same checks, audit and restrictions as the native API) and renders FHIR."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.convertors import StringConvertor, register_url_convertor
from starlette.responses import Response

from journalloft.faces.fhir import smart
from journalloft.faces.fhir.capability import capability_statement
from journalloft.faces.fhir.common import (
    FHIR_JSON,
    Errors,
    FhirResponse,
    information,
    outcome_response,
)
from journalloft.faces.fhir.ids import Publisher, keys_of, service_tag
from journalloft.faces.fhir.kit import ResourceProvider
from journalloft.faces.fhir.resources import Served
from journalloft.faces.fhir.search import (
    PERSON_PARAMETERS,
    Search,
    accepts_json,
    parse_search,
    read_parameters,
    read_query,
)
from journalloft.faces.fhir.searchset import held_by, holder_of, look_up_providers, searchset
from journalloft.faces.fhir.transaction import SAID, store_bundle, store_one, withdraw_one
from journalloft.platform.face import (
    BadRequest,
    CallerDep,
    FieldError,
    MethodNotAllowed,
    NotFound,
    Problem,
    ReaderAccess,
    RoutedFace,
    RuntimeDep,
    SharingService,
    TenantDep,
    read_json,
    sharing,
)

PREFIX: Final = "/fhir"
_PERSON_ID: Final = re.compile(r"(?<![0-9])[0-9]{11}(?![0-9])")

_PARAMETERS: Final = {
    "patient:identifier": "urn:oid:2.16.578.1.12.4.1.4.1|<fnr> (or DNR, FH-nummer), "
    "comma-separated, 1-200 people; required",
    "subject:identifier": "as patient:identifier",
    "code": "system|code or code, comma-separated (at most 100)",
    "date": "[eq|ne|gt|lt|ge|le]YYYY[-MM[-DD[Thh:mm[:ss[.s]]±hh:mm]]] (at most 8)",
    "status": "the type's status codes, comma-separated",
    "clinical-status": "Condition: its clinical status",
    "onset-date": "Condition: as date",
    "category": "Observation: survey or vital-signs (system|code or code); CarePlan: its category",
    "_sort": "date or -date (the type's date parameter)",
    "_count": "0-10000: a page of at most this many matches, with next/previous links",
    "_summary": "count: total only",
    "_format": "json (FHIR JSON only; any other is 406)",
    "_page": "a next/previous link's token (alone, or with _format)",
}
SEARCH_QUERY: Final[dict[str, Any]] = {
    "parameters": [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
        | {"description": text}
        for name, text in _PARAMETERS.items()
    ]
}
"""A GET search's parameters (read from the query string by :func:`read_query`), for the
OpenAPI document and the tools that generate requests from it."""
SEARCH_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {
                        name: {"type": "string", "description": text}
                        for name, text in _PARAMETERS.items()
                        if name != "_page"
                    },
                }
            },
            FHIR_JSON: {
                "schema": {
                    "type": "object",
                    "required": ["resourceType"],
                    "properties": {
                        "resourceType": {"type": "string", "enum": ["Parameters"]},
                        "parameter": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "name": {"type": "string"},
                                    "valueString": {"type": "string"},
                                    "valueInteger": {"type": "integer"},
                                },
                            },
                        },
                    },
                }
            },
        },
    }
}
"""POST _search's body: the same parameters as a form, or a Parameters resource."""
RESOURCE_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "content": {
            FHIR_JSON: {
                "schema": {
                    "type": "object",
                    "required": ["resourceType"],
                    "properties": {"resourceType": {"type": "string"}},
                    "description": "A FHIR R4 resource (a transaction Bundle at a base, the "
                    "type's resource on a conditional update); see /fhir/metadata",
                }
            }
        },
    }
}

PAGE: Final = "_page"
"""The query parameter of a page link (``next``/``previous``): a sealed token, no person id."""
READ_REACH: Final = Search(
    dates=[("ge", datetime.min.replace(tzinfo=UTC), datetime.min.replace(tzinfo=UTC))],
    statuses=["finished", "cancelled", "inactive", "remission", "resolved", "completed", "revoked"],
)
"""What a read asks the provider's options for: the widest reach a search may ask (the oldest
dates, the ended statuses of R4's EpisodeOfCare, Condition and CarePlan), so that every
searchset's ``fullUrl`` reads."""
_LOGICAL_ID: Final = re.compile(r"[A-Za-z0-9.-]{1,64}")


class _KommuneSegment(StringConvertor):
    regex = "[0-9]{4}"


class _TypeSegment(StringConvertor):
    regex = "[A-Z][A-Za-z]{1,63}"


class _IdSegment(StringConvertor):
    regex = "[A-Za-z0-9.-]{1,64}"


register_url_convertor("fhir_kommune", _KommuneSegment())
register_url_convertor("fhir_type", _TypeSegment())
register_url_convertor("fhir_id", _IdSegment())
"""Path segments told apart by their grammar (``/fhir/1804/EpisodeOfCare`` is a search at a
base, ``/fhir/EpisodeOfCare/<id>`` a read), not by the order of the routes."""

Kommunenummer = Annotated[str, Path(pattern=r"^[0-9]{4}$")]
ResourceType = Annotated[str, Path(pattern=r"^[A-Z][A-Za-z]{1,63}$")]
LogicalId = Annotated[str, Path(pattern=r"^[A-Za-z0-9.-]{1,64}$")]
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
    router = APIRouter(tags=["FHIR R4"])
    router.include_router(smart.smart_router(services))  # before the catch-all below

    @router.get(PREFIX + "/metadata")
    async def metadata(request: Request, runtime: RuntimeDep) -> Response:
        accepts_json(request.query_params.get("_format"), request.headers.get("accept"))
        return FhirResponse(
            capability_statement(served, base=base_url(request, runtime), settings=runtime.settings)
        )

    @router.get(PREFIX + "/{kommunenummer:fhir_kommune}/metadata")
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
        readers: list[tuple[ResourceProvider, ReaderAccess]],
        pairs: list[tuple[str, str]],
        offset: int = 0,
    ) -> Response:
        """One search, however it was asked (GET, POST _search, a page link): parsed once, the
        lookups of the type's providers the caller may read (``readers``), one searchset."""
        found = parse_search(pairs, served.search_parameters(resource_type))
        try:
            answered = await look_up_providers(
                runtime, readers, found, kommunenummer=kommunenummer, now=caller.now
            )
        except Problem as problem:
            raise _pointing_at_search(problem) from None
        base = base_url(request, runtime)
        keys = keys_of(runtime.settings)
        where = (
            f"{base}/{kommunenummer}/{resource_type}"
            if kommunenummer
            else f"{base}/{resource_type}"
        )
        shown = [(n, v) for n, v in pairs if n not in PERSON_PARAMETERS]
        expires = int(caller.now.timestamp()) + runtime.settings.fhir_page_seconds

        def page_url(at: int) -> str | None:
            page = {"t": resource_type, "k": kommunenummer, "q": pairs, "o": at, "x": expires}
            token = keys.page_token(page, caller.client_id)
            return None if token is None else f"{where}?{PAGE}={token}"

        bundle = await run_in_threadpool(
            partial(
                searchset,
                base=base,
                self_url=f"{where}?{urlencode(shown)}" if shown else where,
                publisher=Publisher(keys),
                offset=offset,
                page_url=page_url,
                tenants=runtime.tenants.get,
            ),
            answered,
            found,
        )
        return FhirResponse(bundle)

    async def posted_search(
        request: Request,
        runtime: RuntimeDep,
        caller: CallerDep,
        resource_type: str,
        kommunenummer: str | None,
    ) -> Response:
        accepts_json(request.query_params.get("_format"), request.headers.get("accept"))
        readers = served.readers(resource_type, caller)
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        pairs = read_parameters(await request.body(), media_type)
        return await search(request, runtime, caller, resource_type, kommunenummer, readers, pairs)

    async def get_search(
        request: Request,
        runtime: RuntimeDep,
        caller: CallerDep,
        resource_type: str,
        kommunenummer: str | None,
    ) -> Response:
        """GET search, as stock clients make it: the same parameters, limits and answers as
        POST _search; or a page of one (``_page``, from a ``next``/``previous`` link)."""
        accepts_json(request.query_params.get("_format"), request.headers.get("accept"))
        readers = served.readers(resource_type, caller)
        pairs = read_query(request.url.query)
        names = {name for name, _value in pairs}
        if PAGE in names:
            return await _page(
                request, runtime, caller, resource_type, kommunenummer, readers, pairs
            )
        if runtime.settings.fhir_person_ids_in_urls == "refuse" and names & set(PERSON_PARAMETERS):
            raise _person_in_url()
        return await search(request, runtime, caller, resource_type, kommunenummer, readers, pairs)

    async def _page(
        request: Request,
        runtime: RuntimeDep,
        caller: CallerDep,
        resource_type: str,
        kommunenummer: str | None,
        readers: list[tuple[ResourceProvider, ReaderAccess]],
        pairs: list[tuple[str, str]],
    ) -> Response:
        extra = sorted({name for name, _v in pairs} - {PAGE, "_format"})
        if extra or [name for name, _v in pairs].count(PAGE) > 1:
            raise BadRequest(
                f"a page link is {PAGE}=<token> alone (and _format): the search is in the token",
                errors=[FieldError("/" + name, "is not taken with _page") for name in extra],
            )
        token = dict(pairs)[PAGE]
        page = keys_of(runtime.settings).open_page(token, caller.client_id)
        valid = (
            page is not None
            and page.get("t") == resource_type
            and page.get("k") == kommunenummer
            and isinstance(page.get("o"), int)
            and isinstance(page.get("x"), int)
            and isinstance(page.get("q"), list)
        )
        if not valid or page is None:
            raise BadRequest(
                "this page link is not one this server gave this client for this search "
                "(altered, of another client, or of another server key): run the search again",
                errors=[FieldError("/" + PAGE, "is not a valid page token")],
            )
        if caller.now.timestamp() > page["x"]:
            raise PageExpired(
                f"page links work for {runtime.settings.fhir_page_seconds} s: run the search again"
            )
        asked = [(str(n), str(v)) for n, v in page["q"]]
        return await search(
            request, runtime, caller, resource_type, kommunenummer, readers, asked, page["o"]
        )

    async def read(
        request: Request,
        runtime: RuntimeDep,
        caller: CallerDep,
        resource_type: str,
        logical_id: str,
        base: str | None,
    ) -> Response:
        """Read by logical id: the id names its person, municipality and service (sealed, see
        :mod:`~journalloft.faces.fhir.ids`); the read is that person's ordinary lookup (the same
        access check, audit and restrictions) in that service, among the type's, if the caller
        may read it and that municipality has granted it, and answers the resource of that id.
        Any id it cannot resolve is 404."""
        accepts_json(request.query_params.get("_format"), request.headers.get("accept"))
        other = sorted({name for name, _v in request.query_params.multi_items()} - {"_format"})
        if other:
            raise BadRequest(
                "a read takes no parameter but _format",
                errors=[FieldError("/" + name, "is not supported on a read") for name in other],
            )
        keys = keys_of(runtime.settings)
        owner = keys.opened(logical_id) if _LOGICAL_ID.fullmatch(logical_id) else None
        refusing = runtime.settings.fhir_person_ids_in_urls == "refuse"
        if refusing and owner is None and _PERSON_ID.search(logical_id):
            raise _person_in_url()
        readers = served.readers(resource_type, caller)
        missing = NotFound(f"no {resource_type} with this id here", title="Unknown resource")
        if owner is None or (base is not None and owner[0] != base):
            raise missing
        kommunenummer, person, tag = owner
        tenant = runtime.tenants.get(kommunenummer)
        granted = [
            (provider, access)
            for provider, access in readers
            if service_tag(provider.service) == tag
            and tenant is not None
            and tenant.may_read(caller.client_id, served.services[provider.service].name)
        ]
        if not granted:
            raise missing  # an id does not tell a client without the grant whose it is
        asks = [
            (
                access,
                {
                    "patients": [person],
                    "kommuner": [kommunenummer],
                    **provider.options(READ_REACH, caller.now),
                },
            )
            for provider, access in granted
        ]
        answers = await sharing.look_up_several(runtime, asks)
        publisher = Publisher(keys)
        for (provider, _access), answer in zip(granted, answers, strict=True):
            for result in [] if answer is None else answer["results"]:
                if result.get("restricted"):
                    raise missing
                for main, included in provider.resources(
                    result, patient=person, kommunenummer=kommunenummer
                ):
                    publisher.group(
                        main,
                        included,
                        kommunenummer=kommunenummer,
                        person=person,
                        service=provider.service,
                    )
                    for resource in (main, *included):
                        if (
                            resource["id"] == logical_id
                            and resource["resourceType"] == resource_type
                        ):
                            # who holds it, as a search's entry says (issue 23 item 5)
                            held_by(holder_of(kommunenummer, tenant), resource)
                            return FhirResponse(resource)
        raise missing

    @router.get(PREFIX + "/{resource_type:fhir_type}", openapi_extra=SEARCH_QUERY)
    async def get_search_everywhere(
        request: Request, runtime: RuntimeDep, caller: CallerDep, resource_type: ResourceType
    ) -> Response:
        return await get_search(request, runtime, caller, resource_type, None)

    @router.get(
        PREFIX + "/{kommunenummer:fhir_kommune}/{resource_type:fhir_type}",
        openapi_extra=SEARCH_QUERY,
    )
    async def get_search_one(
        request: Request,
        runtime: RuntimeDep,
        caller: CallerDep,
        tenant: TenantDep,
        resource_type: ResourceType,
    ) -> Response:
        return await get_search(request, runtime, caller, resource_type, tenant.kommunenummer)

    @router.get(PREFIX + "/{resource_type:fhir_type}/{logical_id:fhir_id}")
    async def read_everywhere(
        request: Request,
        runtime: RuntimeDep,
        caller: CallerDep,
        resource_type: ResourceType,
        logical_id: LogicalId,
    ) -> Response:
        return await read(request, runtime, caller, resource_type, logical_id, None)

    @router.get(
        PREFIX + "/{kommunenummer:fhir_kommune}/{resource_type:fhir_type}/{logical_id:fhir_id}"
    )
    async def read_at_a_base(
        request: Request,
        runtime: RuntimeDep,
        caller: CallerDep,
        tenant: TenantDep,
        resource_type: ResourceType,
        logical_id: LogicalId,
    ) -> Response:
        return await read(request, runtime, caller, resource_type, logical_id, tenant.kommunenummer)

    @router.post(PREFIX + "/{resource_type:fhir_type}/_search", openapi_extra=SEARCH_BODY)
    async def search_everywhere(
        request: Request, runtime: RuntimeDep, caller: CallerDep, resource_type: ResourceType
    ) -> Response:
        return await posted_search(request, runtime, caller, resource_type, None)

    @router.post(
        PREFIX + "/{kommunenummer:fhir_kommune}/{resource_type:fhir_type}/_search",
        openapi_extra=SEARCH_BODY,
    )
    async def search_one(
        request: Request,
        runtime: RuntimeDep,
        caller: CallerDep,
        tenant: TenantDep,
        resource_type: ResourceType,
    ) -> Response:
        return await posted_search(request, runtime, caller, resource_type, tenant.kommunenummer)

    @router.post(PREFIX + "/{kommunenummer:fhir_kommune}", openapi_extra=RESOURCE_BODY)
    @router.post(  # the base URL as client libraries write it
        PREFIX + "/{kommunenummer:fhir_kommune}/",
        openapi_extra=RESOURCE_BODY,
        include_in_schema=False,
    )
    async def transaction(
        request: Request, runtime: RuntimeDep, caller: CallerDep, tenant: TenantDep
    ) -> Response:
        document = await read_json(request)
        answer = await run_in_threadpool(store_bundle, runtime, caller, tenant, served, document)
        return FhirResponse(answer)

    @router.put(
        PREFIX + "/{kommunenummer:fhir_kommune}/{resource_type:fhir_type}",
        openapi_extra=RESOURCE_BODY,
    )
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
        stored = await run_in_threadpool(
            store_one, runtime, caller, tenant, served, resource_type, document, identifier
        )
        where = f"{base_url(request, runtime)}/{tenant.kommunenummer}/{resource_type}"
        headers = {"Location": f"{where}/{stored.logical_id}"}
        if stored.version is not None:
            headers["ETag"] = f'W/"{stored.version}"'
        prefer = _prefer_return(request.headers.get("prefer"))
        if prefer == "minimal":
            return Response(status_code=stored.status, headers=headers)
        if prefer == "operationoutcome":
            return FhirResponse(
                information(SAID[stored.outcome]), status_code=stored.status, headers=headers
            )
        return FhirResponse(stored.resource, status_code=stored.status, headers=headers)

    @router.delete(PREFIX + "/{kommunenummer:fhir_kommune}/{resource_type:fhir_type}")
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

    @router.api_route(
        PREFIX + "/{rest:path}",
        methods=["GET", "POST", "PUT", "DELETE", "PATCH"],
        include_in_schema=False,
    )
    async def elsewhere(request: Request, runtime: RuntimeDep, rest: str) -> Response:
        """No other interaction. Where the deployment refuses person ids in URLs (its proxies
        log them), a URL with one is refused by name."""
        if runtime.settings.fhir_person_ids_in_urls == "refuse" and (
            _PERSON_ID.search(request.url.path) or _PERSON_ID.search(request.url.query)
        ):
            raise _person_in_url()
        on_type = _ON_TYPE.match(rest)
        if on_type and on_type.group("type") in served:
            conditional = on_type.group("kommune") and not on_type.group("id")
            raise MethodNotAllowed(
                f"{request.method} is not an interaction this server supports on "
                f"{on_type.group('type')} (create, update by id, patch and delete by id are not; "
                f"writes are transactions and conditional updates); see {PREFIX}/metadata",
                # search (and, at a base, the conditional ones) on a type; read on a resource
                headers={"Allow": "GET, PUT, DELETE" if conditional else "GET"},
            )
        raise NotFound(f"no such FHIR interaction; see {PREFIX}/metadata")

    return router


def _prefer_return(prefer: str | None) -> str:
    """``Prefer: return=…`` (R4 http.html): minimal, representation (the default) or
    OperationOutcome; any other preference is ignored, as RFC 7240 says."""
    for part in (prefer or "").replace(" ", "").lower().split(","):
        for token in part.split(";"):
            name, _eq, value = token.partition("=")
            if name == "return" and value.strip('"') in ("minimal", "operationoutcome"):
                return value.strip('"')
    return "representation"


def _person_in_url() -> BadRequest:
    return BadRequest(
        "a person's id never goes in a URL on this server (its proxies log URLs): search with "
        f"POST {PREFIX}/<type>/_search and the person in the form body "
        "(patient:identifier=urn:oid:2.16.578.1.12.4.1.4.1|<id>)",
        title="Person id in the URL",
    )


class PageExpired(Problem):
    """410: a page link older than ``JOURNALLOFT_FHIR_PAGE_SECONDS``."""

    status = 410
    title = "Page link expired"
    slug = "page-expired"


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
