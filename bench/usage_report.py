"""What the usage report costs (``python -m bench.usage_report``): time and peak memory.

A year of a large municipality's audit log, made in the database itself (``generate_series`` on
PostgreSQL, a recursive CTE on SQLite; no Python objects per event): N events spread evenly over
2025, mostly lookups of three services by three consumer organisations (a tenth of them a live
stream's), the rest writes, pushes by outcome, refusals, withdrawals and stream openings; 200 000
distinct people whose ids cannot be anyone's (day 99). Then ``usage_report`` for the whole year,
as the command line runs it, timed; the peak of Python's heap during it (tracemalloc) and the
process's peak resident memory are printed. The report aggregates in SQL, so memory does not grow
with N: it is bounded by the hours of the year times services times organisations.

    python -m bench.usage_report --events 10000000            # both stores
    python -m bench.usage_report --events 1000000 --stores sqlite
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Connection, create_engine, text

from journalloft.platform.caller import Caller
from journalloft.platform.core.settings import Settings
from journalloft.platform.core.tenancy import tenant_schema_name
from journalloft.platform.operations.access import OperatorAccess
from journalloft.platform.operations.onboarding import onboard
from journalloft.platform.operations.usage_report import Period, usage_report
from journalloft.platform.runtime import build_runtime
from journalloft.platform.storage.migrations import migrate_platform

REPO = Path(__file__).resolve().parents[1]
SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
YEAR_SECONDS = 365 * 24 * 3600
SERVICES = ("kommunale-tjenester", "news2", "diagnoser")
TENANT = {
    "kommunenummer": "1804",
    "name": "Bodø kommune",
    "organisasjonsnummer": "972418013",
    "services": {s: {} for s in SERVICES},
    "sources": [{"client_id": "bodo-epj", "name": "EPJ", "services": list(SERVICES)}],
    "consumers": [{"client_id": "bodo-legevakt", "name": "Legevakt", "services": list(SERVICES)}],
    "operators": [{"client_id": "bodo-drift", "name": "Drift"}],
    "policy": {},
}

# One row per i in 0..n-1; SQL common to both stores, with {when} the instant's expression and
# {person} nine digits of the person's number.
COLUMNS = (
    "occurred_at, action, service, patient, client_id, organisasjonsnummer, break_the_glass, "
    "correlation_id, result_count, outcome, data_age_seconds, channel"
)
SELECT = """
SELECT {when},
  CASE WHEN i % 100 < 85 THEN 'read' WHEN i % 100 < 95 THEN 'write'
       WHEN i % 100 < 97 THEN 'push' WHEN i % 100 = 97 THEN 'push-refused'
       WHEN i % 100 = 98 THEN 'withdraw' ELSE 'stream-open' END,
  CASE i % 3 WHEN 0 THEN 'kommunale-tjenester' WHEN 1 THEN 'news2' ELSE 'diagnoser' END,
  CASE WHEN i % 100 < 95 THEN '99' || {person} END,
  CASE i % 7 WHEN 0 THEN 'nlsh-dips' WHEN 1 THEN 'bodo-epj' ELSE 'bodo-legevakt' END,
  CASE i % 7 WHEN 0 THEN '983974910' ELSE '972418013' END,
  (i % 100 < 85 AND i % 1000 = 3),
  'bench',
  CASE WHEN i % 100 < 85 THEN (i % 5 <> 0)::int ELSE 1 + i % 4 END,
  CASE WHEN i % 100 = 97 THEN 'invalid-content' WHEN i % 100 < 85 AND i % 50 = 1
       THEN 'restricted' WHEN i % 100 IN (95, 96) THEN 'created' ELSE 'ok' END,
  CASE WHEN i % 100 < 85 AND i % 5 <> 0 THEN (i * 37) % 259200 END,
  CASE WHEN i % 100 < 85 AND i % 10 = 0 THEN 'stream' END
