"""Ceilings measured in the same run on the same data: pgbench (prepared) and the raw insert."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.ceiling_apps import KT_COLUMNS, NEWS2_COLUMNS
from journalloft.platform.plugins.service_protocol import IngestContext
from journalloft.platform.storage.records import content_hash
from journalloft.services.news2 import spec as news2


def pgbench_binary() -> str | None:
    found = shutil.which("pgbench")
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"))
    return str(candidates[-1]) if candidates else None


def store_people(database_url: str, patients: Sequence[str]) -> None:
    """A numbered list of one tenant's people, for pgbench's random picks."""
    with psycopg.connect(database_url) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_people")
        conn.execute("CREATE TABLE bench_people (n integer PRIMARY KEY, patient text NOT NULL)")
        with conn.cursor().copy("COPY bench_people (n, patient) FROM STDIN") as copy:
            for n, patient in enumerate(patients, start=1):
                copy.write_row((n, patient))
        conn.execute("ANALYZE bench_people")


def pgbench_script(service: str, schema: str, *, patients: int, people: int) -> str:
    """The platform's lookup as prepared SQL; the people come from ``bench_people`` by number
    (one primary-key probe per patient on top of the lookup itself)."""
    lines = [f"\\set n{i} random(1, {people})" for i in range(patients)]
    numbers = ", ".join(f":n{i}" for i in range(patients))
    pick = f"ANY(ARRAY(SELECT patient FROM bench_people WHERE n IN ({numbers})))"
    if service == "news2":
        lines.append(
            f"SELECT {NEWS2_COLUMNS} FROM {schema}.news2_measurement WHERE patient = {pick} "
            "AND effective >= now() - interval '72 hours' AND withdrawn_at IS NULL "
            "ORDER BY patient, effective DESC, source, record_id;"
        )
    else:
        lines.append(
            f"SELECT {KT_COLUMNS} FROM {schema}.kommunal_tjeneste WHERE patient = {pick} "
            "AND withdrawn_at IS NULL AND (end_date IS NULL OR end_date >= current_date - 90);"
        )
    return "\n".join(lines) + "\n"


def pgbench(
    database: str, script: str, *, clients: int, seconds: float, workdir: Path, name: str
) -> dict[str, Any]:
    binary = pgbench_binary()
    if binary is None:
        raise RuntimeError("pgbench not found (it comes with PostgreSQL's client tools)")
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"{name}.sql"
    path.write_text(script, "utf-8")
    out = subprocess.run(
        [
            binary,
            "-n",
            "-M",
            "prepared",
            "-c",
            str(clients),
            "-j",
            str(min(clients, 2)),
            "-T",
            str(max(1, round(seconds))),
            "-f",
            str(path),
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            database,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    tps = float(re.search(r"tps = ([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    latency = float(re.search(r"latency average = ([0-9.]+) ms", out).group(1))  # type: ignore[union-attr]
    return {"rps": round(tps, 1), "mean_ms": round(latency, 3)}


def prepared_rows(
    records: Sequence[dict[str, Any]], *, source: str, now: datetime
) -> list[dict[str, Any]]:
    """The rows the platform would store for these NEWS2 records (done outside the timing)."""
    context = IngestContext(kommunenummer="0000", source=source, now=now, settings={})
    return [
        {
            **news2.prepare(record, context=context),
            "source": source,
            "record_id": record["id"],
            "patient": record["patient"],
            "updated": datetime.fromisoformat(record["updated"]),
            "content_hash": content_hash(record),
            "received_at": now,
            "withdrawn_at": None,
        }
        for record in records
    ]


def raw_insert_rate(
    database_url: str, schema: str, batches: Sequence[Sequence[dict[str, Any]]]
) -> dict[str, Any]:
    """Multi-row INSERT of ready rows, one statement and one commit per batch: records/s."""
    columns = list(batches[0][0])
    row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
    total = 0
    with psycopg.connect(database_url) as conn:
        started = time.perf_counter()
        for batch in batches:
            sql = (
                f"INSERT INTO {schema}.news2_measurement ({', '.join(columns)}) VALUES "
                + ", ".join([row_sql] * len(batch))
            )
            params = [row[c] for row in batch for c in columns]
            conn.execute(sql, params)
            conn.commit()
            total += len(batch)
        elapsed = time.perf_counter() - started
    return {"records_per_s": round(total / elapsed), "records": total}


def raw_copy_rate(
    database_url: str, schema: str, batches: Sequence[Sequence[dict[str, Any]]]
) -> dict[str, Any]:
    """COPY of ready rows, one transaction per batch: records/s."""
    columns = list(batches[0][0])
    total = 0
    with psycopg.connect(database_url) as conn:
        started = time.perf_counter()
        for batch in batches:
            with conn.cursor().copy(
                f"COPY {schema}.news2_measurement ({', '.join(columns)}) FROM STDIN"
            ) as copy:
                for row in batch:
                    copy.write_row([row[c] for c in columns])
            conn.commit()
            total += len(batch)
        elapsed = time.perf_counter() - started
    return {"records_per_s": round(total / elapsed), "records": total}


def now_utc() -> datetime:
    return datetime.now(UTC)
