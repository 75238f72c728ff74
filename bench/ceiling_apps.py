"""The ceilings' apps, served by uvicorn exactly as the platform is (2 workers, uvloop, httptools).

- ``bare_app``: a bare FastAPI endpoint running the same lookup as the platform's query with a
  psycopg 3 async pool (autocommit, prepared after 5 uses) and orjson, without auth, audit or
  validation;
- ``hello_app``: a FastAPI hello world.

Benchmark code only: the schema name is interpolated into SQL here after a strict check; the
platform itself never builds SQL from strings.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response
from psycopg_pool import AsyncConnectionPool

NEWS2_COLUMNS = (
    "patient, record_id, updated, effective, spo2_scale, respiration_rate, spo2, "
    "supplemental_oxygen, systolic_bp, pulse, consciousness, temperature, recorded_by_name, "
    "recorded_by_hpr, location"
)
KT_COLUMNS = (
    "patient, record_id, service_code, description, unit_name, unit_phone, start_date, end_date, "
    "temporary_cessation, weekly_extent, stay_type, updated"
)


def lookup_sql(service: str, schema: str, *, parameter: str = "%s") -> str:
    """The platform's query of one service as plain SQL (``parameter`` twice: patients, since)."""
    if not re.fullmatch(r"tenant_[0-9]{4}", schema):
        raise ValueError(schema)
    if service == "news2":
        return (
            f"SELECT {NEWS2_COLUMNS} FROM {schema}.news2_measurement "
            f"WHERE patient = ANY({parameter}) AND effective >= {parameter} "
            "AND withdrawn_at IS NULL ORDER BY patient, effective DESC, source, record_id"
        )
    return (
        f"SELECT {KT_COLUMNS} FROM {schema}.kommunal_tjeneste "
        f"WHERE patient = ANY({parameter}) AND withdrawn_at IS NULL "
        f"AND (end_date IS NULL OR end_date >= {parameter})"
    )


def bare_app() -> FastAPI:
    pool = AsyncConnectionPool(
        os.environ["BENCH_DSN"], min_size=10, max_size=10, kwargs={"autocommit": True}, open=False
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await pool.open(wait=True)
        yield
        await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.post("/bare/{service}/{kommunenummer}")
    async def lookup(service: str, kommunenummer: str, request: Request) -> Response:
        if service not in ("news2", "kommunale-tjenester") or not kommunenummer.isdigit():
            raise HTTPException(404)
        patients = orjson.loads(await request.body())["patients"]
        now = datetime.now(UTC)
        since: Any = (
            now - timedelta(hours=72) if service == "news2" else (now - timedelta(days=90)).date()
        )
        sql = lookup_sql(service, f"tenant_{kommunenummer}")
        async with pool.connection() as conn:
            cursor = await conn.execute(sql, (patients, since))
            rows = await cursor.fetchall()
        return Response(orjson.dumps({"results": rows}), media_type="application/json")

    return app


def hello_app() -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.get("/hello")
    async def hello() -> Response:
        return Response(orjson.dumps({"hello": "world"}), media_type="application/json")

    return app