"""


def fill_postgres(connection: Connection, n: int) -> None:
    schema = tenant_schema_name("1804")
    when = f"timestamptz '2025-01-01 00:00:00+00' + (i * {YEAR_SECONDS / n}) * interval '1 second'"
    connection.exec_driver_sql(  # psycopg reads % as a placeholder: doubled
        f"INSERT INTO {schema}.audit_event ({COLUMNS}) ".replace("%", "%%")
        + SELECT.format(when=when, person="lpad(((i * 7919) % 200000)::text, 9, '0')").replace(
            "%", "%%"
        )
        + f" FROM generate_series(0::bigint, {n - 1}) AS i"
    )
    connection.exec_driver_sql(f"ANALYZE {schema}.audit_event")


def fill_sqlite(connection: Connection, n: int) -> None:
    when = (
        "strftime('%Y-%m-%d %H:%M:%S', 1735689600 + "
        f"CAST(i * {YEAR_SECONDS / n} AS INTEGER), 'unixepoch') || '.000000'"
    )
    person = "printf('%09d', (i * 7919) % 200000)"
    sql = SELECT.format(when=when, person=person).replace("::int", "")
    connection.exec_driver_sql(
        f"INSERT INTO audit_event ({COLUMNS}) "
        f"WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {n - 1}) "
        + sql
        + " FROM s"
    )
    connection.exec_driver_sql("ANALYZE")


def measure(settings: Settings, n: int, folder: Path) -> dict[str, Any]:
    runtime = build_runtime(settings)
    try:
        migrate_platform(runtime.stores)
        document = folder / "1804.yaml"
        document.write_text(yaml.safe_dump(TENANT, allow_unicode=True), encoding="utf-8")
        onboard(
            document,
            stores=runtime.stores,
            schemas=runtime.schemas,
            services=runtime.services,
        )
        runtime.tenants.reload()
        began = time.perf_counter()
        with runtime.stores.tenant_transaction("1804") as connection:
            (fill_postgres if runtime.stores.postgres else fill_sqlite)(connection, n)
        filled = time.perf_counter() - began
        tenant = runtime.tenants.get("1804")
        assert tenant is not None
        access = OperatorAccess.command_line(
            Caller.command_line(now=datetime(2026, 1, 15, tzinfo=UTC)), tenant
        )
        period = Period(datetime(2025, 1, 1).date(), datetime(2025, 12, 31).date())
        tracemalloc.start()
        began = time.perf_counter()
        report = usage_report(runtime, access, period)
        took = time.perf_counter() - began
        _, heap = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        lookups = sum(e["lookups"] for e in report["lookups"] if isinstance(e["lookups"], int))
        return {"fill": filled, "report": took, "heap": heap, "lookups": lookups}
    finally:
        runtime.close()


def row(store: str, point: dict[str, Any]) -> None:
    print(
        f"| {store} | {point['fill']:.0f} s | {point['report']:.1f} | "
        f"{point['heap'] / 2**20:.1f} | {point['lookups']:,} |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--stores", default="sqlite,postgresql")
    args = parser.parse_args()
    n = args.events
    print(f"{n:,} audit events over one year in one municipality; the report for the whole year")
    print("| store | made in | report s | Python heap peak MB | lookups counted |")
    print("| --- | ---: | ---: | ---: | ---: |", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        base: dict[str, Any] = {
            "environment": "test",
            "home": REPO,
            "data_dir": Path(folder),
            "database_statement_timeout_seconds": 600,  # making the events is one statement
        }
        if "sqlite" in args.stores:
            row("SQLite", measure(Settings(**base), n, Path(folder)))
        if "postgresql" in args.stores:
            name = f"journalloft_report_bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(SERVER, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                url = SERVER.rsplit("/", 1)[0] + f"/{name}"
                settings = Settings(**base, database_url=url)
                row("PostgreSQL", measure(settings, n, Path(folder)))
            finally:
                with admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak resident memory (whole run): {peak_rss:.0f} MB")


if __name__ == "__main__":
    main()
