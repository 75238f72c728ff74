"""The dependency vocabulary of the routes: the runtime, the JSON body, the authenticated
principal, the municipality in the path, and the :class:`Caller` every operation takes."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from starlette.concurrency import run_in_threadpool

from journalloft.platform.auth.attestation import (
    ATTESTATION_HEADER,
    AttestationRefused,
    attestation_from_header,
)
from journalloft.platform.auth.dpop import verify_dpop_proof
from journalloft.platform.auth.tokens import Principal, bound_key, principal_from_claims
from journalloft.platform.caller import Caller
from journalloft.platform.core.errors import NotFound, Unauthorized
from journalloft.platform.core.settings import Settings
from journalloft.platform.core.tenancy import Tenant
from journalloft.platform.http.body import read_json
from journalloft.platform.http.problems import correlation_id
from journalloft.platform.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


JsonBody = Annotated[Any, Depends(read_json)]


def request_url(request: Request, settings: Settings) -> str:
    """The URL the client used, as DPoP's ``htu`` must name it: the public URL and the path as
    sent (still percent-encoded), without the query."""
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else request.url.path
    path = path.split("?", 1)[0]
    if settings.public_url:
        return settings.public_url.rstrip("/") + path
    return f"{request.url.scheme}://{request.url.netloc}{path}"


def _single_header(request: Request, name: str, *, scheme: str, error: str) -> str | None:
    values = request.headers.getlist(name)
    if len(values) > 1:
        raise Unauthorized(f"send one {name} header, not {len(values)}", error=error, scheme=scheme)
    return values[0] if values else None


async def get_principal(request: Request, runtime: RuntimeDep) -> Principal:
    """Authenticate the caller from ``Authorization`` (and ``DPoP``), then read its attestation.

    ``Authorization: DPoP`` needs exactly one valid ``DPoP`` proof of the key the token is bound
    to; a token bound to a key is refused as ``Bearer``; an unbound token is accepted as
    ``Bearer`` only where the deployment allows it. Every 401 challenges in the scheme the client
    used. The attestation comes from the ``Tillitsrammeverk-Attestation`` header if sent (it
    replaces one in the token), else from the token's ``authorization_details``.

    Runs on the event loop; what may wait on the network (an issuer's keys for a token not seen
    before, the DPoP replay check in Redis) runs on a worker thread.
    """
    header = _single_header(request, "authorization", scheme="Bearer", error="invalid_request")
    if not header:
        raise Unauthorized("an access token is required", error=None)
    scheme, _, token = header.partition(" ")
    scheme, token = scheme.lower(), token.strip()
    if scheme not in ("bearer", "dpop") or not token:
        raise Unauthorized(
            "an access token is required: Authorization: DPoP (or Bearer)", error="invalid_request"
        )
    challenge = "DPoP" if scheme == "dpop" else "Bearer"
    known = runtime.verifier.remembered(token)
    if known is None:
        known = await run_in_threadpool(runtime.verifier.verify, token, scheme=challenge)
    claims, issuer = known
    now = time.time()
    bound_to = bound_key(claims)
    if scheme == "dpop":
        proof = _single_header(request, "dpop", scheme="DPoP", error="invalid_dpop_proof")
        if not proof:
            raise Unauthorized(
                "a DPoP proof is required", error="invalid_dpop_proof", scheme="DPoP"
            )
        jkt = await run_in_threadpool(
            verify_dpop_proof,
            proof,
            method=request.method,
            url=request_url(request, runtime.settings),
            access_token=token,
            replay=runtime.kv,
            now=now,
        )
        if bound_to is None:
            raise Unauthorized("the access token is not bound to a key (cnf.jkt)", scheme="DPoP")
        if bound_to != jkt:
            raise Unauthorized(
                "the access token is bound to another key than the DPoP proof's",
                error="invalid_dpop_proof",
                scheme="DPoP",
            )
    elif bound_to is not None:
        raise Unauthorized("a DPoP-bound token must be sent as Authorization: DPoP", scheme="DPoP")
    elif not runtime.settings.allow_bearer:
        raise Unauthorized("bearer tokens are not accepted here: use DPoP", scheme="DPoP")
    attestations = request.headers.getlist(ATTESTATION_HEADER)
    principal = principal_from_claims(
        claims, issuer=issuer, now=now, read_attestation=not attestations, scopes=runtime.scopes
    )
    request.scope["state"]["client_id"] = principal.client_id
    if len(attestations) > 1:
        raise AttestationRefused(f"send one {ATTESTATION_HEADER} header")
    if attestations:
        attestation = attestation_from_header(
            attestations[0],
            client_id=principal.client_id,
            dpop_jkt=principal.dpop_jkt if scheme == "dpop" else None,
            audience=runtime.settings.issuer_url,
            now=now,
        )
        principal = replace(principal, attestation=attestation)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_tenant(
    request: Request,
    kommunenummer: Annotated[str, Path(pattern=r"^[0-9]{4}$", examples=["1804"])],
    runtime: RuntimeDep,
    _authenticated: PrincipalDep,
) -> Tenant:
    """The tenant named in the path; 404 if it is not onboarded.

    The caller is authenticated first, so that a request without a valid token gets the same 401
    whether the municipality exists or not: the platform's list of tenants is not for strangers.
    """
    await runtime.tenants.refresh()
    tenant = runtime.tenants.get(kommunenummer)
    if tenant is None:
        raise NotFound(f"no municipality {kommunenummer} on this platform", title="Unknown tenant")
    request.scope["state"]["kommunenummer"] = tenant.kommunenummer  # onboarded: safe to log
    return tenant


TenantDep = Annotated[Tenant, Depends(get_tenant)]


async def get_caller(request: Request, principal: PrincipalDep, runtime: RuntimeDep) -> Caller:
    epj_system = request.headers.get("x-epj-system")
    return Caller(
        principal=principal,
        correlation_id=correlation_id(request),
        epj_system=epj_system[:200] if epj_system else None,
        now=runtime.clock(),
    )


CallerDep = Annotated[Caller, Depends(get_caller)]
