"""A municipality's usage and data-quality report, for its own operators."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from starlette.responses import Response

from journalloft.platform.http.dependencies import RuntimeDep
from journalloft.platform.http.guards import Operator
from journalloft.platform.http.openapi import ERRORS
from journalloft.platform.http.problems import JSONResponse
from journalloft.platform.http.report_pages import PAGE_POLICY, to_csv, to_html
from journalloft.platform.operations import usage_report

router = APIRouter(tags=["Audit"])


@router.get(
    "/v1/tenants/{kommunenummer}/report",
    response_class=JSONResponse,
    responses={
        200: {
            "description": "The report as JSON, CSV or one self-contained HTML page",
            "content": {"text/csv": {}, "text/html": {}},
        },
        **ERRORS,
    },
)
def get_report(
    access: Operator,
    runtime: RuntimeDep,
    start: Annotated[
        str | None,
        Query(alias="from", max_length=10, description="first day, YYYY-MM-DD (Norway)"),
    ] = None,
    end: Annotated[
        str | None,
        Query(alias="to", max_length=10, description="last day, YYYY-MM-DD, included"),
    ] = None,
    format: Annotated[Literal["json", "csv", "html"], Query()] = "json",  # noqa: A002
) -> Any:
    """Usage and data quality for a period of at most a year (default: the last 30 days):
    lookups, people, hit rate, restricted answers, break-the-glass, data age, pushes by outcome,
    people covered, event streams; per service and consumer organisation, per day and hour of the
    day. No person in it; counts 1–4 are shown as "<5". Reading it is an audit event."""
    period = usage_report.parse_period(start, end, now=access.caller.now)
    report = usage_report.usage_report(runtime, access, period)
    name = f"journalloft-report-{access.tenant.kommunenummer}-{period.first}-{period.last}"
    if format == "csv":
        return Response(
            to_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{name}.csv"'},
        )
    if format == "html":
        return Response(
            to_html(report),
            media_type="text/html; charset=utf-8",
            headers={"content-security-policy": PAGE_POLICY},
        )
    return report
