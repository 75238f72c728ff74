"""What sealing the audit log costs (``python -m bench.seal_cost``): a micro-benchmark.

Sealing runs beside the lookups, not in them (``audit/seal.py``): a lookup's own work is
unchanged. What it costs is the sealer's CPU and its reads of the events it seals, once per event.
This measures that on PostgreSQL (a fresh database, dropped afterwards) and on SQLite: N audit
events in one tenant, sealed in one pass, then verified; reported per event, and as the share of
one core the sealer needs at a given rate of audited lookups.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert

from journalloft.platform.audit.log import AUDIT_EVENT
from journalloft.platform.audit.seal import load_seal_key, seal_tenant, trusted_keys, verify
from journalloft.platform.core.settings import Settings
from journalloft.platform.plugins.registry import load_services
from journalloft.platform.storage.engines import Stores
from journalloft.platform.storage.migrations import migrate_platform, migrate_tenant

REPO = Path(__file__).resolve().parents[1]
SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _events(n: int, start: datetime) -> list[dict[str, Any]]:
    return [
        {
            "occurred_at": start + timedelta(milliseconds=i),
            "action": "read",
            "service": "news2",
            "patient": f"{(i % 90000) + 10000:05d}000000"[:11],
            "client_id": "bench-legevakt",
            "organisasjonsnummer": "974760673",
            "correlation_id": uuid.uuid4().hex,
            "break_the_glass": False,
            "result_count": 1,
            "outcome": "ok",
        }
        for i in range(n)
    ]


def measure(settings: Settings, n: int) -> tuple[float, float]:
    _, services = load_services(settings)
    stores = Stores(settings)
    try:
        migrate_platform(stores)
        stores.create_tenant_store("1804")
        migrate_tenant(stores, "1804", services.values())
        start = datetime(2026, 1, 1, tzinfo=UTC)
        with stores.tenant_transaction("1804") as connection:
            for i in range(0, n, 10_000):
                connection.execute(insert(AUDIT_EVENT), _events(min(10_000, n - i), start))
        key = load_seal_key(settings)
        began = time.perf_counter()
        with stores.tenant_transaction("1804") as connection:
            seal_tenant(
                connection,
                kommunenummer="1804",
                key=key,
                now=start + timedelta(days=1),
                postgres=stores.postgres,
            )
        sealing = time.perf_counter() - began
        began = time.perf_counter()
        with stores.tenant_engine("1804").connect() as connection:
            report = verify(
                connection,
                kommunenummer="1804",
                trusted=trusted_keys(key, []),
                now=start + timedelta(days=1),
                retention_years=5,
                anchor=None,  # sealed with seal_tenant alone: the platform recorded no anchor
            )
        checking = time.perf_counter() - began
        assert report.intact, report
        assert report.events_checked == n, report
        return sealing, checking
    finally:
        stores.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--lookups-per-second", type=int, default=1_400)
    args = parser.parse_args()
    n = args.events
    with tempfile.TemporaryDirectory() as folder:
        base: dict[str, Any] = {"environment": "test", "home": REPO, "data_dir": Path(folder)}
        points = [("SQLite", measure(Settings(**base), n))]
        name = f"journalloft_seal_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(SERVER, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            url = SERVER.rsplit("/", 1)[0] + f"/{name}"
            points.append(("PostgreSQL", measure(Settings(**base, database_url=url), n)))
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
    print(f"{n:,} audit events in one tenant; one event per patient of each lookup")
    print(
        "| store | seal µs/event | verify µs/event | sealer's share of a core at "
        f"{args.lookups_per_second:,} one-patient lookups/s |"
    )
    print("| --- | ---: | ---: | ---: |")
    for store, (sealing, checking) in points:
        per_event = sealing / n * 1e6
        share = per_event * args.lookups_per_second / 1e6
        print(f"| {store} | {per_event:.1f} | {checking / n * 1e6:.1f} | {share:.1%} |")


if __name__ == "__main__":
    main()
