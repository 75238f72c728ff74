"""SMART on FHIR for backend services: the system scopes the face's clients may ask for, each
standing for native scopes, and ``/.well-known/smart-configuration`` at every FHIR base.

A scope is ``system/<type>.<permissions>`` (SMART App Launch v2) or its v1 form. What it stands
for is derived from the providers the services bring, so a new provider brings its scopes:

- ``.rs`` (v1 ``.read``): the read scope of each service that serves the type (``news2:read``
  for Observation); read and search come together, as the native read scope gives both;
- ``.cud`` (v1 ``.write``): their write scope (transactions, conditional update and delete);
- ``.cruds`` (v1 ``.*``): both;
- ``system/*``: the same for every service the face serves.

A scope stands for native scopes and never gives more: a native scope is worth nothing without
the municipality's grant in its tenant document. Patient- and user-level scopes and the app
launch scopes are refused with the reason (there is no user and no patient in context: a
legevakt system looks up the people the municipalities share with it), and so is any other
permission set, which would give more than it asks (``.r`` alone, ``.c`` alone).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Final

from fastapi import APIRouter, Path
from starlette.responses import JSONResponse

from journalloft.faces.fhir.kit import providers_of
from journalloft.platform.face import (
    ASYMMETRIC_ALGORITHMS,
    TILLITSRAMMEVERK,
    NotFound,
    Runtime,
    RuntimeDep,
    ScopeVocabulary,
    Settings,
    SharingService,
    parts_of,
)

PREFIX: Final = "/fhir"
WELL_KNOWN: Final = "/.well-known/smart-configuration"

PERMISSIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "rs": ("read",),
    "cud": ("write",),
    "cruds": ("read", "write"),
    "read": ("read",),
    "write": ("write",),
    "*": ("read", "write"),
}
"""Each permission suffix a scope may have (v2's, then v1's) and the native kinds it stands for."""

CAPABILITIES: Final = ("client-confidential-asymmetric", "permission-v1", "permission-v2")
"""What is true of the platform among SMART's capabilities: backend services authenticate with
``private_key_jwt``; scopes in v2's and v1's syntax. No launch, no user, no public or symmetric
client, no OpenID Connect, no refresh tokens, no granular (query) scopes."""

LAUNCH_SCOPES: Final = frozenset(
    {"launch", "openid", "fhirUser", "profile", "online_access", "offline_access"}
)
_SCOPE: Final = re.compile(
    r"^(?P<context>patient|user|system)/(?P<type>\*|[A-Z][A-Za-z]{0,63})"
    r"\.(?P<permissions>[a-z*]{1,5})(?:\?(?P<query>.*))?$"
)
_V2_PERMISSIONS: Final = re.compile(r"^c?r?u?d?s?$")


def served_types(services: Mapping[str, SharingService]) -> dict[str, tuple[str, ...]]:
    """Each resource type the services' providers serve, and the services that serve it."""
    found: dict[str, list[str]] = {}
    for name, service in services.items():
        for provider in providers_of(parts_of(service, "fhir"), service=name):
            found.setdefault(provider.resource_type, []).append(name)
    return {kind: tuple(found[kind]) for kind in sorted(found)}


def vocabulary(services: Mapping[str, SharingService]) -> ScopeVocabulary:
    """SMART's system scopes for the resource types the services serve."""
    types = served_types(services)
    every = tuple(dict.fromkeys(name for names in types.values() for name in names))
    aliases: dict[str, frozenset[str]] = {}
    for kind, names in [*types.items(), ("*", every)]:
        if not names:
            continue
        for suffix, kinds in PERMISSIONS.items():
            aliases[f"system/{kind}.{suffix}"] = frozenset(
                f"{name}:{k}" for name in names for k in kinds
            )
    listed = ", ".join(types) or "no type"
    supported = (
        "supported: system/<type>.rs (read and search), .cud (create, update, delete) or .cruds "
        f"(SMART v2; v1: .read, .write, .*), for {listed} or *"
    )

    def refusal(scope: str) -> str | None:
        if scope in LAUNCH_SCOPES or scope.startswith("launch/"):
            return (
                "an app launch scope: this server serves backend services only "
                "(client_credentials), with no user and no patient in context"
            )
        match = _SCOPE.match(scope)
        if match is None:
            if scope.startswith(("system/", "patient/", "user/")):
                return "not a SMART scope: system/<type>.<permissions>"
            return None
        if match["context"] != "system":
            return (
                f"{match['context']}-level scopes are not offered: a system here looks up the "
                "people the municipalities share with it, with no patient or user in context; "
                "ask for system/ scopes"
            )
        if match["query"] is not None:
            return "granular scopes (with a query) are not offered: a scope covers its whole type"
        if match["type"] != "*" and match["type"] not in types:
            return f"this server serves no {match['type']}"
        if _V2_PERMISSIONS.match(match["permissions"]):
            return (
                "the native scopes give read and search together (.rs) and create, update and "
                f"delete together (.cud): .{match['permissions']} would give more than it asks"
            )
        return f"not a permission: .{match['permissions']}"

    return ScopeVocabulary(
        name="SMART on FHIR", aliases=aliases, refusal=refusal, supported=supported
    )


