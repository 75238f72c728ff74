"""Synthetic demo data and demo clients for ``make run``: only synthetic people, ever."""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey, import_key

from journalloft.platform.auth.clients import add_key, register_client
from journalloft.platform.auth.tokens import AUDIT_READ_SCOPE, RESTRICTIONS_SCOPE, Principal
from journalloft.platform.caller import Caller
from journalloft.platform.core.identifiers import synthetic_person_id
from journalloft.platform.core.tenancy import Tenant
from journalloft.platform.operations.access import source_access
from journalloft.platform.operations.sharing import ingest
from journalloft.platform.runtime import Runtime

ADMIN_CLIENT = "journalloft-admin"


@dataclass(frozen=True, slots=True)
class DemoClient:
    client_id: str
    role: str
    kommunenummer: str | None
    scopes: tuple[str, ...]
    private_jwk: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "role": self.role,
            "kommunenummer": self.kommunenummer,
            "scopes": list(self.scopes),
            "private_jwk": self.private_jwk,
        }


def _roles(tenant: Tenant) -> list[tuple[str, str, tuple[str, ...]]]:
    roles = []
    for grant in tenant.sources:
        writes = tuple(f"{s}:write" for s in sorted(grant.services))
        roles.append((grant.client_id, "source", (*writes, RESTRICTIONS_SCOPE)))
    for grant in tenant.consumers:
        roles.append(
            (grant.client_id, "consumer", tuple(f"{s}:read" for s in sorted(grant.services)))
        )
    for grant in tenant.operators:
        roles.append((grant.client_id, "operator", (AUDIT_READ_SCOPE, RESTRICTIONS_SCOPE)))
    return roles


def ensure_demo_clients(runtime: Runtime, path: Path) -> list[DemoClient]:
    """Give every client of every tenant (and an admin client) a key; reuse the keys in ``path``."""
    known: dict[str, dict[str, Any]] = {}
    if path.exists():
        known = {c["client_id"]: c["private_jwk"] for c in json.loads(path.read_text("utf-8"))}
    wanted: list[tuple[str, str, str | None, tuple[str, ...], str]] = [
        (ADMIN_CLIENT, "admin", None, ("admin",), "journalloft drift (demo)")
    ]
    for tenant in runtime.tenants.all():
        for client_id, role, scopes in _roles(tenant):
            wanted.append((client_id, role, tenant.kommunenummer, scopes, client_id))
    clients = []
    with runtime.stores.platform_engine.begin() as connection:
        for client_id, role, kommunenummer, scopes, name in wanted:
            private = known.get(client_id)
            key = import_key(private) if private else ECKey.generate_key("P-256", auto_kid=True)
            assert isinstance(key, ECKey)
            register_client(
                connection, client_id=client_id, name=name, admin=role == "admin" or None
            )
            kid = add_key(connection, client_id=client_id, jwk=key.as_dict(private=False))
            clients.append(
                DemoClient(
                    client_id,
                    role,
                    kommunenummer,
                    scopes,
                    {**key.as_dict(private=True), "kid": kid},
                )
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump([c.as_dict() for c in clients], handle, indent=2)
    return clients


def seed_demo_data(runtime: Runtime, *, people: int) -> dict[str, list[str]]:
    """Push synthetic records for ``people`` people per tenant through the ingest path."""
    now = runtime.clock()
    return {
        tenant.kommunenummer: seed_tenant(runtime, tenant, people=people, now=now)
        for tenant in runtime.tenants.all()
    }


def seed_tenant(runtime: Runtime, tenant: Tenant, *, people: int, now: datetime) -> list[str]:
    """:func:`seed_demo_data` for one tenant: its synthetic people."""
    rng = random.Random(f"journalloft-demo-{tenant.kommunenummer}")  # noqa: S311 - synthetic data
    patients = [synthetic_person_id(rng) for _ in range(people)]
    if tenant.sources:
        for name, service in runtime.services.items():
            writer = next((g for g in tenant.sources if name in g.services), None)
            if writer is None or not tenant.has_service(name):
                continue
            records = service.demo_records(rng=rng, patients=patients, now=now)
            caller = Caller(
                principal=Principal(
                    client_id=writer.client_id,
                    scopes=frozenset({f"{name}:write"}),
                    issuer="journalloft demo",
                    organisasjonsnummer=tenant.organisasjonsnummer,
                ),
                correlation_id="journalloft-demo",
                epj_system="journalloft demo",
                now=now,
            )
            access = source_access(runtime, caller, tenant, service)
            for start in range(0, len(records), 1000):
                ingest(runtime, access, {"records": records[start : start + 1000]})
    return patients
