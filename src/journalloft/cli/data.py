"""``journalloft demo`` (synthetic data and demo clients) and ``journalloft purge`` (retention)."""

from __future__ import annotations

import argparse
import json

from journalloft.cli.common import open_runtime
from journalloft.cli.progress import Progress


def describe(exc: Exception) -> str:
    """A failure as the operator reads it: a problem's own text, else the exception's type (a
    database error's message may quote values; the operator has the platform's log)."""
    from journalloft.platform.core.errors import Problem

    return exc.detail if isinstance(exc, Problem) else type(exc).__name__


def cmd_demo(args: argparse.Namespace) -> None:
    from journalloft.platform.operations.demo import ensure_demo_clients, seed_tenant

    runtime = open_runtime()
    try:
        path = runtime.settings.data_path / "demo-clients.json"
        clients = ensure_demo_clients(runtime, path)
        print(f"demo clients: {len(clients)} written to {path}")
        tenants = runtime.tenants.all()
        progress = Progress("demo", len(tenants))
        now = runtime.clock()
        seeded: dict[str, list[str]] = {}
        for tenant in tenants:
            try:
                patients = seed_tenant(runtime, tenant, people=args.people, now=now)
            except Exception as exc:  # name the municipality, go on with the others
                progress.failed(f"{tenant.kommunenummer} {tenant.name}", describe(exc))
                continue
            seeded[tenant.kommunenummer] = patients
            progress.succeeded(
                tenant.kommunenummer,
                f"{len(patients)} synthetic people, e.g. {', '.join(patients[:3])}",
            )
        people_file = runtime.settings.data_path / "demo-people.json"
        people_file.write_text(json.dumps(seeded, indent=2), encoding="utf-8")
        print(f"all demo person ids: {people_file}")
    finally:
        runtime.close()
    progress.finish()


def cmd_purge(args: argparse.Namespace) -> None:
    from journalloft.platform.operations.retention import purge_tenant

    runtime = open_runtime()
    try:
        tenants = runtime.tenants.all()
        progress = Progress("purge", len(tenants))
        now = runtime.clock()
        for tenant in tenants:
            try:
                results = purge_tenant(runtime, tenant, now=now)
            except Exception as exc:  # name the municipality, go on with the others
                progress.failed(f"{tenant.kommunenummer} {tenant.name}", describe(exc))
                continue
            progress.succeeded(
                tenant.kommunenummer,
                ", ".join(f"{r.kommunenummer} {r.service}: {r.deleted} purged" for r in results),
            )
    finally:
        runtime.close()
    progress.finish()
