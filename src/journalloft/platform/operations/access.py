"""Who may do what: every check an operation makes before it touches data, written once.

A municipality decides, in its tenant file, which clients may write which services (sources),
read them (consumers) and read its audit log (operators). A token's scope is worth nothing
without that grant, and the municipality's policy (DPoP, attestation, rate limit) applies to
every client on every request.

The checks that concern one municipality named by the caller produce an *access*: a small value
that says what was checked (:class:`SourceAccess`, :class:`OperatorAccess`,
:class:`RestrictionAccess`). Operations take an access, so an operation cannot run unchecked;
the native API makes them as dependencies (``http/guards.py``), the command line makes the
operator's own (:meth:`OperatorAccess.command_line`). A lookup names its municipalities in its
body, so it takes a :class:`ReaderAccess` (the scope) and checks each municipality itself
(:func:`readable_tenants`, :func:`admit`, :func:`require_attestation`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from journalloft.platform.auth.tokens import AUDIT_READ_SCOPE, RESTRICTIONS_SCOPE
from journalloft.platform.caller import Caller
from journalloft.platform.core.errors import Forbidden, NotFound, RateLimited, Unauthorized
from journalloft.platform.core.tenancy import Tenant
from journalloft.platform.observability.metrics import RATE_LIMITED
from journalloft.platform.plugins.service_protocol import SharingService
from journalloft.platform.runtime import Runtime


def require_scope(caller: Caller, scope: str) -> None:
    if not caller.principal.has_scope(scope):
        raise Forbidden(f"the token does not carry the scope {scope}", title="Missing scope")


def require_service(tenant: Tenant, service: SharingService) -> None:
    if not tenant.has_service(service.name):
        raise NotFound(
            f"{tenant.name} has not adopted the service {service.name}",
            title="Service not enabled for this municipality",
        )


def _rate_key(tenant: Tenant, caller: Caller, now: float) -> str:
    window = int(now // 60)
    return f"rate:{tenant.kommunenummer}:{caller.client_id}:{window}"


def require_dpop_if_demanded(tenant: Tenant, caller: Caller) -> None:
    if tenant.policy.require_dpop and caller.principal.dpop_jkt is None:
        raise Unauthorized(f"{tenant.name} requires DPoP-bound tokens", scheme="DPoP")


def _within_rate(tenant: Tenant, hits: int, now: float) -> None:
    if hits > tenant.policy.rate_limit_per_minute:
        RATE_LIMITED.labels(tenant.kommunenummer).inc()
        raise RateLimited(
            f"more than {tenant.policy.rate_limit_per_minute} requests a minute to {tenant.name}",
            retry_after=max(1, 60 - int(now) % 60),
        )


def admit(runtime: Runtime, tenant: Tenant, caller: Caller) -> None:
    """The municipality's policy for every client on every request: DPoP where it requires it,
    then one request counted against its rate limit (shared by every process through Redis)."""
    require_dpop_if_demanded(tenant, caller)
    now = runtime.clock().timestamp()
    _within_rate(tenant, runtime.kv.count(_rate_key(tenant, caller, now), window_seconds=60), now)


async def admit_async(runtime: Runtime, tenant: Tenant, caller: Caller) -> None:
    """:func:`admit` on the event loop."""
    require_dpop_if_demanded(tenant, caller)
    now = runtime.clock().timestamp()
    hits = await runtime.kv.count_async(_rate_key(tenant, caller, now), window_seconds=60)
    _within_rate(tenant, hits, now)


def require_attestation(tenant: Tenant, caller: Caller) -> None:
    """The municipality's policy may demand a tillitsrammeverk attestation for patient lookups."""
    if tenant.policy.require_attestation and caller.principal.attestation is None:
        raise Forbidden(
            f"{tenant.name} requires a tillitsrammeverk attestation for patient lookups",
            title="Attestation required",
        )


@dataclass(frozen=True, slots=True)
class SourceAccess:
    """A journal system the municipality granted to write ``service``, admitted by its policy."""

    caller: Caller
    tenant: Tenant
    service: SharingService


