"""A person's whole plan as one snapshot: ``POST /v1/tenants/{kommunenummer}/tiltaksplan/plans``.

A journal system sends ``{"patient": ..., "records": [...]}``, every measure the person's plan
holds now; the platform stores them as a batch of records (all or nothing, idempotent per id
with ``updated``) and withdraws, in the same unit of work, every other measure this source sent
for the person before, by a snapshot or one by one. An empty ``records`` withdraws them all.

It is a small face of the service's own (the platform's record routes take batches of any
people): it reads the body with the one JSON reader, checks access as the record routes do and
calls the platform's one snapshot operation, ``sharing.replace_for_person``, as the OKT face does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from journalloft.plugin import faces, parse_person_id

SERVICE: Final = "tiltaksplan"
PREFIX: Final = "/v1/tenants/{kommunenummer}/tiltaksplan/plans"
ALL_IDS: Final = ""
"""The snapshot replaces every record of the person from this source (its ids are the
source's own), not only those of earlier snapshots."""


def _snapshot_errors(body: Any, *, allow_synthetic: bool) -> list[faces.FieldError]:
    if not isinstance(body, Mapping):
        return [faces.FieldError("", "must be an object: {patient, records}")]
    errors = [
        faces.FieldError(f"/{name}", "is not allowed")
        for name in sorted(set(body) - {"patient", "records"})
    ]
    patient = body.get("patient")
    if not isinstance(patient, str):
        errors.append(faces.FieldError("/patient", "is required: the person's id"))
    else:
        try:
            parse_person_id(patient, allow_synthetic=allow_synthetic)
        except ValueError as problem:
            errors.append(faces.FieldError("/patient", str(problem)))
    if not isinstance(body.get("records"), list):
        errors.append(faces.FieldError("/records", "is required: the plan's measures (a list)"))
    return errors


def plans_router(services: Mapping[str, faces.SharingService]) -> APIRouter:
    router = APIRouter(tags=["Tiltaksplan"])
    if SERVICE not in services:
        return router
    service = services[SERVICE]

    @router.post(PREFIX, summary="A person's whole current plan of measures (a snapshot)")
    async def post_plan(
        body: faces.JsonBody,
        caller: faces.CallerDep,
        runtime: faces.RuntimeDep,
        tenant: faces.TenantDep,
    ) -> faces.JSONResponse:
        """Replaces what this source sent for the person before."""
        errors = _snapshot_errors(body, allow_synthetic=bool(runtime.settings.allow_synthetic_ids))
        if errors:
            raise faces.InvalidContent("the plan is not valid", errors=errors)
        patient: str = body["patient"]

        def store() -> tuple[Any, int]:
            access = faces.source_access(runtime, caller, tenant, service)
            return faces.sharing.replace_for_person(
                runtime, access, patient, {"records": body["records"]}, id_prefix=ALL_IDS
            )

        counts, withdrawn = await run_in_threadpool(store)
        return faces.JSONResponse(
            {"kommunenummer": tenant.kommunenummer, **counts.as_dict(), "withdrawn": withdrawn}
        )

    return router


face = faces.RoutedFace(
    name="tiltaksplan-plans", prefix="/v1/tenants/tiltaksplan", build=plans_router
)
"""The snapshot route, as the composition root finds it (entry point ``journalloft.faces``)."""
