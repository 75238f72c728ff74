"""The routes every sharing service gets: ingest, withdraw and lookup.

They are made per service (:func:`service_router`) rather than once with a ``{service}`` path
parameter, so that the OpenAPI document shows each service's own request and result schemas.
"""

# No "from __future__ import annotations": the routes below annotate their parameters with
# dependencies made for this service (local names), which FastAPI must see as values.

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from starlette.convertors import Convertor, register_url_convertor

from journalloft.platform.core.errors import NotFound
from journalloft.platform.http.body import read_json
from journalloft.platform.http.dependencies import (
    JsonBody,
    RuntimeDep,
    get_caller,
    get_principal,
    get_runtime,
)
from journalloft.platform.http.guards import reader_of, source_of
from journalloft.platform.http.openapi import COMMON_SCHEMA, ERRORS, json_body_spec, schema_ref
from journalloft.platform.http.problems import JSONResponse
from journalloft.platform.operations import sharing
from journalloft.platform.operations.access import SourceAccess
from journalloft.platform.plugins.registry import ingest_schema_id
from journalloft.platform.plugins.service_protocol import SharingService


class RecordIdConvertor(Convertor[str]):
    """A source's record id in a path: one or more characters, ``/`` included (an EPJ may well
    number its records ``2026/117``), but never empty, so ``…/records/`` is no record's path."""

    regex = "[^/].*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("record_id", RecordIdConvertor())
RecordId = Annotated[str, Path(min_length=1, max_length=128)]
INGEST_RESULT = schema_ref(COMMON_SCHEMA, "/$defs/ingest_result")


def lookup_answer_schema(service: SharingService) -> dict[str, Any]:
    return {
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


def service_router(service: SharingService) -> APIRouter:
    """The routes of one sharing service."""
    router = APIRouter(tags=[service.title])
    name, operation = service.name, service.name.replace("-", "_")
    reader_guard = reader_of(service)
    source = Depends(source_of(service))

    @router.post(
        f"/v1/tenants/{{kommunenummer}}/{name}/records",
        operation_id=f"ingest_{operation}",
        summary=f"Push {service.title} records from a journal system",
        response_class=JSONResponse,
        openapi_extra=json_body_spec(ingest_schema_id(service)),
        responses={
            200: {"content": {"application/json": {"schema": INGEST_RESULT}}},
            **ERRORS,
        },
    )
    def post_records(
        access: Annotated[SourceAccess, source], body: JsonBody, runtime: RuntimeDep
    ) -> Any:
        """Store a batch of records: all or nothing, idempotent per (source, id)."""
        return sharing.ingest(runtime, access, body).as_dict()

    @router.delete(
        f"/v1/tenants/{{kommunenummer}}/{name}/records/{{record_id:record_id}}",
        operation_id=f"withdraw_{operation}",
        summary=f"Withdraw a {service.title} record sent in error",
        status_code=204,
        response_class=Response,
        responses=ERRORS,
    )
    def delete_record(
        access: Annotated[SourceAccess, source], record_id: RecordId, runtime: RuntimeDep
    ) -> Response:
        """Withdraw one record by the source that sent it."""
        sharing.withdraw(runtime, access, record_id)
        return Response(status_code=204)

    @router.post(
        f"/v1/{name}/query",
        operation_id=f"query_{operation}",
        summary=f"Look up {service.title} for up to 200 people",
        response_class=JSONResponse,
        openapi_extra=json_body_spec(service.query_schema),
        responses={
            200: {"content": {"application/json": {"schema": lookup_answer_schema(service)}}},
            **ERRORS,
        },
    )
    async def post_query(request: Request) -> Response:
        """Return what the granting municipalities hold on these people."""
        # The legevakt's hot path: the same steps as the dependencies ``reader`` and
        # ``JsonBody`` (the caller authenticated first, then the body read), called directly
        # rather than solved by FastAPI per request (about 5 % of a lookup's CPU in a profile).
        runtime = await get_runtime(request)
        access = await reader_guard(
            await get_caller(request, await get_principal(request, runtime), runtime)
        )
        body = await read_json(request)
        return JSONResponse(await sharing.look_up(runtime, access, body))

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
