"""What a load balancer and the platform's operator ask: liveness, readiness, the tenants."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from journalloft.platform.auth.tokens import METRICS_SCOPE
from journalloft.platform.core.errors import ServiceUnavailable
from journalloft.platform.http.dependencies import CallerDep, RuntimeDep
from journalloft.platform.http.guards import PlatformAdmin
from journalloft.platform.http.openapi import ERRORS, PROBLEM
from journalloft.platform.http.problems import JSONResponse
from journalloft.platform.observability.metrics import CONTENT_TYPE, render, sample_pools
from journalloft.platform.operations.access import require_scope
from journalloft.platform.runtime import Runtime
from journalloft.platform.storage.migrations import platform_is_current, tenant_is_current

router = APIRouter(tags=["Operations"])


@router.get("/healthz", response_class=JSONResponse)
def healthz() -> Any:
    """Answer while the process is alive."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_class=JSONResponse,
    responses={503: {"description": "Not ready", "content": PROBLEM}},
)
def readyz(runtime: RuntimeDep) -> Any:
    """Answer 200 when the stores are reachable and migrated and Redis answers."""
    checks: dict[str, str] = {}
    try:
        checks["platform_store"] = "ok" if platform_is_current(runtime.stores) else "not migrated"
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
        raise ServiceUnavailable("not ready: " + ", ".join(f"{k} {v}" for k, v in failing.items()))
    return {"status": "ready", "checks": checks}


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"description": "Prometheus text format", "content": {CONTENT_TYPE: {}}},
        401: ERRORS[401],
        403: ERRORS[403],
    },
)
def metrics(caller: CallerDep, runtime: RuntimeDep) -> Response:
    """The platform's metrics in Prometheus' text format, for a token with the scope
    ``metrics:read`` (docs/operations.md names each metric)."""
    require_scope(caller, METRICS_SCOPE)
    sample(runtime)
    return Response(render(), media_type=CONTENT_TYPE)


def sample(runtime: Runtime) -> None:
    """Set this process's pool gauges (each worker also does so every few seconds)."""
    sample_pools(runtime.stores.pool_usage(), runtime.query_path.pool_usage())


@router.get(
    "/v1/tenants", response_class=JSONResponse, responses={401: ERRORS[401], 403: ERRORS[403]}
)
def list_tenants(_admin: PlatformAdmin, runtime: RuntimeDep) -> Any:
    """List the municipalities on the platform and the services each has adopted."""
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
