"""Tenants: one per municipality, keyed by its kommunenummer and described by its YAML file."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from journalloft.platform.core.errors import FieldError
from journalloft.platform.core.identifiers import parse_organisasjonsnummer
from journalloft.platform.core.jsonschemas import SCHEMA_BASE, Schemas

TENANT_SCHEMA_ID = SCHEMA_BASE + "tenant.schema.json"
KOMMUNENUMMER = re.compile(r"^(?!0000)[0-9]{4}$")


def is_kommunenummer(value: object) -> bool:
    return isinstance(value, str) and KOMMUNENUMMER.fullmatch(value) is not None


@functools.lru_cache(maxsize=4096)
def tenant_schema_name(kommunenummer: str) -> str:
    """The PostgreSQL schema that holds one tenant's store; the only place the name is built,
    and only from four digits (it is written into SQL text: see ``storage/statements.py``)."""
    if not is_kommunenummer(kommunenummer):
        raise ValueError("a kommunenummer is four digits")
    return f"tenant_{kommunenummer}"


DEFAULT_RETENTION_YEARS = 5
"""How many years a tenant's audit events are kept unless its policy says otherwise."""


@dataclass(frozen=True, slots=True)
class ClientGrant:
    """A client the tenant trusts, and the services it may use there."""

    client_id: str
    name: str
    services: frozenset[str]
    jwks: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Policy:
    """A tenant's security policy (``policy`` in its file).

    - ``require_dpop``: every client must call with a DPoP-bound token (401 otherwise).
    - ``require_attestation``: a patient lookup needs a tillitsrammeverk attestation (403).
    - ``allow_break_the_glass``: purpose BTG opens restricted people's data (flagged, reported).
    - ``rate_limit_per_minute``: requests per client to this tenant (429 beyond it).
    - ``audit_retention_years``: how long audit events are kept (5 years by default).
    """

    require_dpop: bool = False
    require_attestation: bool = False
    allow_break_the_glass: bool = False
    rate_limit_per_minute: int = 1200
    audit_retention_years: int = DEFAULT_RETENTION_YEARS


@dataclass(frozen=True, slots=True)
class Tenant:
    kommunenummer: str
    name: str
    organisasjonsnummer: str
    services: Mapping[str, Mapping[str, Any]]
    sources: tuple[ClientGrant, ...]
    consumers: tuple[ClientGrant, ...]
    operators: tuple[ClientGrant, ...]
    policy: Policy
    document: Mapping[str, Any] = field(repr=False)

    def has_service(self, service: str) -> bool:
        return service in self.services

    def service_settings(self, service: str) -> Mapping[str, Any]:
        return self.services.get(service, {})

    def may_write(self, client_id: str, service: str) -> bool:
        return self.has_service(service) and any(
            g.client_id == client_id and service in g.services for g in self.sources
        )

    def may_read(self, client_id: str, service: str) -> bool:
        return self.has_service(service) and any(
            g.client_id == client_id and service in g.services for g in self.consumers
        )

    def is_operator(self, client_id: str) -> bool:
        return any(g.client_id == client_id for g in self.operators)

    def is_source(self, client_id: str) -> bool:
        return any(g.client_id == client_id for g in self.sources)

    def clients(self) -> tuple[ClientGrant, ...]:
        return self.sources + self.consumers + self.operators


class TenantFileError(Exception):
    """A tenant file was refused; ``str()`` names the file, each field and the reason."""

    def __init__(self, source: str, errors: list[FieldError]) -> None:
        self.source = source
        self.errors = errors
        lines = "; ".join(f"{e.pointer or '/'}: {e.message}" for e in errors)
        super().__init__(f"{source}: {lines}")


def _grants(items: list[dict[str, Any]]) -> tuple[ClientGrant, ...]:
    return tuple(
        ClientGrant(
            client_id=item["client_id"],
            name=item["name"],
            services=frozenset(item.get("services", ())),
            jwks=tuple(item.get("jwks", {}).get("keys", ())),
        )
        for item in items
    )


def tenant_from_document(
    document: Mapping[str, Any],
    *,
    schemas: Schemas,
    services: Mapping[str, str | None],
    source: str = "tenant document",
) -> Tenant:
    """Validate a tenant document against its schema and the registered services.

    ``services`` maps each registered service to the ``$id`` of its settings schema (or None).
    """
    errors = schemas.errors(document, TENANT_SCHEMA_ID)
    if errors:
        raise TenantFileError(source, errors)
    try:
        parse_organisasjonsnummer(document["organisasjonsnummer"])
    except ValueError as exc:
        errors.append(FieldError("/organisasjonsnummer", str(exc)))
    adopted: dict[str, Any] = document["services"]
    for name, settings in adopted.items():
        if name not in services:
            known = ", ".join(sorted(services))
            errors.append(FieldError(f"/services/{name}", f"unknown service (known: {known})"))
        elif services[name] is not None:
            errors += schemas.errors(
                settings or {}, str(services[name]), prefix=f"/services/{name}"
            )
    for role in ("sources", "consumers"):
        for i, grant in enumerate(document.get(role, [])):
            for j, name in enumerate(grant.get("services", [])):
                if name not in adopted:
                    errors.append(
                        FieldError(f"/{role}/{i}/services/{j}", f"{name} is not enabled here")
                    )
    if errors:
        raise TenantFileError(source, errors)
    policy = document.get("policy", {})
    return Tenant(
        kommunenummer=document["kommunenummer"],
        name=document["name"],
        organisasjonsnummer=document["organisasjonsnummer"],
        services={name: dict(value or {}) for name, value in adopted.items()},
        sources=_grants(document.get("sources", [])),
        consumers=_grants(document.get("consumers", [])),
        operators=_grants(document.get("operators", [])),
        policy=Policy(**policy),
        document=document,
    )


def load_tenant_file(path: Path, *, schemas: Schemas, services: Mapping[str, str | None]) -> Tenant:
    """Read and validate one ``tenants/*.yaml`` file."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TenantFileError(str(path), [FieldError("", exc.strerror or str(exc))]) from exc
    except yaml.YAMLError as exc:
        raise TenantFileError(str(path), [FieldError("", f"not valid YAML: {exc}")]) from exc
    return tenant_from_document(document, schemas=schemas, services=services, source=str(path))
