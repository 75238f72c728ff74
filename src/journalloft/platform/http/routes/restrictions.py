"""Restrictions (sperring), marked and lifted by the municipality's own sources and operators."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from journalloft.platform.http.dependencies import JsonBody, RuntimeDep
from journalloft.platform.http.guards import Restricter
from journalloft.platform.http.openapi import ERRORS, json_body_spec
from journalloft.platform.http.problems import JSONResponse
from journalloft.platform.operations import restrictions

router = APIRouter(tags=["Restrictions"])


@router.put(
    "/v1/tenants/{kommunenummer}/restrictions",
    response_class=JSONResponse,
    openapi_extra=json_body_spec(restrictions.RESTRICTION_SCHEMA),
    responses=ERRORS,
)
def put_restriction(access: Restricter, body: JsonBody, runtime: RuntimeDep) -> Any:
    """Mark (restricted: true) or lift (false) one person's restriction on sharing."""
    return restrictions.change_restriction(runtime, access, body)
