"""The dependency vocabulary of the routes."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import Depends, Path, Request

from journalloft.platform.audit import RequestContext
from journalloft.platform.auth import Principal, principal_from_claims, verify_dpop_proof
from journalloft.platform.errors import NotFound, Unauthorized
from journalloft.platform.http import correlation_id, read_json
from journalloft.platform.runtime import Runtime
from journalloft.platform.settings import Settings
from journalloft.platform.tenancy import Tenant


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_settings_from_runtime(runtime: RuntimeDep) -> Settings:
    return runtime.settings


SettingsDep = Annotated[Settings, Depends(get_settings_from_runtime)]
JsonBody = Annotated[Any, Depends(read_json)]


def request_url(request: Request, settings: Settings) -> str:
    """The URL the client used, as DPoP's ``htu`` must name it."""
    if settings.public_url:
        return settings.public_url.rstrip("/") + request.url.path
    return str(request.url.replace(query=None, fragment=None))


def get_principal(request: Request, runtime: RuntimeDep) -> Principal:
    """Authenticate the caller from ``Authorization`` (and ``DPoP``)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    scheme, token = scheme.lower(), token.strip()
    if scheme not in ("bearer", "dpop") or not token:
        raise Unauthorized("an access token is required", error="invalid_request")
    claims, issuer = runtime.verifier.verify(token)
    principal = principal_from_claims(claims, issuer=issuer)
    if scheme == "dpop":
        proof = request.headers.get("dpop")
        if not proof:
            raise Unauthorized(
                "a DPoP proof is required", error="invalid_dpop_proof", scheme="DPoP"
            )
        jkt = verify_dpop_proof(
            proof,
            method=request.method,
            url=request_url(request, runtime.settings),
            access_token=token,
            replay=runtime.kv,
            now=time.time(),
        )
        if principal.dpop_jkt != jkt:
            raise Unauthorized("the token is not bound to the DPoP proof's key", scheme="DPoP")
    elif principal.dpop_jkt is not None:
        raise Unauthorized("a DPoP-bound token must be sent as Authorization: DPoP", scheme="DPoP")
    elif not runtime.settings.allow_bearer:
        raise Unauthorized("bearer tokens are not accepted here: use DPoP", scheme="DPoP")
    request.scope["state"]["client_id"] = principal.client_id
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_tenant(
    kommunenummer: Annotated[str, Path(pattern=r"^[0-9]{4}$", examples=["1804"])],
    runtime: RuntimeDep,
) -> Tenant:
    """The tenant named in the path; 404 if it is not onboarded."""
    tenant = runtime.tenants.get(kommunenummer)
    if tenant is None:
        raise NotFound(f"no municipality {kommunenummer} on this platform", title="Unknown tenant")
    return tenant


TenantDep = Annotated[Tenant, Depends(get_tenant)]


def get_request_context(
    request: Request, principal: PrincipalDep, runtime: RuntimeDep
) -> RequestContext:
    epj_system = request.headers.get("x-epj-system")
    return RequestContext(
        principal=principal,
        correlation_id=correlation_id(request),
        epj_system=epj_system[:200] if epj_system else None,
        now=runtime.clock(),
    )


ContextDep = Annotated[RequestContext, Depends(get_request_context)]