def require_source_grant(caller: Caller, tenant: Tenant, service: SharingService) -> None:
    """The token's scope, the municipality's adoption of the service and its grant to write it
    (403 or 404 otherwise); the policy is :func:`admit`'s."""
    require_scope(caller, f"{service.name}:write")
    require_service(tenant, service)
    if not tenant.may_write(caller.client_id, service.name):
        raise Forbidden(
            f"{tenant.name} has not granted this client to write {service.name}",
            title="No grant from this municipality",
        )


def source_access(
    runtime: Runtime, caller: Caller, tenant: Tenant, service: SharingService
) -> SourceAccess:
    require_source_grant(caller, tenant, service)
    admit(runtime, tenant, caller)
    return SourceAccess(caller, tenant, service)


def source_accesses(
    runtime: Runtime, caller: Caller, tenant: Tenant, services: Sequence[SharingService]
) -> list[SourceAccess]:
    """One request's access to write several services (a FHIR transaction of two services'
    resources): each granted as :func:`source_access` checks it, the first refusal the answer,
    and the municipality's policy admitted once (one request, one count against its rate
    limit)."""
    for service in services:
        require_source_grant(caller, tenant, service)
    admit(runtime, tenant, caller)
    return [SourceAccess(caller, tenant, service) for service in services]


@dataclass(frozen=True, slots=True)
class OperatorAccess:
    """One of the municipality's own operators, reading its audit log; or the platform
    operator at the command line (:meth:`command_line`)."""

    caller: Caller
    tenant: Tenant

    @classmethod
    def command_line(cls, caller: Caller, tenant: Tenant) -> OperatorAccess:
        """The command line runs with the platform operator's authority on this machine: no
        token, no grant; what it reads is audited as ``cli:<user>`` all the same."""
        return cls(caller, tenant)


def operator_access(runtime: Runtime, caller: Caller, tenant: Tenant) -> OperatorAccess:
    require_scope(caller, AUDIT_READ_SCOPE)
    if not tenant.is_operator(caller.client_id):
        raise Forbidden(f"only {tenant.name}'s own operators may read its audit log")
    admit(runtime, tenant, caller)
    return OperatorAccess(caller, tenant)


@dataclass(frozen=True, slots=True)
class RestrictionAccess:
    """One of the municipality's own sources or operators, marking or lifting restrictions; or
    the platform operator at the command line (:meth:`command_line`)."""

    caller: Caller
    tenant: Tenant

    @classmethod
    def command_line(cls, caller: Caller, tenant: Tenant) -> RestrictionAccess:
        return cls(caller, tenant)


def restriction_access(runtime: Runtime, caller: Caller, tenant: Tenant) -> RestrictionAccess:
    require_scope(caller, RESTRICTIONS_SCOPE)
    if not (tenant.is_source(caller.client_id) or tenant.is_operator(caller.client_id)):
        raise Forbidden(
            f"only {tenant.name}'s own sources and operators may mark restrictions",
            title="No grant from this municipality",
        )
    admit(runtime, tenant, caller)
    return RestrictionAccess(caller, tenant)


@dataclass(frozen=True, slots=True)
class ReaderAccess:
    """A client whose token may read ``service``; each municipality's grant and policy are
    checked by the lookup, which knows which municipalities it asks."""

    caller: Caller
    service: SharingService


def reader_access(caller: Caller, service: SharingService) -> ReaderAccess:
    require_scope(caller, f"{service.name}:read")
    return ReaderAccess(caller, service)


def readable_tenants(
    runtime: Runtime, access: ReaderAccess, kommuner: list[str] | None
) -> list[Tenant]:
    """The municipalities a lookup asks: those named (each must have granted the client the
    service), or every one that did (none: 403)."""
    client_id, service = access.caller.client_id, access.service
    if kommuner is None:
        granted = runtime.tenants.readable_by(client_id, service.name)
        if not granted:
            raise Forbidden(
                f"no municipality has granted this client to read {service.name}",
                title="No grant from any municipality",
            )
        return granted
    targets = []
    for kommunenummer in kommuner:
        tenant = runtime.tenants.get(kommunenummer)
        if tenant is None:
            raise NotFound(
                f"no municipality {kommunenummer} on this platform", title="Unknown tenant"
            )
        require_service(tenant, service)
        if not tenant.may_read(client_id, service.name):
            raise Forbidden(
                f"{tenant.name} has not granted this client to read {service.name}",
                title="No grant from this municipality",
            )
        targets.append(tenant)
    return targets
