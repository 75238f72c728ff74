"""The built-in issuer's endpoints (HelseID-like, for development, tests and pilots): its
metadata (RFC 8414), its keys, and the token endpoint (client_credentials with private_key_jwt,
optionally DPoP-bound). Production turns it off: these answer 404."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from journalloft.platform.auth.issuer import BuiltinIssuer
from journalloft.platform.auth.tokens import (
    AUDIT_READ_SCOPE,
    METRICS_SCOPE,
    RESTRICTIONS_SCOPE,
)
from journalloft.platform.core.errors import NotFound, OAuthError, Problem
from journalloft.platform.core.strings import form_pairs
from journalloft.platform.http.dependencies import RuntimeDep
from journalloft.platform.http.openapi import ERRORS
from journalloft.platform.http.problems import JSONResponse
from journalloft.platform.runtime import Runtime

router = APIRouter(tags=["Built-in token issuer"])


def builtin(runtime: Runtime) -> BuiltinIssuer:
    if runtime.issuer is None:
        raise NotFound("the built-in issuer is turned off here", title="No built-in issuer")
    return runtime.issuer


@router.get("/.well-known/oauth-authorization-server", response_class=JSONResponse)
def metadata(runtime: RuntimeDep) -> Any:
    """Describe the built-in issuer (RFC 8414)."""
    scopes = [f"{s}:{a}" for s in runtime.services for a in ("read", "write")]
    return builtin(runtime).metadata(
        [
            *scopes,
            AUDIT_READ_SCOPE,
            RESTRICTIONS_SCOPE,
            METRICS_SCOPE,
            "admin",
            *runtime.scopes.aliases,
        ]
    )


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
    responses={400: ERRORS[400], 401: ERRORS[401]},
)
async def token(request: Request, runtime: RuntimeDep) -> Any:
    """Issue an access token for client_credentials with private_key_jwt (and DPoP)."""
    issuer = builtin(runtime)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise OAuthError(
            "invalid_request", "send the token request as application/x-www-form-urlencoded"
        )
    try:
        form = dict(form_pairs(await request.body(), prefix="", whitespace=True))
    except Problem as problem:  # the platform's rule for strings, as for a query string
        where = "; ".join(
            f"{e.pointer.lstrip('/') or 'the form'} {e.message}" for e in problem.errors
        )
        raise OAuthError("invalid_request", f"{problem.detail}: {where}") from problem
    response = await run_in_threadpool(
        issuer.token, form, dpop=request.headers.get("dpop"), scopes=runtime.scopes
    )
    return JSONResponse(response, headers={"Cache-Control": "no-store"})
