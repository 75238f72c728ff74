"""Builders for tests: tenant documents, synthetic people, client assertions and DPoP proofs."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy.sql import ClauseElement

from journalloft import client
from journalloft.platform.core.identifiers import synthetic_person_id
from journalloft.platform.plugins.registry import discover_services
from journalloft.platform.plugins.service_protocol import QueryContext, SharingService
from journalloft.platform.storage.engines import Stores
from journalloft.platform.storage.query_path import connect_query_path
from journalloft.platform.storage.statements import PATIENTS

SERVICES = tuple(service.name for service in discover_services())
"""Every installed sharing service: tenants adopt them all by default, and the security matrices
run over each (a new service needs its :func:`sample_record`)."""
PILOTS = {
    "1804": ("Bodø kommune", "972418013", "bodo"),
    "3201": ("Bærum kommune", "935478715", "baerum"),
}


def free_port() -> int:
    """A loopback port nothing listens on now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def tenant_document(
    kommunenummer: str = "1804",
    *,
    name: str | None = None,
    organisasjonsnummer: str | None = None,
    prefix: str | None = None,
    services: dict[str, Any] | None = None,
    policy: dict[str, Any] | None = None,
    extra_consumers: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A valid tenant document with one source, one consumer and one operator."""
    default_name, default_orgnr, default_prefix = PILOTS.get(
        kommunenummer, (f"Testkommune {kommunenummer}", "974760673", f"k{kommunenummer}")
    )
    prefix = prefix or default_prefix
    services = services if services is not None else {s: {} for s in SERVICES}
    return {
        "kommunenummer": kommunenummer,
        "name": name or default_name,
        "organisasjonsnummer": organisasjonsnummer or default_orgnr,
        "services": services,
        "sources": [{"client_id": f"{prefix}-epj", "name": "EPJ", "services": list(services)}],
        "consumers": [
            {"client_id": f"{prefix}-legevakt", "name": "Legevakt", "services": list(services)},
            *(extra_consumers or []),
        ],
        "operators": [{"client_id": f"{prefix}-drift", "name": "Drift"}],
        "policy": policy or {},
    }


def sample_record(service: str, record_id: str, patient: str, *, at: str) -> dict[str, Any]:
    """A small valid record of ``service`` about ``patient``, measured or changed at ``at`` (an
    instant within the last 72 hours, for news2's window). KeyError: a service without one."""
    samples: dict[str, dict[str, Any]] = {
        "news2": {"effective": at, "spo2_scale": 1, "pulse": 70},
        "kommunale-tjenester": {"service_code": "6", "start": "2026-01-05"},
        "diagnoser": {
            "code": {"system": "icpc-2", "code": "P70", "display": "Demens"},
            "clinical_status": "active",
            "verification_status": "confirmed",
            "recorded_by": {"unit": "Hjemmetjenesten sone Sentrum"},
        },
        "kartlegginger": {
            "instrument": "mst",
            "assessed": at[:10],
            "items": {"mst-weight-loss": 2, "mst-appetite": 1},
            "assessed_by": {"unit": "Hjemmetjenesten sone Sentrum"},
        },
        "tiltaksplan": {
            "title": "Tilsyn",
            "category": "supervision",
            "unit": {"name": "Hjemmetjenesten sone Sentrum"},
            "start": "2026-01-05",
            "status": "active",
        },
    }
    return {"id": record_id, "patient": patient, "updated": at, **samples[service]}


def measurement(
    record_id: str, patient: str, *, at: str | None = None, **fields: Any
) -> dict[str, Any]:
    """A NEWS2 measurement whose vital signs all score 0, measured and updated ``at`` (five
    minutes ago by default); ``fields`` replace any of its members (``pulse=130``)."""
    when = at or (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    return {
        "id": record_id,
        "patient": patient,
        "updated": when,
        "effective": when,
        "respiration_rate": 16,
        "spo2": 98,
        "spo2_scale": 1,
        "supplemental_oxygen": False,
        "systolic_bp": 120,
        "pulse": 70,
        "consciousness": "A",
        "temperature": 37.0,
        **fields,
    }


def people(n: int, *, seed: str = "people") -> list[str]:
    """``n`` distinct synthetic person ids (never a real person's)."""
    rng = random.Random(seed)
    found: dict[str, None] = {}
    while len(found) < n:
        found[synthetic_person_id(rng)] = None
    return list(found)


def client_assertion(
    client_id: str, key: ECKey, *, audience: str, lifetime: int = 30, **overrides: Any
) -> str:
    """:func:`journalloft.client.client_assertion`, with ``overrides`` of its claims to forge
    one (``exp=``, ``jti=``, ``iss=``…)."""
    claims = client.assertion_claims(client_id, audience=audience, lifetime=lifetime)
    return jwt.encode(client.assertion_header(key), claims | overrides, key)


token_form = client.token_form


def dpop_proof(
    key: ECKey,
    *,
    method: str,
    url: str,
    access_token: str | None = None,
    iat: int | None = None,
    jti: str | None = None,
    header: dict[str, Any] | None = None,
    claims: dict[str, Any] | None = None,
) -> str:
    """:func:`journalloft.client.dpop_proof`, with ``iat``, ``jti`` and any of its ``header``
    and ``claims`` overridden to forge one."""
    payload = client.dpop_claims(method=method, url=url, access_token=access_token)
    if iat is not None:
        payload["iat"] = iat
    if jti is not None:
        payload["jti"] = jti
    return jwt.encode(client.dpop_header(key) | (header or {}), payload | (claims or {}), key)


def query_service(
    stores: Stores,
    service: SharingService,
    kommunenummer: str,
    *,
    patients: Sequence[str],
    context: QueryContext,
) -> dict[str, dict[str, Any]]:
    """A service's lookup and results in one tenant store, through the query path's own driver
    session (as the API runs it, without auth, restrictions or audit)."""

    lookup = service.lookup(context=context)
    values = {**lookup.parameters, PATIENTS: list(patients)}
    rows = fetch_rows(stores, kommunenummer, lookup.statement, values)
    return service.results(rows, context=context)


def fetch_rows(
    stores: Stores, kommunenummer: str, statement: ClauseElement, values: dict[str, Any]
) -> list[tuple[Any, ...]]:
    """One statement in one tenant store through the query path's driver session."""

    async def run() -> list[tuple[Any, ...]]:
        reads = connect_query_path(stores, pool_size=1)
        await reads.open()
        try:
            rows = await reads.fetch(kommunenummer, statement, values)
            return rows
        finally:
            await reads.close()

    return asyncio.run(run())
