"""A municipality's audit log, for its own operators: the citizen's access log and the review
feed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from journalloft.platform.audit.log import FEED_MAX_PAGE
from journalloft.platform.http.dependencies import JsonBody, RuntimeDep
from journalloft.platform.http.guards import Operator
from journalloft.platform.http.openapi import ERRORS, json_body_spec
from journalloft.platform.http.problems import JSONResponse
from journalloft.platform.operations import audit_access
from journalloft.platform.operations.audit_access import AUDIT_QUERY_SCHEMA

router = APIRouter(tags=["Audit"])


@router.post(
    "/v1/tenants/{kommunenummer}/audit/query",
    response_class=JSONResponse,
    openapi_extra=json_body_spec(AUDIT_QUERY_SCHEMA),
    responses=ERRORS,
)
def post_audit_query(access: Operator, body: JsonBody, runtime: RuntimeDep) -> Any:
    """Tell who accessed one person's data in this municipality, newest first."""
    return audit_access.access_log(runtime, access, body)


@router.get(
    "/v1/tenants/{kommunenummer}/audit/events", response_class=JSONResponse, responses=ERRORS
)
def get_audit_events(
    access: Operator,
    runtime: RuntimeDep,
    since: Annotated[
        str | None, Query(max_length=64, description="RFC 3339; the first page starts here")
    ] = None,
    cursor: Annotated[
        str | None, Query(max_length=256, description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=FEED_MAX_PAGE)] = 500,
    break_the_glass: Annotated[
        bool, Query(description="only accesses that opened a restricted person")
    ] = False,
) -> Any:
    """Page through this municipality's audit log for log review, oldest first.

    ``cursor`` (from the previous page's ``next_cursor``) wins over ``since``; with neither the
    feed starts at the oldest event kept. Reading the feed is itself an audit event."""
    return audit_access.review_feed(
        runtime,
        access,
        after=audit_access.feed_position(since=since, cursor=cursor, now=access.caller.now),
        limit=limit,
        break_the_glass_only=break_the_glass,
    )
