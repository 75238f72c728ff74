"""Access checks as dependencies that name what they guard.

Each is an ``Annotated`` type a route takes as a parameter: a route that takes an
:data:`Operator` can only run for one of the municipality's own operators, admitted by its
policy. The checks themselves are :mod:`journalloft.platform.operations.access`, the same for
every face; these only wire them to the request. Service routes are made per service, so their
guards are made per service too (:func:`source_of`, :func:`reader_of`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends

from journalloft.platform.caller import Caller
from journalloft.platform.http.dependencies import CallerDep, RuntimeDep, TenantDep
from journalloft.platform.operations.access import (
    OperatorAccess,
    ReaderAccess,
    RestrictionAccess,
    SourceAccess,
    operator_access,
    reader_access,
    require_scope,
    restriction_access,
    source_access,
)
from journalloft.platform.plugins.service_protocol import SharingService

ADMIN_SCOPE = "admin"


def _operator(tenant: TenantDep, caller: CallerDep, runtime: RuntimeDep) -> OperatorAccess:
    return operator_access(runtime, caller, tenant)


def _restricter(tenant: TenantDep, caller: CallerDep, runtime: RuntimeDep) -> RestrictionAccess:
    return restriction_access(runtime, caller, tenant)


async def _platform_admin(caller: CallerDep) -> Caller:
    require_scope(caller, ADMIN_SCOPE)
    return caller


Operator = Annotated[OperatorAccess, Depends(_operator)]
"""One of the municipality's own operators (scope ``audit:read``), admitted by its policy."""
Restricter = Annotated[RestrictionAccess, Depends(_restricter)]
"""One of the municipality's own sources or operators (scope ``restrictions:write``)."""
PlatformAdmin = Annotated[Caller, Depends(_platform_admin)]
"""A client with the scope ``admin``: the platform's operator."""


def source_of(service: SharingService) -> Callable[..., SourceAccess]:
    """The guard of ``Annotated[SourceAccess, Depends(source_of(service))]``: a journal system
    the municipality granted to write ``service``, admitted by its policy."""

    def guard(tenant: TenantDep, caller: CallerDep, runtime: RuntimeDep) -> SourceAccess:
        # on a worker thread: a write's rate count is exact across processes (one INCR a
        # request), not batched as the event loop's lookups count (RedisKeyValue.count_async)
        return source_access(runtime, caller, tenant, service)

    return guard


def reader_of(service: SharingService) -> Callable[..., Awaitable[ReaderAccess]]:
    """The guard of ``Annotated[ReaderAccess, Depends(reader_of(service))]``: a client whose
    token may read ``service`` (each municipality's grant and policy are checked by the
    lookup)."""

    async def guard(caller: CallerDep) -> ReaderAccess:
        return reader_access(caller, service)

    return guard