def authority(runtime: Runtime) -> dict[str, Any] | None:
    """Where clients get tokens, as the smart-configuration names it: the first trusted issuer
    with a ``token_endpoint`` configured (HelseID), else the built-in issuer; None: neither."""
    for trusted in runtime.settings.trusted_issuers:
        if trusted.token_endpoint:
            named: dict[str, Any] = {
                "issuer": trusted.issuer,
                "token_endpoint": trusted.token_endpoint,
            }
            if trusted.jwks_uri:
                named["jwks_uri"] = trusted.jwks_uri
            if trusted.token_endpoint_auth_signing_alg_values_supported:
                named["token_endpoint_auth_signing_alg_values_supported"] = list(
                    trusted.token_endpoint_auth_signing_alg_values_supported
                )
            return named
    if runtime.issuer is not None:
        metadata = runtime.issuer.metadata([])
        return {
            key: metadata[key]
            for key in (
                "issuer",
                "token_endpoint",
                "jwks_uri",
                "token_endpoint_auth_signing_alg_values_supported",
            )
        }
    return None


def token_endpoint(settings: Settings) -> str | None:
    """The token endpoint :func:`authority` names, from the settings alone (for the
    CapabilityStatement's ``oauth-uris``, where fhirclient looks for it)."""
    for trusted in settings.trusted_issuers:
        if trusted.token_endpoint:
            return trusted.token_endpoint
    return settings.issuer_url + "/oauth/token" if settings.builtin_issuer else None


def smart_configuration(runtime: Runtime, scopes: ScopeVocabulary) -> dict[str, Any]:
    """The SMART App Launch v2 configuration document for backend services."""
    named = authority(runtime)
    if named is None:
        raise NotFound(
            "no token endpoint is configured: set the trusted issuer's token_endpoint "
            "(JOURNALLOFT_TRUSTED_ISSUERS) or turn the built-in issuer on",
            title="No token endpoint",
        )
    return {
        **named,
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "scopes_supported": list(scopes.aliases),
        "capabilities": list(CAPABILITIES),
        "dpop_signing_alg_values_supported": list(ASYMMETRIC_ALGORITHMS),
        "dpop_bound_access_tokens_required": not runtime.settings.allow_bearer,
        "authorization_details_types_supported": [TILLITSRAMMEVERK],
    }


Kommunenummer = Annotated[str, Path(pattern=r"^[0-9]{4}$")]


def smart_router(services: Mapping[str, SharingService]) -> APIRouter:
    """``GET /fhir/.well-known/smart-configuration`` and the same at each municipality's base
    (``404`` for a municipality not on the platform). Needs no token."""
    scopes = vocabulary(services)
    router = APIRouter(tags=["FHIR R4"], include_in_schema=False)

    @router.get(PREFIX + WELL_KNOWN)
    async def configuration(runtime: RuntimeDep) -> JSONResponse:
        return JSONResponse(smart_configuration(runtime, scopes))

    @router.get(PREFIX + "/{kommunenummer}" + WELL_KNOWN)
    async def configuration_of_a_base(
        runtime: RuntimeDep, kommunenummer: Kommunenummer
    ) -> JSONResponse:
        if runtime.tenants.get(kommunenummer) is None:
            raise NotFound(f"no municipality {kommunenummer} on this platform")
        return JSONResponse(smart_configuration(runtime, scopes))

    return router
